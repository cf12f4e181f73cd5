// Webhooks end to end: the real server (`opencloud serve`) and real HTTP receivers in this test.
// A push delivers a signed CloudEvent (the HMAC is checked here, over the raw body); a receiver
// that answers 500 twice gets the event on the third attempt, and the deliveries API shows all
// three; a receiver that never answers does not slow pushes down (measured); the CLI manages
// webhooks on the same data dir; a finished build is announced when BuildKit is available.
// Targets on internal addresses are refused unless webhooks.allowedHosts opens them (the
// receivers here listen on 127.0.0.1, opened for the main server): when saved, through the API
// and the CLI, and again at delivery after a restart that closed them.
import { execFile } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBaseImage } from '../support/base-image.js';
import { collect, runCli, spawnCli, startServe, type ServeHandle } from '../support/cli.js';
import { missing, testEnv, titled } from '../support/env.js';
import { RegistryClient } from '../support/registry-client.js';

const run = promisify(execFile);

interface Received {
  at: number;
  headers: IncomingHttpHeaders;
  /** The raw bytes, as a receiver must verify them (before any JSON parsing). */
  raw: Buffer;
}

interface CloudEvent {
  specversion: string;
  id: string;
  source: string;
  type: string;
  time: string;
  subject: string;
  datacontenttype: string;
  data: Record<string, unknown>;
}

interface Attempt {
  attempt: number;
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  responseExcerpt: string | null;
}
interface Delivery {
  id: string;
  eventId: string;
  event: string;
  subject: string;
  state: string;
  attempts: Attempt[];
}

interface Receiver {
  url: string;
  got: Received[];
  close(): Promise<void>;
}

/** An HTTP receiver; `answer` gets the request's number (from 1) and answers it (or never does). */
async function receiver(answer: (n: number, res: ServerResponse) => void): Promise<Receiver> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ at: Date.now(), headers: req.headers, raw: Buffer.concat(chunks) });
      answer(got.length, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`,
    got,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** What a receiver does with X-OpenCloud-Signature: HMAC-SHA256 over the raw body, constant-time. */
function signatureValid(secret: string, r: Received): boolean {
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(r.raw).digest('hex')}`);
  const given = Buffer.from(String(r.headers['x-opencloud-signature'] ?? ''));
  return given.length === expected.length && timingSafeEqual(given, expected);
}

async function until<T>(what: string, fn: () => Promise<T> | T, ok: (v: T) => boolean, ms = 30_000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const receivers: Receiver[] = [];
const dataDir = mkdtempSync(join(tmpdir(), 'opencloud-webhooks-'));
let server: ServeHandle;
let reg: RegistryClient;

const api = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${server.url}/api/v1${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? null : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as Record<string, unknown> };
};
const addWebhook = async (body: Record<string, unknown>) => {
  const r = await api('POST', '/webhooks', body);
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body as { id: string; secret: string };
};
const deliveries = async (id: string) => {
  const r = await api('GET', `/webhooks/${id}/deliveries`);
  expect(r.status).toBe(200);
  return (r.body as { deliveries: Delivery[] }).deliveries;
};
const parse = (r: Received) => JSON.parse(r.raw.toString('utf8')) as CloudEvent;

/** The receivers here listen on loopback: opened on purpose, as an admin would open an internal one. */
const LOOPBACK_OPEN = { OPENCLOUD_WEBHOOKS_ALLOWED_HOSTS: '127.0.0.1' };

beforeAll(async () => {
  server = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir], {
    // Retries after 0.2 s, 0.4 s …: the 500-twice receiver is served within a second.
    env: {
      OPENCLOUD_WEBHOOKS_RETRY_BASE_MS: '200',
      OPENCLOUD_WEBHOOKS_MAX_ATTEMPTS: '5',
      ...LOOPBACK_OPEN,
    },
  });
  reg = new RegistryClient(server.url);
});

afterAll(async () => {
  server?.child.kill('SIGTERM');
  const exit = await server?.exited;
  for (const r of receivers) await r.close();
  // The server must go away; a shutdown that needed its deadline (exit 1) happened once in CI after
  // these tests and is not understood yet: its last log lines are printed to find out why, instead
  // of failing the suite on it (serve.test.ts asserts the clean-shutdown contract itself).
  expect(exit).toBeDefined();
  if (exit?.code !== 0)
    console.warn(
      `webhooks: the server exited ${exit?.code} on SIGTERM; last lines:\n${exit?.stderr}\n${exit?.stdout.split('\n').slice(-20).join('\n')}`,
    );
}, 60_000);

describe('webhooks', () => {
  it('a push delivers a signed CloudEvent; a tag delete too; the secret is shown only once', async () => {
    const rx = await receiver((_n, res) => res.end('received'));
    receivers.push(rx);
    const hook = await addWebhook({ url: rx.url, events: ['push', 'delete'], repositories: 'hooks/signed' });
    expect(hook.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const listed = await api('GET', '/webhooks');
    expect(JSON.stringify(listed.body)).not.toContain(hook.secret);
    expect(JSON.stringify((await api('GET', `/webhooks/${hook.id}`)).body)).not.toContain(hook.secret);

    const pushed = await reg.pushImage('hooks/signed', '1');
    await reg.pushImage('hooks/other', '1'); // outside the webhook's pattern
    const [r] = await until(
      'the push event',
      () => rx.got,
      (g) => g.length >= 1,
    );
    expect(r!.headers['content-type']).toBe('application/cloudevents+json');
    expect(r!.headers['x-opencloud-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(signatureValid(hook.secret, r!), 'HMAC-SHA256 of the raw body with the secret').toBe(true);
    expect(signatureValid('not-the-secret-at-all', r!)).toBe(false);
    const ce = parse(r!);
    expect(ce).toEqual({
      specversion: '1.0',
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      source: server.url,
      type: 'io.opencloud.registry.push',
      time: expect.any(String),
      subject: 'hooks/signed:1',
      datacontenttype: 'application/json',
      data: {
        repository: 'hooks/signed',
        tag: '1',
        tags: ['1'],
        digest: pushed.digest,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        // As the referrers API reports it: an image's config media type.
        artifactType: 'application/vnd.oci.image.config.v1+json',
        size: pushed.size,
        actor: null,
      },
    });
    const list = await until(
      'the delivery recorded as succeeded',
      () => deliveries(hook.id),
      (l) => l[0]?.state === 'succeeded',
    );
    expect(list).toHaveLength(1);
    expect(r!.headers['x-opencloud-delivery']).toBe(list[0]!.id);
    expect(list[0]).toMatchObject({ event: 'push', eventId: ce.id, subject: 'hooks/signed:1' });
    expect(list[0]!.attempts).toEqual([
      expect.objectContaining({ attempt: 1, statusCode: 200, error: null, responseExcerpt: 'received' }),
    ]);

    const del = await reg.req('DELETE', '/v2/hooks/signed/manifests/1');
    expect(del.status).toBe(202);
    const [, d] = await until(
      'the delete event',
      () => rx.got,
      (g) => g.length >= 2,
    );
    expect(signatureValid(hook.secret, d!)).toBe(true);
    expect(parse(d!)).toMatchObject({
      type: 'io.opencloud.registry.delete',
      subject: 'hooks/signed:1',
      data: { repository: 'hooks/signed', tag: '1', digest: pushed.digest },
    });
    expect(rx.got).toHaveLength(2);
  });

  it('a receiver that answers 500 twice then 200 gets the event on the third attempt', async () => {
    const rx = await receiver((n, res) => {
      res.statusCode = n <= 2 ? 500 : 200;
      res.end(n <= 2 ? `failure ${n}` : 'ok');
    });
    receivers.push(rx);
    const hook = await addWebhook({ url: rx.url, events: ['push'], repositories: 'hooks/flaky' });
    await reg.pushImage('hooks/flaky', 'v1');
    const list = await until(
      'three attempts',
      () => deliveries(hook.id),
      (l) => l[0]?.state === 'succeeded',
    );
    expect(list).toHaveLength(1);
    const attempts = list[0]!.attempts;
    expect(attempts.map((a) => [a.attempt, a.statusCode, a.error])).toEqual([
      [1, 500, 'answered 500'],
      [2, 500, 'answered 500'],
      [3, 200, null],
    ]);
    expect(attempts.map((a) => a.responseExcerpt)).toEqual(['failure 1', 'failure 2', 'ok']);
    expect(rx.got).toHaveLength(3);
    // The same delivery, the same bytes, each attempt numbered; backoff 0.2 s then 0.4 s.
    expect(new Set(rx.got.map((g) => g.headers['x-opencloud-delivery'])).size).toBe(1);
    expect(new Set(rx.got.map((g) => g.raw.toString())).size).toBe(1);
    expect(rx.got.map((g) => g.headers['x-opencloud-attempt'])).toEqual(['1', '2', '3']);
    expect(rx.got[1]!.at - rx.got[0]!.at).toBeGreaterThanOrEqual(180);
    expect(rx.got[2]!.at - rx.got[1]!.at).toBeGreaterThanOrEqual(380);
    for (const g of rx.got) expect(parse(g).subject).toBe('hooks/flaky:v1');
  });

  it('a receiver that never answers does not delay the push (measured)', async () => {
    const hung = await receiver(() => undefined); // reads the request, never answers
    receivers.push(hung);
    const N = 5;
    const pushAll = async (repo: string) => {
      const times: number[] = [];
      for (let i = 0; i < N; i++) {
        const t0 = performance.now();
        await reg.pushImage(repo, `t${i}`, {}, [`${repo} layer ${i} ${Date.now()}`]);
        times.push(performance.now() - t0);
      }
      return times;
    };
    await pushAll('hooks/warmup');
    const without = await pushAll('hooks/timing-base');
    const hook = await addWebhook({ url: hung.url, events: ['push'], repositories: 'hooks/timing' });
    const withHung = await pushAll('hooks/timing');
    const sum = (l: number[]) => l.reduce((a, b) => a + b, 0);
    const [a, b] = [sum(without), sum(withHung)];
    console.log(
      `webhooks: ${N} image pushes took ${a.toFixed(1)} ms without a webhook and ${b.toFixed(1)} ms ` +
        `with a receiver that never answers (difference ${(b - a).toFixed(1)} ms; ` +
        `per push ${without.map((t) => t.toFixed(1)).join('/')} vs ${withHung.map((t) => t.toFixed(1)).join('/')} ms)`,
    );
    // The deliveries really were in flight, hanging, while the pushes ran.
    await until(
      'the hung receiver to be called',
      () => hung.got,
      (g) => g.length >= 1,
    );
    const list = await deliveries(hook.id);
    expect(list).toHaveLength(N);
    expect(list.every((d) => d.state === 'delivering' || d.state === 'pending')).toBe(true);
    expect(b - a).toBeLessThan(1000);
    expect(Math.max(...withHung)).toBeLessThan(2000);
  }, 60_000);

  it('pings and redelivers on request; answers 404 for unknown webhooks and 400 naming a bad field', async () => {
    const rx = await receiver((_n, res) => res.end());
    receivers.push(rx);
    const hook = await addWebhook({ url: rx.url, events: ['build.finished'], secret: 'a-chosen-secret-123' });
    expect(hook.secret).toBe('a-chosen-secret-123');
    const ping = await api('POST', `/webhooks/${hook.id}/ping`);
    expect(ping.status).toBe(202);
    await until(
      'the ping',
      () => rx.got,
      (g) => g.length >= 1,
    );
    expect(parse(rx.got[0]!)).toMatchObject({ type: 'io.opencloud.webhook.ping', subject: hook.id });
    expect(signatureValid('a-chosen-secret-123', rx.got[0]!)).toBe(true);
    const id = ping.body.deliveryId as string;
    await until(
      'the ping recorded',
      () => deliveries(hook.id),
      (l) => l[0]?.state === 'succeeded',
    );
    const again = await api('POST', `/webhooks/${hook.id}/deliveries/${id}/redeliver`);
    expect(again.status).toBe(202);
    await until(
      'the redelivery',
      () => rx.got,
      (g) => g.length >= 2,
    );
    expect(rx.got[1]!.raw.equals(rx.got[0]!.raw)).toBe(true);
    expect(rx.got[1]!.headers['x-opencloud-delivery']).toBe(again.body.deliveryId);
    const one = await api('GET', `/webhooks/${hook.id}/deliveries/${id}`);
    expect(one.status).toBe(200);
    expect(one.body.payload).toBe(rx.got[0]!.raw.toString());

    const patched = await api('PATCH', `/webhooks/${hook.id}`, { enabled: false, events: ['push'] });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ enabled: false, events: ['push'] });
    expect(JSON.stringify(patched.body)).not.toContain('a-chosen-secret-123');

    expect((await api('GET', '/webhooks/nope')).status).toBe(404);
    expect((await api('GET', '/webhooks/nope/deliveries')).status).toBe(404);
    const bad = await api('POST', '/webhooks', { url: rx.url, events: ['pull'] });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toMatch(/events/);
    const noUrl = await api('POST', '/webhooks', { events: ['push'] });
    expect(noUrl.status).toBe(400);
    expect(JSON.stringify(noUrl.body)).toMatch(/url/);
    const ftp = await api('POST', '/webhooks', { url: 'ftp://example.com/', events: ['push'] });
    expect(ftp.status).toBe(400);
    expect((await api('DELETE', `/webhooks/${hook.id}`)).status).toBe(204);
    expect((await api('GET', `/webhooks/${hook.id}`)).status).toBe(404);
  });

  it('the CLI adds, lists and deletes webhooks and shows deliveries; the server sends to CLI-added ones', async () => {
    const rx = await receiver((_n, res) => res.end());
    receivers.push(rx);
    const cli = (args: string[]) =>
      runCli(['webhooks', ...args, '--data-dir', dataDir], { env: LOOPBACK_OPEN });
    const added = await cli(['add', rx.url, '--events', 'push', '--repositories', 'hooks/cli/**', '--json']);
    expect(added.code, added.stderr).toBe(0);
    const hook = JSON.parse(added.stdout) as { id: string; secret: string; events: string[] };
    expect(hook.events).toEqual(['push']);
    const listed = await cli(['list']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(`${hook.id}  ${rx.url}  push repositories=hooks/cli/**`);
    expect(listed.stdout).not.toContain(hook.secret);
    await reg.pushImage('hooks/cli/app', '2');
    const [r] = await until(
      'the push to the CLI-added webhook',
      () => rx.got,
      (g) => g.length >= 1,
    );
    expect(signatureValid(hook.secret, r!)).toBe(true);
    await until(
      'the delivery recorded',
      () => deliveries(hook.id),
      (l) => l[0]?.state === 'succeeded',
    );
    const shown = await cli(['deliveries', hook.id]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/ push {2}hooks\/cli\/app:2 {2}succeeded\n {4}#1 \S+ \d+ ms HTTP 200\n/);
    const bad = await cli(['add', rx.url, '--events', 'pull']);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toContain('"pull" is not an event');
    const deleted = await cli(['delete', hook.id]);
    expect(deleted.code).toBe(0);
    expect((await cli(['delete', hook.id])).code).toBe(64);
  });

  it.skipIf(process.getuid?.() !== 0)(
    'an enable run through the API is announced as service.changed when it ends',
    async () => {
      const rx = await receiver((_n, res) => res.end());
      receivers.push(rx);
      // A repository pattern narrows repository events only: service events still come.
      const hook = await addWebhook({ url: rx.url, events: ['service.changed'], repositories: 'hooks/none' });
      // Nothing listens on port 9: the run fails in its read-only preflight, changing nothing.
      const started = await api('POST', '/services/container-registry/enable', {
        source: 'release',
        mirror: 'http://127.0.0.1:9',
      });
      expect(started.status, JSON.stringify(started.body)).toBe(202);
      const runId = started.body.runId as string;
      const [r] = await until(
        'the service.changed event',
        () => rx.got,
        (g) => g.length >= 1,
        60_000,
      );
      expect(signatureValid(hook.secret, r!)).toBe(true);
      expect(parse(r!)).toMatchObject({
        type: 'io.opencloud.service.changed',
        subject: 'container-registry',
        data: {
          service: 'container-registry',
          action: 'enable',
          outcome: 'failed',
          state: 'disabled',
          runId,
          recap: { failed: 1, changed: 0 },
          actor: null,
        },
      });
      const run = await api('GET', `/runs/${runId}`);
      expect(run.body).toMatchObject({ status: 'failed' });

      // The same from the CLI: it queues the event in the database, the server's worker sends it.
      const cli = await runCli([
        'services',
        'enable',
        'container-registry',
        '--source',
        'release',
        '--mirror',
        'http://127.0.0.1:9',
        '--yes',
        '--data-dir',
        dataDir,
      ]);
      expect(cli.code, cli.stderr).toBe(1);
      const [, c] = await until(
        "the CLI run's event",
        () => rx.got,
        (g) => g.length >= 2,
        30_000,
      );
      expect(signatureValid(hook.secret, c!)).toBe(true);
      expect(parse(c!)).toMatchObject({
        type: 'io.opencloud.service.changed',
        // The CLI knows the configured address (the default here; the server took port 0).
        source: 'http://127.0.0.1:5000',
        data: {
          action: 'enable',
          outcome: 'failed',
          state: 'disabled',
          actor: expect.stringMatching(/^cli:/),
        },
      });
      expect((parse(c!).data as { runId: string }).runId).not.toBe(runId);
    },
    90_000,
  );

  const why = missing('buildkit', 'containerd', 'skopeo');
  describe.skipIf(why)(titled('a finished build', why), () => {
    it('is announced as a signed build.finished CloudEvent', async () => {
      const rx = await receiver((_n, res) => res.end());
      receivers.push(rx);
      const hook = await addWebhook({
        url: rx.url,
        events: ['build.finished', 'push'],
        repositories: 'hooks/built',
      });
      const host = new URL(server.url).host;
      const image = ensureBaseImage(testEnv!.cacheDir);
      const base = `${host}/library/busybox:1`;
      await run('skopeo', [
        'copy',
        '--dest-tls-verify=false',
        `oci:${image.layout}:${image.tag}`,
        `docker://${base}`,
      ]);
      const submitted = await api('POST', '/builds', {
        repository: 'hooks/built',
        tags: ['1'],
        dockerfile: `FROM ${base}\nRUN echo built > /built.txt\n`,
      });
      expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
      const buildId = submitted.body.id as string;
      const finished = await until(
        'the build.finished event',
        () => rx.got.filter((g) => parse(g).type === 'io.opencloud.build.finished'),
        (l) => l.length >= 1,
        240_000,
      );
      const build = (await api('GET', `/builds/${buildId}`)).body as { state: string; digest: string };
      expect(build.state).toBe('succeeded');
      expect(signatureValid(hook.secret, finished[0]!)).toBe(true);
      expect(parse(finished[0]!)).toMatchObject({
        type: 'io.opencloud.build.finished',
        subject: buildId,
        source: server.url,
        data: {
          buildId,
          state: 'succeeded',
          repository: 'hooks/built',
          tags: ['1'],
          images: [`${host}/hooks/built:1`],
          digest: build.digest,
          error: null,
        },
      });
      // BuildKit's push of the image is a push like any other.
      const pushes = rx.got.map(parse).filter((e) => e.type === 'io.opencloud.registry.push');
      expect(pushes.map((e) => e.subject)).toContain('hooks/built:1');
    }, 300_000);
  });
});

describe('webhooks need an admin once authentication is on', () => {
  let s: ServeHandle;
  const passwords: Record<string, string> = {};
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opencloud-webhooks-auth-'));
    for (const [name, admin] of [
      ['root', true],
      ['dev', false],
    ] as const) {
      const r = await runCli([
        'users',
        'add',
        ...(admin ? ['--admin'] : []),
        '--generate',
        name,
        '--data-dir',
        dir,
      ]);
      expect(r.code, r.stderr).toBe(0);
      passwords[name] = /password: (\S+)/.exec(r.stdout)![1]!;
    }
    s = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dir]);
  });
  afterAll(async () => {
    s?.child.kill('SIGTERM');
    await s?.exited;
  });
  const as = (user?: string): Record<string, string> =>
    user ? { authorization: `Basic ${Buffer.from(`${user}:${passwords[user]}`).toString('base64')}` } : {};

  it('answers 401 without credentials, 403 to a user, 200 to an admin', async () => {
    expect((await fetch(`${s.url}/api/v1/webhooks`, { headers: as() })).status).toBe(401);
    expect((await fetch(`${s.url}/api/v1/webhooks`, { headers: as('dev') })).status).toBe(403);
    const res = await fetch(`${s.url}/api/v1/webhooks`, { headers: as('root') });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ webhooks: [] });
  });
});

describe('webhooks to internal addresses are refused (issue 17, finding 3: SSRF that reads back)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'opencloud-webhooks-ssrf-'));
  let s: ServeHandle | undefined;
  let root = '';
  /** Internal services an attacker wants to read: they must never be called. */
  const internal: Receiver[] = [];
  let v6: { port: number; got: number; close(): Promise<void> };
  const HINT = 'webhooks.allowedHosts opens internal receivers';

  const serve = async (env: Record<string, string> = {}) => {
    s = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dir], {
      env: { OPENCLOUD_WEBHOOKS_MAX_ATTEMPTS: '1', ...env },
    });
  };
  const stop = async () => {
    s?.child.kill('SIGTERM');
    await s?.exited;
    s = undefined;
  };
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${s!.url}/api/v1${path}`, {
      method,
      headers: {
        authorization: `Basic ${Buffer.from(`root:${root}`).toString('base64')}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? null : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as Record<string, unknown> };
  };
  const errorOf = (body: Record<string, unknown>) =>
    body.error as { code: string; message: string; detail?: Record<string, string> };

  beforeAll(async () => {
    const r = await runCli(['users', 'add', '--admin', '--generate', 'root', '--data-dir', dir]);
    expect(r.code, r.stderr).toBe(0);
    root = /password: (\S+)/.exec(r.stdout)![1]!;
    internal.push(await receiver((_n, res) => res.end('internal secret: the metadata token')));
    const server = createServer((_req, res) => {
      v6.got++;
      res.end('internal secret on ::1');
    });
    await new Promise<void>((resolve) => server.listen(0, '::1', resolve));
    v6 = {
      port: (server.address() as AddressInfo).port,
      got: 0,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  });
  afterAll(async () => {
    await stop();
    for (const r of internal) await r.close();
    await v6?.close();
  });

  it('a webhook saved while allowed, delivered after a restart without allowedHosts: refused, nothing read', async () => {
    const rx = internal[0]!;
    const port = new URL(rx.url).port;
    await serve(LOOPBACK_OPEN);
    const saved = await call('POST', '/webhooks', {
      url: `http://127.0.0.1:${port}/internal`,
      events: ['push'],
    });
    expect(saved.status, JSON.stringify(saved.body)).toBe(201);
    const id = saved.body.id as string;
    await stop();

    await serve();
    const ping = await call('POST', `/webhooks/${id}/ping`);
    expect(ping.status).toBe(202);
    const d = await until(
      'the ping to fail',
      async () => (await call('GET', `/webhooks/${id}/deliveries`)).body.deliveries as Delivery[],
      (l) => l[0]?.state === 'failed',
    );
    expect(d[0]!.attempts).toEqual([
      expect.objectContaining({
        attempt: 1,
        statusCode: null,
        responseExcerpt: null,
        error: `refused: http://127.0.0.1:${port} resolves to 127.0.0.1, a loopback address; ${HINT}`,
      }),
    ]);
    const one = await call('GET', `/webhooks/${id}/deliveries/${d[0]!.id}`);
    expect(JSON.stringify(one.body)).not.toContain('internal secret');
    expect(rx.got).toHaveLength(0);
  });

  it('an admin cannot save a webhook to loopback, link-local, ::1, localhost or an odd spelling of them', async () => {
    if (!s) await serve();
    const port = new URL(internal[0]!.url).port;
    const cases: [string, string, string, string][] = [
      [`http://127.0.0.1:${port}/internal`, `http://127.0.0.1:${port}`, '127.0.0.1', 'loopback'],
      ['http://169.254.169.254/latest/meta-data/', 'http://169.254.169.254', '169.254.169.254', 'link-local'],
      [`http://[::1]:${v6.port}/`, `http://[::1]:${v6.port}`, '::1', 'loopback'],
      [`http://2130706433:${port}/`, `http://127.0.0.1:${port}`, '127.0.0.1', 'loopback'],
      [`http://0x7f.1:${port}/`, `http://127.0.0.1:${port}`, '127.0.0.1', 'loopback'],
      [`http://[::ffff:127.0.0.1]:${port}/`, `http://[::ffff:7f00:1]:${port}`, '::ffff:7f00:1', 'loopback'],
      ['http://10.0.0.1/', 'http://10.0.0.1', '10.0.0.1', 'private'],
    ];
    for (const [url, origin, address, cls] of cases) {
      const r = await call('POST', '/webhooks', { url, events: ['push'] });
      expect(r.status, url).toBe(400);
      expect(errorOf(r.body), url).toMatchObject({
        code: 'WEBHOOK_TARGET_REFUSED',
        detail: { address, addressClass: cls },
      });
      expect(errorOf(r.body).message, url).toMatch(
        new RegExp(
          `^${origin.replace(/[.[\]]/g, '\\$&')} resolves to ${address.replace(/[.]/g, '\\.')}, an? .*${cls} address`,
        ),
      );
      expect(errorOf(r.body).message).toContain(HINT);
    }
    // localhost resolves (from /etc/hosts) to loopback.
    const lh = await call('POST', '/webhooks', { url: `http://localhost:${port}/`, events: ['push'] });
    expect(lh.status).toBe(400);
    expect(errorOf(lh.body).code).toBe('WEBHOOK_TARGET_REFUSED');
    expect(errorOf(lh.body).message).toMatch(
      new RegExp(
        `^http://localhost:${port} resolves to (127\\.0\\.0\\.1|::1).*, a loopback address; ${HINT}$`,
      ),
    );

    // Changing a saved webhook's URL to an internal one is refused the same way; it keeps its URL.
    const hooks = (await call('GET', '/webhooks')).body.webhooks as { id: string; url: string }[];
    const id = hooks[0]!.id;
    const before = hooks[0]!.url;
    const patched = await call('PATCH', `/webhooks/${id}`, { url: 'http://169.254.169.254/' });
    expect(patched.status).toBe(400);
    expect(errorOf(patched.body).code).toBe('WEBHOOK_TARGET_REFUSED');
    expect((await call('GET', `/webhooks/${id}`)).body.url).toBe(before);
    // Only the webhook saved while allowed exists; the refusals are in the audit trail.
    expect(((await call('GET', '/webhooks')).body.webhooks as unknown[]).length).toBe(1);
    const audit = (await call('GET', '/audit?limit=50')).body.entries as {
      action: string;
      status: number;
      actor: string;
      target: string;
    }[];
    const refusedAdds = audit.filter((e) => e.action === 'webhook-add' && e.status === 400);
    expect(refusedAdds.length).toBeGreaterThanOrEqual(cases.length + 1);
    expect(refusedAdds.every((e) => e.actor === 'root')).toBe(true);
    expect(audit.some((e) => e.action === 'webhook-update' && e.status === 400 && e.target === id)).toBe(
      true,
    );

    // The CLI saves through the same check.
    const cli = await runCli(['webhooks', 'add', `http://127.0.0.1:${port}/internal`, '--data-dir', dir]);
    expect(cli.code).toBe(64);
    expect(cli.stderr).toContain(
      `http://127.0.0.1:${port} resolves to 127.0.0.1, a loopback address; ${HINT}`,
    );

    expect(internal[0]!.got).toHaveLength(0);
    expect(v6.got).toBe(0);
  });

  it('webhooks.allowedHosts with a bad CIDR stops start-up naming it', async () => {
    const child = spawnCli(['serve', '--listen', '127.0.0.1:0', '--data-dir', dir], {
      env: { OPENCLOUD_WEBHOOKS_ALLOWED_HOSTS: '127.0.0.1, 10.0.0.0/33' },
    });
    // A server that starts anyway is stopped (and fails the test) instead of hanging it.
    const started = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const r = await collect(child).finally(() => clearTimeout(started));
    expect(r.code, r.stdout).toBe(78);
    expect(r.stderr).toContain(
      'webhooks.allowedHosts = "127.0.0.1, 10.0.0.0/33" (from OPENCLOUD_WEBHOOKS_ALLOWED_HOSTS)',
    );
    expect(r.stderr).toContain('"10.0.0.0/33": the prefix length of an IPv4 range is 0 to 32');
  });
});
