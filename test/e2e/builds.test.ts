// The build service against the real buildkitd v0.16.0 (containerd worker) the test setup
// installed: a multi-stage Dockerfile builds and is pushed into our registry, skopeo reads it
// back and containerd runs it; logs stream while a step runs; cancel, failure, the queue; and
// the original POST /build-image with its 400s and its 503 when the daemon is missing.
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushBaseImage } from '../support/base-image.js';
import { startServe, type ServeHandle } from '../support/cli.js';
import { missing, testEnv, titled } from '../support/env.js';
import { buildEnded, readSse } from '../support/sse.js';
import { postJson } from '../support/json-post.js';

const run = promisify(execFile);
const why = missing('buildkit', 'containerd', 'skopeo');

interface Build {
  id: string;
  state: string;
  digest: string | null;
  error: string | null;
  images: string[];
}

describe.skipIf(why)(titled('builds on BuildKit', why), () => {
  let server: ServeHandle;
  let host: string;
  let base: string;

  const post = (path: string, body: unknown) => postJson(`${server.url}${path}`, body);
  const get = async (path: string) => (await (await fetch(`${server.url}${path}`)).json()) as Build;
  const submit = async (body: Record<string, unknown>) => {
    const r = await post('/api/v1/builds', body);
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    return r.body.id as string;
  };
  const follow = (id: string) =>
    readSse(`${server.url}/api/v1/builds/${id}/events`, { until: buildEnded, timeoutMs: 240_000 });

  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'opencloud-builds-'));
    server = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir], {
      env: { OPENCLOUD_BUILD_CONCURRENCY: '1' },
    });
    host = new URL(server.url).host;
    base = await pushBaseImage(testEnv!.cacheDir, host);
  }, 120_000);

  afterAll(async () => {
    server?.child.kill('SIGTERM');
    await server?.exited;
  }, 60_000);

  it('builds a multi-stage Dockerfile (ARG before FROM, COPY, RUN, build args) into our registry; skopeo and ctr use it', async () => {
    const id = await submit({
      repository: 'demo/app',
      tags: ['1', 'latest'],
      dockerfile: [
        `ARG BASE=${base}`,
        'FROM $BASE AS build',
        'ARG GREETING=hello',
        'COPY greeting.txt /src/greeting.txt',
        'RUN echo "$GREETING from $(cat /src/greeting.txt)" > /out.txt',
        'FROM $BASE',
        'COPY --from=build /out.txt /out.txt',
        'CMD ["cat", "/out.txt"]',
      ].join('\n'),
      files: { 'greeting.txt': 'the context', 'ignored.txt': 'x', '.dockerignore': 'ignored.txt\n' },
      buildArgs: { GREETING: 'hi' },
    });
    const events = await follow(id);
    const b = await get(`/api/v1/builds/${id}`);
    expect(b.state, `${b.error}\n${events.map((e) => e.data).join('\n')}`).toBe('succeeded');
    expect(b.images).toEqual([`${host}/demo/app:1`, `${host}/demo/app:latest`]);
    expect(events.some((e) => e.event === 'step' && e.data.includes('RUN echo'))).toBe(true);
    const inspect = JSON.parse(
      (await run('skopeo', ['inspect', '--tls-verify=false', `docker://${host}/demo/app:1`])).stdout,
    ) as { Digest: string };
    expect(inspect.Digest).toBe(b.digest);
    const out = await run('ctr', [
      '-n',
      'buildkit',
      'run',
      '--rm',
      `${host}/demo/app:1`,
      `oc-test-${id.slice(0, 8)}`,
    ]);
    expect(out.stdout.trim()).toBe('hi from the context');
    const history = (await (await fetch(`${server.url}/api/v1/builds?limit=5`)).json()) as {
      builds: Build[];
    };
    expect(history.builds[0]?.id).toBe(id);
  }, 300_000);

  it('streams a step’s log lines while it runs, and a late subscriber gets everything from the start', async () => {
    const id = await submit({
      repository: 'demo/logs',
      noCache: true,
      dockerfile: `FROM ${base}\nRUN echo first-part && sleep 2 && echo second-part\n`,
    });
    const events = await follow(id);
    // The step's name holds both words too: look at the log text only.
    const at = (word: string) =>
      events.find((e) => e.event === 'log' && (JSON.parse(e.data) as { text: string }).text.includes(word))
        ?.at;
    const first = at('first-part');
    const second = at('second-part');
    expect(first).toBeDefined();
    expect(second).toBeDefined();
    expect((second as number) - (first as number)).toBeGreaterThan(1500);
    const late = await readSse(`${server.url}/api/v1/builds/${id}/events`);
    expect(late.map((e) => e.data)).toEqual(events.map((e) => e.data));
    const resumed = await readSse(`${server.url}/api/v1/builds/${id}/events`, {
      headers: { 'last-event-id': '2' },
    });
    expect(resumed[0]?.id).toBe('3');
    const logs = await (await fetch(`${server.url}/api/v1/builds/${id}/logs`)).text();
    expect(logs).toMatch(/\] first-part\n[^]*\] second-part\n/);
  }, 300_000);

  it('a failing RUN fails the build with the step’s name and its last lines', async () => {
    const id = await submit({
      repository: 'demo/fails',
      dockerfile: `FROM ${base}\nRUN echo about-to-fail && exit 3\n`,
    });
    await follow(id);
    const b = await get(`/api/v1/builds/${id}`);
    expect(b.state).toBe('failed');
    expect(b.error).toContain('step "[2/2] RUN echo about-to-fail && exit 3" failed');
    expect(b.error).toContain('about-to-fail');
  }, 300_000);

  it('cancel stops a long RUN within 5 s; a build beyond the concurrency limit waits in the queue', async () => {
    const long = await submit({
      repository: 'demo/long',
      noCache: true,
      dockerfile: `FROM ${base}\nRUN echo started && sleep 120\n`,
    });
    const queued = await submit({
      repository: 'demo/queued',
      dockerfile: `FROM ${base}\nRUN echo queued-build-ran\n`,
    });
    await readSse(`${server.url}/api/v1/builds/${long}/events`, {
      until: (e) => e.event === 'log' && e.data.includes('started'),
    });
    expect((await get(`/api/v1/builds/${queued}`)).state).toBe('queued');
    const t0 = performance.now();
    expect((await post(`/api/v1/builds/${long}/cancel`, {})).status).toBe(202);
    await follow(long);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect((await get(`/api/v1/builds/${long}`)).state).toBe('canceled');
    await follow(queued);
    expect((await get(`/api/v1/builds/${queued}`)).state).toBe('succeeded');
    expect((await post(`/api/v1/builds/${long}/cancel`, {})).status).toBe(409);
  }, 300_000);

  it('secrets reach RUN --mount=type=secret and nothing else; a build repeats from its record; registry cache', async () => {
    const secret = 'hunter2-very-secret-value';
    const id = await submit({
      repository: 'demo/secret',
      noCache: true,
      cache: true,
      dockerfile: `FROM ${base}\nRUN --mount=type=secret,id=token echo "length $(wc -c < /run/secrets/token)" && cat /run/secrets/token\n`,
      secrets: { token: secret },
    });
    const events = await follow(id);
    const b = await get(`/api/v1/builds/${id}`);
    expect(
      b.state,
      `${b.error}\n${events
        .filter((e) => e.event === 'output' || e.event === 'step')
        .map((e) => e.data)
        .join('\n')}`,
    ).toBe('succeeded');
    const logs = await (await fetch(`${server.url}/api/v1/builds/${id}/logs`)).text();
    expect(logs).toContain(`length ${secret.length}`);
    expect(logs).toContain('***');
    expect(logs).not.toContain(secret);
    expect(events.map((e) => e.data).join('\n')).not.toContain(secret);
    expect(JSON.stringify(await get(`/api/v1/builds/${id}`))).not.toContain(secret);
    expect((b as unknown as { definition: { secretIds: string[] } }).definition.secretIds).toEqual(['token']);
    // The cache went to the registry next to the image.
    const cache = await run('skopeo', [
      'inspect',
      '--raw',
      '--tls-verify=false',
      `docker://${host}/demo/secret:buildcache`,
    ]);
    expect(cache.stdout).toContain('layers');

    const without = await post(`/api/v1/builds/${id}/repeat`, {});
    expect(without.status).toBe(400);
    expect((without.body.error as { message: string }).message).toBe(
      `build ${id} used the secrets token: give them again`,
    );
    const again = await post(`/api/v1/builds/${id}/repeat`, { secrets: { token: secret } });
    expect(again.status).toBe(202);
    await follow(again.body.id as string);
    const repeated = await get(`/api/v1/builds/${again.body.id as string}`);
    expect(repeated.state).toBe('succeeded');
    expect(repeated.images).toEqual(b.images);
  }, 300_000);

  it('a secret printed in two pieces, then failing, stays masked in logs, events and the error', async () => {
    const secret = 'split-secret-value-0123456789';
    const head = secret.slice(0, 12);
    const id = await submit({
      repository: 'demo/secret-split',
      noCache: true,
      dockerfile:
        `FROM ${base}\nRUN --mount=type=secret,id=token sh -c 'v=$(cat /run/secrets/token); ` +
        `printf "token: %s" "$(echo "$v" | cut -c1-12)"; sleep 1; printf "%s\\n" "$(echo "$v" | cut -c13-)"; exit 3'\n`,
      secrets: { token: secret },
    });
    const events = await follow(id);
    const b = await get(`/api/v1/builds/${id}`);
    expect(b.state).toBe('failed');
    const logs = await (await fetch(`${server.url}/api/v1/builds/${id}/logs`)).text();
    expect(logs).toContain('***'); // the log keeps BuildKit's chunks: "token: " and "***" come apart
    const everything = [logs, events.map((e) => e.data).join('\n'), JSON.stringify(b)];
    for (const text of everything) expect(text).not.toContain(head);
    expect(String(b.error)).toContain('token: ***');
  }, 300_000);

  it('POST /build-image builds and answers like the original', async () => {
    const r = await post('/build-image', {
      dockerfile: `ARG B=${base}\nFROM $B\nRUN echo seed-ok\n`,
      imageName: 'demo/seed:1',
      context: '.',
      nocache: true,
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ status: 'success', image: `${host}/demo/seed:1` });
    expect(r.body.output).toContain('seed-ok');
  }, 300_000);

  it('POST /build-image: 400 naming the problem for each bad request', async () => {
    const bad = async (body: Record<string, unknown>) => {
      const r = await post('/build-image', body);
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      return (r.body.error as { message: string }).message;
    };
    const ok = { dockerfile: `FROM ${base}\n`, imageName: 'demo/x:1' };
    expect(await bad({ dockerfile: ok.dockerfile })).toContain("must have required property 'imageName'");
    expect(await bad({ ...ok, dockerfile: 'RUN echo no-from\n' })).toContain('RUN before its first FROM');
    expect(await bad({ ...ok, dockerfile: 'ARG A=1\n' })).toContain('no FROM instruction');
    expect(await bad({ ...ok, imageName: 'Demo/App' })).toContain(
      '"Demo" is not a valid repository name component',
    );
    expect(await bad({ ...ok, imageName: 'demo/x:bad tag' })).toContain('is not a valid tag');
    expect(await bad({ ...ok, platform: 'windows/amd64' })).toContain('"windows/amd64" is not a platform');
    expect(await bad({ ...ok, imageName: 'other.example.com/x:1' })).toContain(
      'names the registry other.example.com',
    );
  });

  it('a build running when the server dies is failed, with the reason, after the restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'opencloud-builds-restart-'));
    const first = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir]);
    const res = await fetch(`${first.url}/api/v1/builds`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        repository: 'demo/interrupted',
        noCache: true,
        dockerfile: `FROM ${base}\nRUN echo started && sleep 20\n`,
      }),
    });
    const { id } = (await res.json()) as { id: string };
    await readSse(`${first.url}/api/v1/builds/${id}/events`, {
      until: (e) => e.event === 'state' && e.data.includes('running'),
    });
    first.child.kill('SIGKILL');
    await first.exited;
    const second = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir]);
    try {
      const b = (await (await fetch(`${second.url}/api/v1/builds/${id}`)).json()) as Build;
      expect(b.state).toBe('failed');
      expect(b.error).toBe('the server restarted while this build was queued or running');
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  }, 120_000);

  it('POST /build-image without a BuildKit daemon: 503 with the original message and the fix', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'opencloud-builds-nodaemon-'));
    const s = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir], {
      env: { OPENCLOUD_BUILDKIT_SOCKET: join(dataDir, 'no-such.sock') },
    });
    try {
      const res = await fetch(`${s.url}/build-image`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ dockerfile: 'FROM x\n', imageName: 'demo/x:1' }),
      });
      expect(res.status).toBe(503);
      const body = (await res.json()) as { error: { message: string } };
      expect(body.error.message).toContain(
        `buildkit daemon not found at ${join(dataDir, 'no-such.sock')}. Please ensure buildkit is installed and running.`,
      );
      expect(body.error.message).toContain('opencloud services enable container-registry');
    } finally {
      s.child.kill('SIGTERM');
      await s.exited;
    }
  }, 60_000);
});
