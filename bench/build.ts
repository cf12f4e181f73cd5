// Build benchmark: the same fully cached build through our API (POST /api/v1/builds, followed
// over SSE to its final state) and through the same `buildctl` command run directly, alternating,
// against the BuildKit daemon on this machine; and how late a build's log line reaches an SSE
// client after BuildKit stamped it. Figures only: nothing here asserts.
//   bash bench/build.sh      (needs buildkitd + containerd running, skopeo, and a busybox OCI
//                             layout from the test setup, or BENCH_BASE_LAYOUT)
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fmt, say } from './format.js';
import { median } from './stats.js';

const RUNS = Number(process.env.BENCH_BUILD_RUNS ?? 10);
const WORK = process.env.BENCH_WORK ?? mkdtempSync('/tmp/opencloud-build-bench-');
const BIN = process.env.BENCH_OPENCLOUD_BIN ?? 'bin/opencloud.js';
const SOCKET = '/run/buildkit/buildkitd.sock';

function baseLayout(): string {
  if (process.env.BENCH_BASE_LAYOUT) return process.env.BENCH_BASE_LAYOUT;
  const dir = '/var/cache/opencloud-test/base-images';
  const found = readdirSync(dir).find((d) => d.startsWith('busybox-'));
  if (!found)
    throw new Error(`no busybox layout in ${dir}: run the test setup first or set BENCH_BASE_LAYOUT`);
  return join(dir, found);
}

function run(cmd: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, out }));
  });
}

async function startServer(): Promise<{ url: string; stop: () => void }> {
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--listen', '127.0.0.1:0', '--data-dir', join(WORK, 'data')],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, OPENCLOUD_LOG_LEVEL: 'info' },
    },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /"url":"(http:\/\/[^"]+)"/.exec(buf);
      if (m) resolve(m[1] as string);
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
  child.stdout.resume();
  return { url, stop: () => child.kill('SIGTERM') };
}

/** Follows a build's events to its final state; calls onLog(receivedAt ms, BuildKit's time). */
async function follow(
  url: string,
  onLog?: (at: number, time: string, text: string) => void,
): Promise<string> {
  const res = await fetch(url);
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const data = block.split('\n').find((l) => l.startsWith('data: '));
      if (!data) continue;
      const e = JSON.parse(data.slice(6)) as { type: string; state?: string; time?: string; text?: string };
      if (e.type === 'log' && e.time) onLog?.(Date.now(), e.time, e.text ?? '');
      if (e.type === 'state' && e.state && !['queued', 'running'].includes(e.state)) return e.state;
    }
  }
  throw new Error('event stream ended without a final state');
}

async function apiBuild(
  base: string,
  dockerfile: string,
  repo: string,
  tag: string,
  noCache = false,
  onLog?: Parameters<typeof follow>[1],
) {
  const res = await fetch(`${base}/api/v1/builds`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ repository: repo, tags: [tag], dockerfile, noCache }),
  });
  const { id } = (await res.json()) as { id: string };
  const state = await follow(`${base}/api/v1/builds/${id}/events`, onLog);
  if (state !== 'succeeded') throw new Error(`build ${id} ${state}`);
}

async function main(): Promise<void> {
  const server = await startServer();
  try {
    const host = new URL(server.url).host;
    const layout = baseLayout();
    say(`pushing the busybox base (${layout}) into our registry at ${host}`);
    const copy = await run('skopeo', [
      'copy',
      '--dest-tls-verify=false',
      `oci:${layout}:latest`,
      `docker://${host}/library/busybox:1`,
    ]);
    if (copy.code !== 0) throw new Error(copy.out);
    const dockerfile = `FROM ${host}/library/busybox:1\nRUN echo cached-step > /x\n`;
    const ctx = join(WORK, 'ctx');
    mkdirSync(ctx, { recursive: true });
    writeFileSync(join(ctx, 'Dockerfile'), dockerfile);
    // The same command our driver runs (see src/build/driver.ts), output discarded the same way.
    const raw = (n: number) =>
      run('buildctl', [
        ...['--addr', `unix://${SOCKET}`, 'build', '--frontend', 'dockerfile.v0'],
        ...['--local', `context=${ctx}`, '--local', `dockerfile=${ctx}`],
        ...['--output', `type=image,name=${host}/bench/raw:${n},push=true`],
        ...['--progress', 'rawjson', '--metadata-file', join(WORK, 'meta.json')],
      ]);
    say('warming the cache');
    await apiBuild(server.url, dockerfile, 'bench/api', '0');
    if ((await raw(0)).code !== 0) throw new Error('raw buildctl failed');
    const api: number[] = [];
    const direct: number[] = [];
    for (let i = 1; i <= RUNS; i++) {
      let t = performance.now();
      await apiBuild(server.url, dockerfile, 'bench/api', String(i)); // same repository, new tag: as raw
      api.push(performance.now() - t);
      t = performance.now();
      if ((await raw(i)).code !== 0) throw new Error('raw buildctl failed');
      direct.push(performance.now() - t);
    }
    const a = median(api);
    const d = median(direct);
    const overhead = a - d;
    const budget = Math.max(0.05 * d, 25);
    say(`cached build, ${RUNS} runs each, medians: API ${fmt(a, 1)} ms, buildctl ${fmt(d, 1)} ms`);
    say(
      `overhead ${fmt(overhead, 1)} ms (${fmt((overhead / d) * 100, 1)}%), budget ${fmt(budget, 1)} ms (${budget === 25 ? '25 ms' : '5%'} applies): ${overhead <= budget ? 'within' : 'OVER'}`,
    );

    const late: number[] = [];
    for (let i = 0; i < 5; i++) {
      let first: number | undefined;
      await apiBuild(
        server.url,
        `FROM ${host}/library/busybox:1\nRUN echo tick-${i} && sleep 0.3 && echo tock\n`,
        'bench/logs',
        String(i),
        true,
        (at, time, text) => {
          if (first === undefined && text.includes('tick')) first = at - Date.parse(time);
        },
      );
      if (first !== undefined) late.push(first);
    }
    say(
      `first log line reaching an SSE client after BuildKit stamped it: median ${fmt(median(late), 1)} ms, max ${fmt(Math.max(...late), 1)} ms over ${late.length} builds (budget 200 ms)`,
    );
    writeFileSync(
      join(WORK, 'build-bench.json'),
      JSON.stringify({ runs: RUNS, api, direct, lateMs: late }, null, 2),
    );
    say(`raw figures: ${join(WORK, 'build-bench.json')}`);
  } finally {
    server.stop();
  }
}

main().catch((err: Error) => {
  say(`failed: ${err.stack ?? err.message}`);
  process.exitCode = 1;
});
