// The service installer over HTTP, against the real server. Only runs that change nothing are
// started: plans, and enables that fail in preflight (an unreachable mirror, systemd asked for
// where it is not PID 1). An enable that got past preflight would install BuildKit on this host.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startServe, type ServeHandle } from '../support/cli.js';

const work = mkdtempSync(join(tmpdir(), 'opencloud-services-api-'));
chmodSync(work, 0o755);
const osRelease = existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '';
/** Preflight gets as far as the source check only on an apt host. */
const notApt = /^ID(_LIKE)?=.*\b(debian|ubuntu)\b/m.test(osRelease) ? undefined : 'not a Debian/Ubuntu host';
const systemd = existsSync('/run/systemd/system') ? 'systemd is PID 1 here' : undefined;
const SERVICE = 'container-registry';

const servers: ServeHandle[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.child.kill('SIGTERM');
    expect((await s.exited).code).toBe(0);
  }
});

let dirs = 0;
async function serve(opts: { uid?: number } = {}): Promise<string> {
  const dir = join(work, `data-${++dirs}`);
  mkdirSync(dir);
  chmodSync(dir, 0o777); // the server may run as another user
  const s = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dir], {
    ...(opts.uid === undefined ? {} : { uid: opts.uid, gid: opts.uid }),
  });
  servers.push(s);
  return s.url;
}

function post(url: string, body?: unknown): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
}

interface Sse {
  id: number;
  event: string;
  data: Record<string, unknown>;
}

/** Reads an event stream to its end. */
async function readSse(res: Response): Promise<Sse[]> {
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/event-stream');
  expect(res.headers.get('cache-control')).toBe('no-cache');
  expect(res.headers.get('x-accel-buffering')).toBe('no');
  const text = await res.text();
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '' && !block.startsWith(':'))
    .map((block) => {
      const field = (name: string) =>
        block
          .split('\n')
          .filter((l) => l.startsWith(`${name}: `))
          .map((l) => l.slice(name.length + 2))
          .join('\n');
      return {
        id: Number(field('id')),
        event: field('event'),
        data: JSON.parse(field('data')) as Record<string, unknown>,
      };
    });
}

const events = (url: string, runId: string, headers: Record<string, string> = {}) =>
  fetch(`${url}/api/v1/runs/${runId}/events`, { headers, signal: AbortSignal.timeout(30_000) });

async function json<T = Record<string, unknown>>(res: Response | Promise<Response>): Promise<T> {
  return (await (await res).json()) as T;
}

/** A mirror that answers every request 200 with an empty body: preflight only probes it. */
async function okMirror(): Promise<{ url: string; close(): void }> {
  const server = createHttpServer((_req, res) => res.writeHead(200).end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => server.close() };
}

/** A mirror that accepts connections and never answers: preflight waits on it. */
async function silentMirror(): Promise<{ url: string; close(): void }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => sockets.add(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** The unreachable mirror must really be unreachable, or the enable would install. */
async function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

async function startRun(url: string, action: string, body?: unknown): Promise<string> {
  const res = await post(`${url}/api/v1/services/${SERVICE}/${action}`, body);
  const accepted = await json<{ runId: string; events: string; run: string }>(res);
  expect(res.status, JSON.stringify(accepted)).toBe(202);
  expect(accepted).toEqual({
    runId: expect.stringMatching(/^[0-9a-f-]{36}$/),
    events: `/api/v1/runs/${accepted.runId}/events`,
    run: `/api/v1/runs/${accepted.runId}`,
  });
  return accepted.runId;
}

describe('services API', () => {
  it('lists container-registry as disabled on a fresh data dir, with its status', async () => {
    const url = await serve();
    expect(await json(fetch(`${url}/api/v1/services`))).toEqual([
      { name: SERVICE, state: 'disabled', lastRunId: null, facts: {} },
    ]);
    const status = await json(fetch(`${url}/api/v1/services/${SERVICE}`));
    expect(status).toMatchObject({
      service: SERVICE,
      state: 'disabled',
      lastRunId: null,
      facts: {},
      healthy: true,
      containerd: { answers: expect.any(Boolean), detail: expect.any(String) },
      buildkit: { answers: expect.any(Boolean), detail: expect.any(String) },
    });
    expect(status).not.toHaveProperty('drift');

    const seed = await json(fetch(`${url}/get-service-status?service=${SERVICE}`));
    expect(Object.keys(seed).sort()).toEqual(['buildkit', 'containerd', 'healthy', 'service', 'state']);
    expect(seed).toMatchObject({ service: SERVICE, state: 'disabled', healthy: true });
  });

  it('404 for an unknown service or run, 400 for a bad body, and nothing is started', async () => {
    const url = await serve();
    const error = async (res: Promise<Response>, status: number) => {
      const r = await res;
      const body = await json<{ error: { code: string; message: string } }>(r);
      expect(r.status, JSON.stringify(body)).toBe(status);
      return body.error;
    };
    expect(await error(fetch(`${url}/api/v1/services/nope`), 404)).toEqual({
      code: 'SERVICE_UNKNOWN',
      message: 'unknown service nope; services: container-registry',
      requestId: expect.any(String),
    });
    expect((await error(post(`${url}/api/v1/services/nope/plan`), 404)).code).toBe('SERVICE_UNKNOWN');
    expect((await error(fetch(`${url}/api/v1/runs/nope`), 404)).code).toBe('RUN_UNKNOWN');
    expect((await error(fetch(`${url}/api/v1/runs/nope/events`), 404)).code).toBe('RUN_UNKNOWN');
    expect((await error(fetch(`${url}/get-service-status?service=nope`), 404)).code).toBe('SERVICE_UNKNOWN');
    expect((await error(fetch(`${url}/get-service-status`), 400)).message).toContain('service');

    const bad = (body: unknown, action = 'enable') =>
      error(post(`${url}/api/v1/services/${SERVICE}/${action}`, body), 400);
    expect((await bad({ bogus: 1 })).message).toBe(
      'body/bogus is not a known option; known: source, tarball, sha256, mirror, init, purge, readyTimeout, lockTimeout',
    );
    expect((await bad({ sha256: 'xyz' })).message).toContain('body/sha256 must match pattern');
    expect((await bad({ init: 'upstart' }, 'plan')).message).toContain('body/init');
    expect((await bad({ source: 'ftp' })).message).toContain('body/source');
    expect((await bad({ source: 'tarball' })).message).toBe('tarball is required when source is tarball');
    expect((await bad({ mirror: 'ftp://x' })).message).toContain('body/mirror');
    expect((await bad({ readyTimeout: 0 }, 'disable')).message).toContain('body/readyTimeout');
    expect((await bad([])).message).toContain('body must be object');
    expect((await error(post(`${url}/enable-service`, {}), 400)).message).toContain("'service'");
    expect((await error(post(`${url}/enable-service`, { service: 'nope' }), 404)).code).toBe(
      'SERVICE_UNKNOWN',
    );
    expect(
      (await error(post(`${url}/enable-service-stream`, { service: SERVICE, x: 1 }), 400)).message,
    ).toContain('body/x');
    expect(await json(fetch(`${url}/api/v1/services`))).toMatchObject([{ lastRunId: null }]);
  });

  it.skipIf(notApt)('plan: 202, events stream to the recap, the run is recorded ok', async () => {
    const url = await serve();
    const mirror = await okMirror();
    try {
      const runId = await startRun(url, 'plan', { mirror: mirror.url, init: 'direct' });
      const all = await readSse(await events(url, runId));
      expect(all.map((e) => e.id)).toEqual(all.map((_, i) => i));
      for (const e of all) expect(e.data).toMatchObject({ type: e.event, runId });
      expect(all[0]?.event).toBe('run-start');
      expect(all.some((e) => e.event === 'step-start' && e.data.step === 'preflight')).toBe(true);
      expect(all.filter((e) => e.event === 'step-result').length).toBeGreaterThan(1);
      const recap = all.at(-1);
      expect(recap?.event).toBe('recap');
      expect(recap?.data.recap).toMatchObject({ failed: 0 });

      // The stream ended after the run was closed in the ledger.
      const run = await json(fetch(`${url}/api/v1/runs/${runId}`));
      expect(run).toMatchObject({
        id: runId,
        service: SERVICE,
        action: 'plan',
        status: 'ok',
        options: { mirror: mirror.url, init: 'direct', source: 'release', readyTimeout: 60 },
        recap: recap?.data.recap,
        finishedAt: expect.any(String),
      });
      const steps = run.steps as { id: string; status: string }[];
      expect(steps[0]).toMatchObject({ id: 'preflight', status: 'ok' });
      expect(steps.length).toBe(all.filter((e) => e.event === 'step-result').length);

      // Resuming: only what came after the given id, by header or by query.
      const resumed = await readSse(await events(url, runId, { 'last-event-id': '3' }));
      expect(resumed.map((e) => e.id)).toEqual(all.slice(4).map((e) => e.id));
      const after = await readSse(await fetch(`${url}/api/v1/runs/${runId}/events?after=3`));
      expect(after).toEqual(resumed);
      // Nothing left after the recap: 204 tells an EventSource to stop reconnecting.
      expect((await events(url, runId, { 'last-event-id': String(recap?.id) })).status).toBe(204);
      expect((await events(url, runId, { 'last-event-id': 'x' })).status).toBe(400);
      // A plan does not enable anything.
      expect(await json(fetch(`${url}/api/v1/services`))).toMatchObject([{ state: 'disabled' }]);
    } finally {
      mirror.close();
    }
  });

  it.skipIf(notApt)(
    'an enable that cannot reach its mirror fails in preflight, recorded with the reason',
    async () => {
      expect(await refused(9), 'something listens on 127.0.0.1:9').toBe(true);
      const url = await serve();
      const runId = await startRun(url, 'enable', { source: 'release', mirror: 'http://127.0.0.1:9' });
      const all = await readSse(await events(url, runId));
      const preflight = all.find((e) => e.event === 'step-result' && e.data.step === 'preflight');
      expect(preflight?.data).toMatchObject({ status: 'failed' });
      expect(preflight?.data.reason).toContain('cannot reach http://127.0.0.1:9/');
      expect(all.at(-1)?.data).toMatchObject({ type: 'recap', recap: { failed: 1, changed: 0 } });

      const run = await json(fetch(`${url}/api/v1/runs/${runId}`));
      expect(run).toMatchObject({ action: 'enable', status: 'failed', recap: { failed: 1, changed: 0 } });
      const steps = run.steps as { id: string; status: string; reason: string }[];
      expect(steps[0]?.reason).toContain('cannot reach http://127.0.0.1:9/');
      expect(steps.slice(1).every((s) => s.status === 'skipped')).toBe(true);
      expect(await json(fetch(`${url}/api/v1/services`))).toMatchObject([{ state: 'disabled' }]);
    },
  );

  it.skipIf(systemd)('init systemd without systemd as PID 1: enable fails in preflight', async () => {
    const url = await serve();
    const runId = await startRun(url, 'enable', { init: 'systemd' });
    const all = await readSse(await events(url, runId));
    expect(all.at(-1)?.event).toBe('recap');
    const run = await json<{ status: string; steps: { reason?: string }[] }>(
      fetch(`${url}/api/v1/runs/${runId}`),
    );
    expect(run.status).toBe('failed');
    expect(run.steps[0]?.reason).toContain('/run/systemd/system');
  });

  it.skipIf(systemd)('/enable-service answers when the run ends: success false and the reason', async () => {
    const url = await serve();
    const res = await post(`${url}/enable-service`, { service: SERVICE, init: 'systemd' });
    const body = await json(res);
    expect(res.status).toBe(500);
    expect(body).toMatchObject({
      success: false,
      runId: expect.any(String),
      recap: { failed: 1, changed: 0 },
    });
    expect(body.error).toContain('/run/systemd/system is missing');
    expect(await json(fetch(`${url}/api/v1/runs/${String(body.runId)}`))).toMatchObject({
      action: 'enable',
      status: 'failed',
    });
  });

  it.skipIf(systemd)('/enable-service-stream streams the run to its recap', async () => {
    const url = await serve();
    const all = await readSse(
      await post(`${url}/enable-service-stream`, { service: SERVICE, init: 'systemd' }),
    );
    expect(all.map((e) => e.id)).toEqual(all.map((_, i) => i));
    expect(all[0]?.event).toBe('run-start');
    expect(all.at(-1)?.data).toMatchObject({ type: 'recap', recap: { failed: 1 } });
    const runId = String(all[0]?.data.runId);
    expect(await json(fetch(`${url}/api/v1/runs/${runId}`))).toMatchObject({ status: 'failed' });
  });

  it.skipIf(notApt ?? systemd)('a second enable or disable while one runs: 409 naming the run', async () => {
    const url = await serve();
    const mirror = await silentMirror();
    try {
      // Preflight waits on the silent mirror (up to 10 s) until it is closed.
      const runId = await startRun(url, 'enable', { mirror: mirror.url });
      const live = events(url, runId).then(readSse);
      for (const [path, body] of [
        [`/api/v1/services/${SERVICE}/enable`, {}],
        [`/api/v1/services/${SERVICE}/disable`, undefined],
        ['/enable-service', { service: SERVICE }],
      ] as const) {
        const res = await post(url + path, body);
        const error = await json<{ error: { code: string; message: string } }>(res);
        expect(res.status, path).toBe(409);
        expect(error.error.code).toBe('INSTALL_RUNNING');
        expect(error.error.message).toContain(runId);
      }
      // Plans change nothing: they do not wait for the running enable.
      await startRun(url, 'plan', { init: 'systemd' });

      mirror.close();
      const all = await live;
      expect(all[0]?.event).toBe('run-start');
      expect(all.at(-1)?.data).toMatchObject({ type: 'recap', recap: { failed: 1 } });
      expect(String(all.find((e) => e.data.status === 'failed')?.data.reason)).toContain(
        `cannot reach ${mirror.url}/`,
      );
      // Once it has ended, the next one starts.
      await startRun(url, 'enable', { init: 'systemd' });
    } finally {
      mirror.close();
    }
  });

  it.skipIf(process.getuid?.() !== 0)(
    'enable and disable need root: 403 NEEDS_ROOT, nothing started',
    async () => {
      const url = await serve({ uid: 65534 });
      for (const res of [
        await post(`${url}/api/v1/services/${SERVICE}/enable`, {}),
        await post(`${url}/api/v1/services/${SERVICE}/disable`),
        await post(`${url}/enable-service`, { service: SERVICE }),
      ]) {
        expect(res.status).toBe(403);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe('NEEDS_ROOT');
      }
      expect(await json(fetch(`${url}/api/v1/services`))).toMatchObject([{ lastRunId: null }]);
    },
  );
});
