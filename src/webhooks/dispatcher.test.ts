// The queue and the worker against a real SQLite state and real HTTP receivers on loopback:
// matching, signing, retries with backoff, timeouts, disabled webhooks, and a restart resuming.
import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteState } from '../state/sqlite.js';
import type { StateStore } from '../state/store.js';
import { WebhookDispatcher, type DispatcherOptions } from './dispatcher.js';
import { EventBus, type EventInput } from './events.js';
import { verify } from './signing.js';
import { WebhookError, WebhookStore, wants } from './store.js';
import { WebhookTargets } from './targets.js';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

const quiet = { warn: () => undefined, error: () => undefined, debug: () => undefined };
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function receiver(answer: (n: number, res: ServerResponse) => void) {
  const got: Received[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      answer(got.length, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got };
}

/** The receivers here listen on loopback: opened as webhooks.allowedHosts would open them. */
const LOOPBACK_OPEN = new WebhookTargets(['127.0.0.1']);

async function setup(
  opts: Partial<DispatcherOptions> = {},
  state?: StateStore,
  targets: WebhookTargets = LOOPBACK_OPEN,
) {
  state ??= await openSqliteState(mkdtempSync(join(tmpdir(), 'opencloud-webhooks-')));
  const s = state;
  const store = new WebhookStore(s, targets);
  const bus = new EventBus();
  const dispatcher = new WebhookDispatcher(store, {
    concurrency: 4,
    timeoutMs: 2000,
    maxAttempts: 3,
    retryBaseMs: 20,
    source: () => 'http://127.0.0.1:5000',
    log: quiet,
    ...opts,
  });
  dispatcher.listen(bus);
  dispatcher.start();
  // Run in reverse: the worker stops before its database closes.
  cleanups.push(() => s.close());
  cleanups.push(async () => {
    await dispatcher.stop();
    dispatcher.detach();
    await dispatcher.flushed();
  });
  return { state: s, store, bus, dispatcher };
}

const push = (repository: string, tag = '1'): EventInput => ({
  name: 'push',
  subject: `${repository}:${tag}`,
  data: {
    repository,
    tag,
    tags: [tag],
    digest: 'sha256:0123',
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: null,
    size: 2,
    actor: null,
  },
});

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('webhook subscriptions', () => {
  it('validates URLs, events and patterns, and never lists the secret', async () => {
    const { store } = await setup();
    const x = 'http://127.0.0.1:9/x';
    await expect(store.create({ url: 'ftp://x', events: ['push'] })).rejects.toThrow(/http/);
    await expect(store.create({ url: x, events: ['pull'] })).rejects.toThrow(/not an event/);
    await expect(store.create({ url: x, events: [] })).rejects.toThrow(/at least one/);
    await expect(store.create({ url: x, events: ['push'], repositories: 'Team//x' })).rejects.toThrow(
      /pattern/,
    );
    await expect(store.create({ url: x, events: ['push'], secret: 'short' })).rejects.toThrow(/16 to 255/);
    const { webhook, secret } = await store.create({ url: x, events: ['push', 'push', 'delete'] });
    expect(webhook.events).toEqual(['push', 'delete']);
    expect(secret).toHaveLength(43);
    expect(JSON.stringify(await store.list())).not.toContain(secret);
    const changed = await store.update(webhook.id, { enabled: false, repositories: 'team/**' });
    expect(changed).toMatchObject({ enabled: false, repositories: 'team/**' });
    await expect(store.get('nope')).rejects.toMatchObject({ notFound: true });
  });

  it('matches events by name and repository pattern; service events pass a pattern', () => {
    const w = {
      events: ['push' as const, 'service.changed' as const],
      repositories: 'team/*',
      enabled: true,
    };
    const e = (input: EventInput) => ({ ...input, id: 'i', time: 't' });
    expect(wants(w, e(push('team/app')))).toBe(true);
    expect(wants(w, e(push('team/a/b')))).toBe(false);
    expect(wants(w, e(push('other/app')))).toBe(false);
    expect(wants({ ...w, enabled: false }, e(push('team/app')))).toBe(false);
    const svc: EventInput = {
      name: 'service.changed',
      subject: 'container-registry',
      data: {
        service: 'container-registry',
        action: 'enable',
        outcome: 'ok',
        state: 'enabled',
        runId: 'r',
        recap: null,
        actor: null,
      },
    };
    expect(wants(w, e(svc))).toBe(true);
    expect(wants({ ...w, events: ['push'] }, e(svc))).toBe(false);
  });
});

describe('webhook delivery', () => {
  it('delivers a signed CloudEvent to subscribers only, with delivery and event headers', async () => {
    const hit = await receiver((_n, res) => res.end('thanks'));
    const other = await receiver((_n, res) => res.end());
    const { store, bus, dispatcher } = await setup();
    const { webhook, secret } = await store.create({
      url: hit.url,
      events: ['push'],
      repositories: 'demo/*',
    });
    await store.create({ url: other.url, events: ['delete'] });
    bus.emit(push('demo/app'));
    bus.emit(push('elsewhere/app'));
    await dispatcher.flushed();
    const [d] = await until(
      () => store.deliveries(webhook.id),
      (l) => l[0]?.state === 'succeeded',
    );
    expect(hit.got).toHaveLength(1);
    expect(other.got).toHaveLength(0);
    const r = hit.got[0] as Received;
    expect(r.headers['content-type']).toBe('application/cloudevents+json');
    expect(r.headers['x-opencloud-delivery']).toBe(d?.id);
    expect(r.headers['x-opencloud-event']).toBe('push');
    expect(verify(secret, r.body, r.headers['x-opencloud-signature'] as string)).toBe(true);
    const ce = JSON.parse(r.body) as Record<string, unknown>;
    expect(ce).toMatchObject({
      specversion: '1.0',
      type: 'io.opencloud.registry.push',
      source: 'http://127.0.0.1:5000',
      subject: 'demo/app:1',
      data: { repository: 'demo/app', tag: '1', digest: 'sha256:0123' },
    });
    expect(d?.attempts).toEqual([
      expect.objectContaining({ attempt: 1, statusCode: 200, error: null, responseExcerpt: 'thanks' }),
    ]);
  });

  it('retries with backoff until it succeeds, recording every attempt', async () => {
    const flaky = await receiver((n, res) => {
      res.statusCode = n <= 2 ? 500 : 200;
      res.end(n <= 2 ? 'x'.repeat(5000) : 'ok');
    });
    const { store, bus } = await setup({ retryBaseMs: 100, maxAttempts: 5 });
    const { webhook } = await store.create({ url: flaky.url, events: ['push'] });
    bus.emit(push('demo/app'));
    const [d] = await until(
      () => store.deliveries(webhook.id),
      (l) => l[0]?.state === 'succeeded',
    );
    expect(d?.attempts.map((a) => a.statusCode)).toEqual([500, 500, 200]);
    expect(d?.attempts[0]?.error).toBe('answered 500');
    expect(d?.attempts[0]?.responseExcerpt).toHaveLength(1024);
    const starts = d!.attempts.map((a) => Date.parse(a.startedAt));
    expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(90);
    expect(starts[2]! - starts[1]!).toBeGreaterThanOrEqual(190);
    // Every attempt carried the same body, so the same signature.
    expect(new Set(flaky.got.map((g) => g.headers['x-opencloud-signature'])).size).toBe(1);
    expect(flaky.got.map((g) => g.headers['x-opencloud-attempt'])).toEqual(['1', '2', '3']);
  });

  it('gives up after the last attempt; a receiver that never answers times out', async () => {
    const hung = await receiver(() => undefined);
    const { store, bus } = await setup({ timeoutMs: 300, maxAttempts: 2, retryBaseMs: 10 });
    const { webhook } = await store.create({ url: hung.url, events: ['push'] });
    bus.emit(push('demo/app'));
    const [d] = await until(
      () => store.deliveries(webhook.id),
      (l) => l[0]?.state === 'failed',
    );
    expect(d?.attempts).toHaveLength(2);
    expect(d?.attempts[0]).toMatchObject({ statusCode: null, error: 'no answer within 0.3 s' });
    expect(d?.attempts[0]?.durationMs).toBeGreaterThanOrEqual(290);
    expect(d?.attempts[0]?.durationMs).toBeLessThan(2000);
  });

  it('a receiver that hangs holds one slot: other webhooks are still served', async () => {
    const hung = await receiver(() => undefined);
    const ok = await receiver((_n, res) => res.end());
    const { store, bus } = await setup({ concurrency: 2, timeoutMs: 5000 });
    const slow = await store.create({ url: hung.url, events: ['push'], repositories: 'slow/*' });
    const fast = await store.create({ url: ok.url, events: ['push'], repositories: 'fast/*' });
    for (let i = 0; i < 4; i++) bus.emit(push('slow/app', String(i)));
    await until(
      () => Promise.resolve(hung.got.length),
      (n) => n >= 1,
    );
    const t0 = Date.now();
    bus.emit(push('fast/app'));
    await until(
      () => store.deliveries(fast.webhook.id),
      (l) => l[0]?.state === 'succeeded',
    );
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(hung.got).toHaveLength(1);
    const slowOnes = await store.deliveries(slow.webhook.id);
    expect(slowOnes.filter((d) => d.state === 'delivering')).toHaveLength(1);
  });

  it('redelivers the same body as a new delivery, and pings on request', async () => {
    const ok = await receiver((_n, res) => res.end());
    const { store, dispatcher } = await setup();
    const { webhook } = await store.create({ url: ok.url, events: ['delete'] });
    await store.ping(webhook.id, 'http://127.0.0.1:5000');
    dispatcher.kick();
    const [ping] = await until(
      () => store.deliveries(webhook.id),
      (l) => l[0]?.state === 'succeeded',
    );
    expect(ping?.event).toBe('ping');
    expect(JSON.parse(ok.got[0]!.body)).toMatchObject({ type: 'io.opencloud.webhook.ping' });
    const again = await store.redeliver(webhook.id, ping!.id);
    dispatcher.kick();
    const list = await until(
      () => store.deliveries(webhook.id),
      (l) => l.length === 2 && l.every((d) => d.state === 'succeeded'),
    );
    expect(list.find((d) => d.id === again)?.redeliveryOf).toBe(ping?.id);
    expect(ok.got[1]?.body).toBe(ok.got[0]?.body);
    expect(ok.got[1]?.headers['x-opencloud-delivery']).toBe(again);
  });

  it('does not send to a webhook disabled after the event was queued', async () => {
    const ok = await receiver((_n, res) => res.end());
    const { store, dispatcher } = await setup();
    const { webhook } = await store.create({ url: ok.url, events: ['push'] });
    await store.enqueue({ ...push('demo/app'), id: 'e1', time: new Date().toISOString() }, 'http://s');
    await store.update(webhook.id, { enabled: false });
    dispatcher.kick();
    const [d] = await until(
      () => store.deliveries(webhook.id),
      (l) => l[0]?.state === 'failed',
    );
    expect(d?.attempts).toEqual([expect.objectContaining({ error: 'the webhook is disabled' })]);
    expect(ok.got).toHaveLength(0);
  });

  it('resumes pending deliveries after a restart, including one cut mid-attempt', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opencloud-webhooks-'));
    const ok = await receiver((_n, res) => res.end());
    let state = await openSqliteState(dir);
    const store = new WebhookStore(state, LOOPBACK_OPEN);
    const { webhook } = await store.create({ url: ok.url, events: ['push'] });
    // Queued by a process that stopped before sending; another claimed its lease and died.
    await store.enqueue({ ...push('demo/a'), id: 'e1', time: new Date().toISOString() }, 'http://s');
    await store.enqueue({ ...push('demo/b'), id: 'e2', time: new Date().toISOString() }, 'http://s');
    expect(await store.claim(1, 1)).toHaveLength(1);
    await state.close();
    await new Promise((r) => setTimeout(r, 20));
    state = await openSqliteState(dir);
    const s2 = await setup({}, state);
    const list = await until(
      () => s2.store.deliveries(webhook.id),
      (l) => l.length === 2 && l.every((d) => d.state === 'succeeded'),
    );
    expect(list.map((d) => d.state)).toEqual(['succeeded', 'succeeded']);
    expect(ok.got.map((g) => (JSON.parse(g.body) as { id: string }).id).sort()).toEqual(['e1', 'e2']);
  });
});

describe('webhook targets', () => {
  it('refuses internal URLs when saved (create and a changed URL), naming the address and its class', async () => {
    const rx = await receiver((_n, res) => res.end());
    const { state, store } = await setup({}, undefined, new WebhookTargets([]));
    const refused = await store.create({ url: rx.url, events: ['push'] }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(WebhookError);
    const origin = new URL(rx.url).origin;
    expect(refused).toMatchObject({
      code: 'WEBHOOK_TARGET_REFUSED',
      notFound: false,
      message: `${origin} resolves to 127.0.0.1, a loopback address; webhooks.allowedHosts opens internal receivers`,
      detail: { address: '127.0.0.1', addressClass: 'loopback' },
    });
    await expect(store.create({ url: 'http://[::1]:9/', events: ['push'] })).rejects.toMatchObject({
      code: 'WEBHOOK_TARGET_REFUSED',
      detail: { addressClass: 'loopback' },
    });
    await expect(
      store.create({ url: 'http://169.254.169.254/latest/meta-data/', events: ['push'] }),
    ).rejects.toMatchObject({ detail: { address: '169.254.169.254', addressClass: 'link-local' } });
    await expect(
      store.create({ url: 'http://nothing-here.invalid/', events: ['push'] }),
    ).rejects.toMatchObject({ code: 'WEBHOOK_TARGET_UNRESOLVED' });
    expect(await store.list()).toEqual([]);

    // Saved while allowed (another store on the same state), changed to an internal URL: refused,
    // and the stored URL stays; changes that keep the URL are not re-checked.
    const open = new WebhookStore(state, LOOPBACK_OPEN);
    const { webhook } = await open.create({ url: rx.url, events: ['push'] });
    await expect(store.update(webhook.id, { url: 'http://10.0.0.1/', enabled: false })).rejects.toMatchObject(
      {
        code: 'WEBHOOK_TARGET_REFUSED',
        detail: { address: '10.0.0.1', addressClass: 'private' },
      },
    );
    expect(await store.get(webhook.id)).toMatchObject({ url: rx.url, enabled: true });
    expect(await store.update(webhook.id, { enabled: false })).toMatchObject({ enabled: false });
    expect(rx.got).toHaveLength(0);
  });

  it('checks again at every delivery: a target refused now fails the attempt and nothing is sent', async () => {
    const rx = await receiver((_n, res) => res.end('internal answer'));
    const {
      state,
      store: closed,
      dispatcher,
    } = await setup({ maxAttempts: 1 }, undefined, new WebhookTargets([]));
    // Saved when the receiver was allowed; the allow list no longer has it.
    const { webhook } = await new WebhookStore(state, LOOPBACK_OPEN).create({
      url: rx.url,
      events: ['push'],
    });
    await closed.ping(webhook.id, 'http://s');
    dispatcher.kick();
    const [d] = await until(
      () => closed.deliveries(webhook.id),
      (l) => l[0]?.state === 'failed',
    );
    expect(d?.attempts).toEqual([
      expect.objectContaining({
        statusCode: null,
        responseExcerpt: null,
        error: `refused: ${new URL(rx.url).origin} resolves to 127.0.0.1, a loopback address; webhooks.allowedHosts opens internal receivers`,
      }),
    ]);
    expect(rx.got).toHaveLength(0);
  });

  it('a name that resolved to a public address when saved and to loopback at delivery is refused', async () => {
    const rx = await receiver((_n, res) => res.end('internal answer'));
    const port = new URL(rx.url).port;
    let answers = 0;
    // The attacker's DNS: a public address for the save-time check, loopback afterwards.
    const rebinding = new WebhookTargets([], async () => [
      { address: answers++ === 0 ? '93.184.216.34' : '127.0.0.1', family: 4 },
    ]);
    const { store, dispatcher } = await setup({ maxAttempts: 1 }, undefined, rebinding);
    const { webhook } = await store.create({ url: `http://rebind.test:${port}/hook`, events: ['push'] });
    await store.ping(webhook.id, 'http://s');
    dispatcher.kick();
    const [d] = await until(
      () => store.deliveries(webhook.id),
      (l) => l[0]?.state === 'failed',
    );
    expect(d?.attempts[0]).toMatchObject({
      statusCode: null,
      responseExcerpt: null,
      error: `refused: http://rebind.test:${port} resolves to 127.0.0.1, a loopback address; webhooks.allowedHosts opens internal receivers`,
    });
    expect(answers).toBe(2);
    expect(rx.got).toHaveLength(0);
  });

  it('an allowed name is sent to the address it resolved to, with its own Host header', async () => {
    const rx = await receiver((_n, res) => res.end('ok'));
    const port = new URL(rx.url).port;
    const named = new WebhookTargets(['hooks.test'], async (name) =>
      name === 'hooks.test' ? [{ address: '127.0.0.1', family: 4 }] : [],
    );
    const { store, dispatcher } = await setup({}, undefined, named);
    const { webhook } = await store.create({ url: `http://hooks.test:${port}/hook`, events: ['push'] });
    await store.ping(webhook.id, 'http://s');
    dispatcher.kick();
    await until(
      () => store.deliveries(webhook.id),
      (l) => l[0]?.state === 'succeeded',
    );
    expect(rx.got[0]?.headers.host).toBe(`hooks.test:${port}`);
  });

  it('records a redirect as the answer and does not follow it', async () => {
    const other = await receiver((_n, res) => res.end('followed'));
    const rx = await receiver((_n, res) => {
      res.writeHead(307, { location: other.url });
      res.end('moved');
    });
    const { store, dispatcher } = await setup({ maxAttempts: 1 });
    const { webhook } = await store.create({ url: rx.url, events: ['push'] });
    await store.ping(webhook.id, 'http://s');
    dispatcher.kick();
    const [d] = await until(
      () => store.deliveries(webhook.id),
      (l) => l[0]?.state === 'failed',
    );
    expect(d?.attempts[0]).toMatchObject({
      statusCode: 307,
      error: 'answered 307 (redirects are not followed)',
      responseExcerpt: 'moved',
    });
    expect(other.got).toHaveLength(0);
  });
});
