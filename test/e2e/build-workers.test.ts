// Builds on a pool of two BuildKit daemons: the one the test setup installed (unix socket) and a
// second buildkitd v0.16.0 started here on TCP with mutual TLS, its own root and its own
// containerd namespace. Builds spread over both; killing the second fails only the build it was
// running, new builds go to the first, and the second rejoins once it answers again.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushBaseImage } from '../support/base-image.js';
import { makeCa, makeServerCert, type ServerCert, type TestCa } from '../support/certs.js';
import { startServe, type ServeHandle } from '../support/cli.js';
import { missing, testEnv, titled } from '../support/env.js';
import { freePort } from '../support/ports.js';
import { buildEnded, readSse, type ReceivedEvent } from '../support/sse.js';
import { postJson } from '../support/json-post.js';

const run = promisify(execFile);
const why = missing('buildkit', 'containerd', 'skopeo');
const NAMESPACE = 'buildkit-oc-worker2';

interface WorkerStatus {
  address: string;
  healthy: boolean;
  running: number;
  reason: string | null;
  executors: string[];
  placed: number;
}

describe.skipIf(why)(titled('builds on a pool of two BuildKit workers', why), () => {
  let dir: string;
  let ca: TestCa;
  let daemonCert: ServerCert;
  let clientCert: ServerCert;
  let port: number;
  let second: ChildProcess | undefined;
  let server: ServeHandle;
  let base: string;
  const local = () => `unix://${testEnv!.components.buildkit!.socket!}`;
  const remote = () => `tcp://127.0.0.1:${port}`;

  const buildctlRemote = () => [
    '--addr',
    remote(),
    '--tlscacert',
    ca.cert,
    '--tlscert',
    clientCert.cert,
    '--tlskey',
    clientCert.key,
  ];

  /** Starts the second daemon and waits (20 s at most) until it lists its containerd worker. */
  async function startSecond(): Promise<void> {
    const log = openSync(join(dir, 'buildkitd-2.log'), 'a');
    second = spawn(
      join(testEnv!.binDir, 'buildkitd'),
      [
        '--config',
        join(dir, 'buildkitd.toml'),
        '--root',
        join(dir, 'root'),
        '--addr',
        remote(),
        '--tlscacert',
        ca.cert,
        '--tlscert',
        daemonCert.cert,
        '--tlskey',
        daemonCert.key,
        '--oci-worker=false',
        '--containerd-worker=true',
        '--containerd-worker-addr',
        testEnv!.components.containerd!.socket!,
        '--containerd-worker-namespace',
        NAMESPACE,
      ],
      { stdio: ['ignore', log, log] },
    );
    const deadline = Date.now() + 20_000;
    for (;;) {
      const r = await run(
        join(testEnv!.binDir, 'buildctl'),
        [...buildctlRemote(), 'debug', 'workers', '-v'],
        {
          timeout: 5000,
        },
      ).catch((e: Error) => e);
      if (!(r instanceof Error) && /executor:\s*containerd/.test(r.stdout)) return;
      if (Date.now() > deadline) {
        const said = r instanceof Error ? r.message : r.stdout;
        const log = readFileSync(join(dir, 'buildkitd-2.log'), 'utf8').split('\n').slice(-15).join('\n');
        throw new Error(`the second buildkitd did not answer: ${said}\n${log}`);
      }
      await new Promise((res) => setTimeout(res, 250));
    }
  }

  async function stopSecond(): Promise<void> {
    if (!second || second.exitCode !== null) return;
    const gone = new Promise((res) => second!.once('exit', res));
    second.kill('SIGKILL');
    await gone;
  }

  const post = (path: string, body: unknown) => postJson(`${server.url}${path}`, body);
  const submit = async (repository: string, dockerfile: string) => {
    const r = await post('/api/v1/builds', { repository, noCache: true, dockerfile });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    return r.body.id as string;
  };
  const build = async (id: string) =>
    (await (await fetch(`${server.url}/api/v1/builds/${id}`)).json()) as {
      state: string;
      error: string | null;
    };
  const workers = async () =>
    ((await (await fetch(`${server.url}/api/v1/builder/workers`)).json()) as { workers: WorkerStatus[] })
      .workers;
  const follow = (id: string) =>
    readSse(`${server.url}/api/v1/builds/${id}/events`, { until: buildEnded, timeoutMs: 180_000 });
  const workerOf = (events: ReceivedEvent[]) => {
    const running = events.find((e) => e.event === 'state' && e.data.includes('"running"'));
    return running ? (JSON.parse(running.data) as { worker?: string }).worker : undefined;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'opencloud-workers-'));
    mkdirSync(join(dir, 'root'));
    writeFileSync(join(dir, 'buildkitd.toml'), '# empty: everything from flags\n');
    ca = makeCa(join(dir, 'pki'), 'OpenCloud Test Worker CA');
    daemonCert = makeServerCert(ca, join(dir, 'pki'), 'worker-2', 11);
    clientCert = makeServerCert(ca, join(dir, 'pki'), 'registry-client', 12, 'client');
    port = await freePort();
    await startSecond();
    const dataDir = mkdtempSync(join(tmpdir(), 'opencloud-workers-data-'));
    server = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir], {
      env: {
        OPENCLOUD_BUILD_CONCURRENCY: '4',
        OPENCLOUD_BUILDKIT_WORKERS: `${local()},${remote()}`,
        OPENCLOUD_BUILDKIT_TLS_CA: ca.cert,
        OPENCLOUD_BUILDKIT_TLS_CERT: clientCert.cert,
        OPENCLOUD_BUILDKIT_TLS_KEY: clientCert.key,
        OPENCLOUD_BUILDKIT_HEALTH_INTERVAL: '1',
      },
    });
    const host = new URL(server.url).host;
    base = await pushBaseImage(testEnv!.cacheDir, host);
  }, 120_000);

  afterAll(async () => {
    server?.child.kill('SIGTERM');
    await server?.exited;
    await stopSecond();
    // A RUN step the killed daemon left behind still runs in containerd: end it, leave no shim.
    const ctr = (args: string[]) =>
      run('ctr', ['--address', testEnv!.components.containerd!.socket!, '-n', NAMESPACE, ...args]).catch(
        () => ({ stdout: '' }),
      );
    for (const id of (await ctr(['tasks', 'ls', '-q'])).stdout.split('\n').filter(Boolean)) {
      await ctr(['tasks', 'kill', '-s', 'SIGKILL', id]);
      await ctr(['tasks', 'delete', '-f', id]);
    }
    for (const id of (await ctr(['containers', 'ls', '-q'])).stdout.split('\n').filter(Boolean)) {
      await ctr(['containers', 'delete', id]);
    }
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('lists both workers healthy, the TCP one reached with mutual TLS', async () => {
    const list = await workers();
    expect(list.map((w) => w.address)).toEqual([local(), remote()]);
    for (const w of list) {
      expect(w, JSON.stringify(w)).toMatchObject({ healthy: true, reason: null, running: 0 });
      expect(w.executors).toContain('containerd');
    }
  });

  it('spreads builds over both workers; an image built on the TCP worker is pullable', async () => {
    const ids = await Promise.all(
      [1, 2, 3, 4].map((i) => submit(`demo/spread-${i}`, `FROM ${base}\nRUN echo spread-${i} && sleep 2\n`)),
    );
    const placed = await Promise.all(ids.map(async (id) => workerOf(await follow(id))));
    for (const id of ids) expect((await build(id)).state).toBe('succeeded');
    expect(placed.filter((w) => w === local())).toHaveLength(2);
    expect(placed.filter((w) => w === remote())).toHaveLength(2);
    const onRemote = placed.indexOf(remote()) + 1;
    const host = new URL(server.url).host;
    const inspect = await run('skopeo', [
      'inspect',
      '--tls-verify=false',
      `docker://${host}/demo/spread-${onRemote}:latest`,
    ]);
    expect(inspect.stdout).toContain('Digest');
  }, 240_000);

  it('a worker killed under a build fails only that build; new builds go to the other; it rejoins', async () => {
    const ids = await Promise.all(
      ['a', 'b'].map((n) => submit(`demo/kill-${n}`, `FROM ${base}\nRUN echo started-${n} && sleep 8\n`)),
    );
    const followed = ids.map((id) => follow(id));
    // Both RUN steps print before the daemon dies.
    await Promise.all(
      ids.map((id) =>
        readSse(`${server.url}/api/v1/builds/${id}/events`, {
          until: (e) => e.event === 'log' && e.data.includes('started-'),
          timeoutMs: 60_000,
        }),
      ),
    );
    const t0 = performance.now();
    await stopSecond();
    const events = await Promise.all(followed);
    const places = events.map(workerOf);
    expect(new Set(places)).toEqual(new Set([local(), remote()]));
    const onRemote = ids[places.indexOf(remote())] as string;
    const onLocal = ids[places.indexOf(local())] as string;
    const failed = await build(onRemote);
    expect(failed.state).toBe('failed');
    expect(failed.error).toContain(`BuildKit worker ${remote()} failed during the build`);
    expect((await build(onLocal)).state).toBe('succeeded');
    expect(performance.now() - t0).toBeLessThan(15_000);

    const down = (await workers()).find((w) => w.address === remote());
    expect(down).toMatchObject({ healthy: false, running: 0 });
    expect(down?.reason).toBeTruthy();
    const after = await Promise.all(
      ['c', 'd'].map((n) => submit(`demo/after-${n}`, `FROM ${base}\nRUN echo after-${n}\n`)),
    );
    for (const id of after) {
      expect(workerOf(await follow(id))).toBe(local());
      expect((await build(id)).state).toBe('succeeded');
    }

    await startSecond();
    const deadline = Date.now() + 15_000;
    while (!(await workers()).every((w) => w.healthy)) {
      expect(Date.now(), 'the restarted worker did not rejoin within 15 s').toBeLessThan(deadline);
      await new Promise((res) => setTimeout(res, 250));
    }
  }, 240_000);
});
