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
import { WebhookStore, wants } from './store.js';

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

async function setup(opts: Partial<DispatcherOptions> = {}, state?: StateStore) {
  state ??= await openSqliteState(mkdtempSync(join(tmpdir(), 'opencloud-webhooks-')));
  const s = state;
  const store = new WebhookStore(s);
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
    await expect(store.create({ url: 'ftp://x', events: ['push'] })).rejects.toThrow(/http/);
    await expect(store.create({ url: 'http://x', events: ['pull'] })).rejects.toThrow(/not an event/);
    await expect(store.create({ url: 'http://x', events: [] })).rejects.toThrow(/at least one/);
    await expect(
      store.create({ url: 'http://x', events: ['push'], repositories: 'Team//x' }),
    ).rejects.toThrow(/pattern/);
    await expect(store.create({ url: 'http://x', events: ['push'], secret: 'short' })).rejects.toThrow(
      /16 to 255/,
    );
    const { webhook, secret } = await store.create({ url: 'http://x/', events: ['push', 'push', 'delete'] });
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
    const store = new WebhookStore(state);
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
