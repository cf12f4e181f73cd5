// Sends webhook deliveries. Events from the bus are queued in the database off the emitter's
// path (one write chain, so a burst costs the pusher nothing); a worker claims due deliveries up
// to the concurrency limit, one per webhook at a time (a receiver that hangs holds one slot,
// not all of them), POSTs each signed body with a per-attempt timeout, records every attempt,
// and schedules retries with exponential backoff. Every attempt resolves the URL's host anew and
// sends only to addresses the outbound guard accepts (webhooks.allowedHosts). Deliveries queued
// by another process (the CLI) or left by a previous run are found by polling.
import type { IncomingMessage } from 'node:http';
import { OutboundRefused, sendOutbound } from '../lib/outbound.js';
import { PACKAGE_VERSION } from '../paths.js';
import { retryDelayMs } from './backoff.js';
import { CLOUDEVENTS_CONTENT_TYPE } from './cloudevent.js';
import type { EventBus, OpenCloudEvent } from './events.js';
import { ATTEMPT_HEADER, DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, sign } from './signing.js';
import type { AttemptOutcome, DueDelivery, WebhookStore } from './store.js';
import type { WebhookTargets } from './targets.js';

/** The first bytes of an answer kept with the attempt. */
export const EXCERPT_BYTES = 1024;
/** How often the worker looks for due deliveries when nothing told it of any. */
const POLL_MS = 2000;

export interface DispatcherOptions {
  concurrency: number;
  /** Milliseconds one attempt may take: connect, answer, and the excerpt of its body. */
  timeoutMs: number;
  maxAttempts: number;
  retryBaseMs: number;
  /** CloudEvents `source` (known once the server listens). */
  source: () => string;
  log: {
    warn: (obj: object, msg: string) => void;
    error: (obj: object, msg: string) => void;
    debug: (obj: object, msg: string) => void;
  };
}

/** Reads at most `limit` bytes of an answer's body, then lets the rest go. */
async function excerpt(body: IncomingMessage, limit: number): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).byteLength;
      if (size >= limit) break;
    }
  } finally {
    body.destroy();
  }
  const text = new TextDecoder().decode(Buffer.concat(chunks).subarray(0, limit));
  return text === '' ? null : text;
}

function describe(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  const cause = e.cause?.code ?? e.cause?.message;
  return cause ? `${e.message}: ${cause}` : e.message;
}

/** Resolves before the signal aborts, or rejects when it does (a DNS lookup cannot be cut). */
function before<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * One POST of a delivery's body; never throws (a failure is an outcome). The URL is resolved and
 * checked anew for every attempt, and the request goes to the addresses that were checked; a
 * refused target is a failed attempt that sent nothing.
 */
export async function attempt(
  d: DueDelivery,
  timeoutMs: number,
  stop: AbortSignal,
  targets: WebhookTargets,
): Promise<AttemptOutcome> {
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = AbortSignal.any([timeout, stop]);
  const took = () => performance.now() - t0;
  try {
    const target = await before(targets.check(d.url), signal);
    const res = await sendOutbound(target, {
      method: 'POST',
      body: d.payload,
      signal,
      headers: {
        'content-type': CLOUDEVENTS_CONTENT_TYPE,
        'user-agent': `OpenCloud-Webhooks/${PACKAGE_VERSION}`,
        [SIGNATURE_HEADER]: sign(d.secret, d.payload),
        [DELIVERY_HEADER]: d.id,
        [EVENT_HEADER]: d.event,
        [ATTEMPT_HEADER]: String(d.attempts + 1),
      },
    });
    const status = res.statusCode ?? 0;
    let body: string | null = null;
    let readError: string | null = null;
    try {
      body = await excerpt(res, EXCERPT_BYTES);
    } catch (err) {
      readError = timeout.aborted
        ? `the answer's body did not arrive within ${timeoutMs / 1000} s`
        : `reading the answer failed: ${describe(err)}`;
    }
    const ok = status >= 200 && status < 300;
    const error = ok
      ? null
      : status >= 300 && status < 400
        ? `answered ${status} (redirects are not followed)`
        : `answered ${status}`;
    return {
      startedAt,
      durationMs: took(),
      statusCode: status,
      error: error ?? readError,
      responseExcerpt: body,
      ok,
    };
  } catch (err) {
    const error =
      err instanceof OutboundRefused
        ? `refused: ${err.message}`
        : timeout.aborted
          ? `no answer within ${timeoutMs / 1000} s`
          : stop.aborted
            ? 'the server stopped during the attempt'
            : describe(err);
    return { startedAt, durationMs: took(), statusCode: null, error, responseExcerpt: null, ok: false };
  }
}

export class WebhookDispatcher {
  private active = 0;
  /** Webhooks with an attempt in progress here (one at a time each). */
  private readonly sending = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private again = false;
  private stopped = true;
  private readonly stopping = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();
  /** Queued events are written one after another, in order. */
  private writes: Promise<unknown> = Promise.resolve();
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly store: WebhookStore,
    private readonly opts: DispatcherOptions,
  ) {}

  /** Takes the bus's events into the queue; the worker starts with start(). */
  listen(bus: EventBus): void {
    this.unsubscribe = bus.on((e) => this.enqueue(e));
  }

  /** Queues an event for its webhooks; returns at once (the write happens after). */
  enqueue(event: OpenCloudEvent): void {
    this.writes = this.writes
      // After the current I/O turn: the emitter's answer goes out before this write (SQLite
      // commits block the event loop while they sync).
      .then(() => new Promise<void>((resolve) => setImmediate(resolve)))
      .then(() => this.store.enqueue(event, this.opts.source()))
      .then((ids) => {
        if (ids.length > 0) this.kick();
      })
      .catch((err: unknown) =>
        this.opts.log.error(
          { err, event: event.name, subject: event.subject },
          'could not queue a webhook event',
        ),
      );
  }

  /** Waits until the events emitted so far are queued (tests, shutdown). */
  async flushed(): Promise<void> {
    await this.writes;
  }

  start(): void {
    this.stopped = false;
    this.kick();
  }

  /** Looks for due deliveries now. */
  kick(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), 0);
  }

  /**
   * Stops claiming, aborts attempts in progress and gives their deliveries back. Events emitted
   * afterwards (builds canceled by the shutdown) are still queued: await flushed() before the
   * database closes, and the next start sends them.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.stopping.abort();
    await Promise.allSettled([...this.inFlight]);
  }

  /** No more events from the bus. */
  detach(): void {
    this.unsubscribe?.();
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.ticking = true;
    let wait = POLL_MS;
    try {
      const free = this.opts.concurrency - this.active;
      const claimed = await this.store.claim(free, this.opts.timeoutMs + 30_000, [...this.sending]);
      for (const d of claimed) this.run(d);
      const due = await this.store.nextDueInMs();
      if (due !== undefined) wait = Math.min(wait, due);
    } catch (err) {
      this.opts.log.error({ err }, 'the webhook worker could not read its queue');
    } finally {
      this.ticking = false;
    }
    if (this.stopped) return;
    if (this.again) {
      this.again = false;
      wait = 0;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), wait);
    this.timer.unref();
  }

  private run(d: DueDelivery): void {
    this.active++;
    this.sending.add(d.webhookId);
    const p = this.deliver(d)
      .catch((err: unknown) =>
        this.opts.log.error({ err, delivery: d.id, webhook: d.webhookId }, 'a webhook delivery failed'),
      )
      .finally(() => {
        this.active--;
        this.sending.delete(d.webhookId);
        this.inFlight.delete(p);
        this.kick();
      });
    this.inFlight.add(p);
  }

  private async deliver(d: DueDelivery): Promise<void> {
    if (!d.enabled && d.event !== 'ping') {
      const outcome: AttemptOutcome = {
        startedAt: new Date().toISOString(),
        durationMs: 0,
        statusCode: null,
        error: 'the webhook is disabled',
        responseExcerpt: null,
        ok: false,
      };
      await this.store.recordAttempt(d, outcome, undefined);
      return;
    }
    const outcome = await attempt(d, this.opts.timeoutMs, this.stopping.signal, this.store.targets);
    if (this.stopping.signal.aborted && !outcome.ok) {
      await this.store.release(d.id); // not the receiver's failure: tried again after a restart
      return;
    }
    const retry = outcome.ok
      ? undefined
      : retryDelayMs(d.attempts + 1, this.opts.retryBaseMs, this.opts.maxAttempts);
    const state = await this.store.recordAttempt(d, outcome, retry);
    const fields = {
      delivery: d.id,
      webhook: d.webhookId,
      event: d.event,
      attempt: d.attempts + 1,
      status: outcome.statusCode,
      ms: Math.round(outcome.durationMs),
    };
    if (state === 'failed')
      this.opts.log.warn({ ...fields, error: outcome.error }, 'webhook delivery failed for good');
    else if (state === 'pending')
      this.opts.log.debug(
        { ...fields, error: outcome.error, retryInMs: retry },
        'webhook delivery will be retried',
      );
    else this.opts.log.debug(fields, 'webhook delivered');
  }
}
