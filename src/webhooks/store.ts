// Webhooks in the StateStore: subscriptions, the delivery queue and every attempt. The queue is
// the database (a restart resumes what was pending; several nodes share it): a node claims a
// due delivery with a conditional update and a lease, so a node that dies mid-attempt gives it
// back when the lease runs out. The secret is stored as given (the server signs with it) and
// only ever returned by create. A URL is checked against the outbound guard when it is saved
// (refused when it resolves to an internal address that webhooks.allowedHosts does not open).
import { randomBytes, randomUUID } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import { checkPattern } from '../auth/store.js';
import { matchesPattern } from '../auth/patterns.js';
import { OutboundRefused } from '../lib/outbound.js';
import type { Database, WebhookDeliveriesTable } from '../state/schema.js';
import { withoutNul, type StateStore } from '../state/store.js';
import { pingEvent, toCloudEvent } from './cloudevent.js';
import { EVENT_NAMES, eventRepository, PING, type EventName, type OpenCloudEvent } from './events.js';
import { generateSecret } from './signing.js';
import type { WebhookTargets } from './targets.js';

/** A refused change (bad URL, unknown event, bad pattern, internal target) or an unknown webhook. */
export class WebhookError extends Error {
  constructor(
    message: string,
    readonly notFound = false,
    /** The API's error code. */
    readonly code = notFound ? 'WEBHOOK_UNKNOWN' : 'WEBHOOK_INVALID',
    /** What the API adds as the error's detail. */
    readonly detail?: Record<string, string>,
  ) {
    super(message);
    this.name = 'WebhookError';
  }
}

export interface Webhook {
  id: string;
  url: string;
  events: EventName[];
  /** A repository pattern (`team/*`, `team/**`) narrowing repository events; null: all. */
  repositories: string | null;
  enabled: boolean;
  description: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface WebhookInput {
  url: string;
  events: string[];
  repositories?: string | null;
  secret?: string;
  enabled?: boolean;
  description?: string | null;
}

export interface Attempt {
  attempt: number;
  startedAt: string;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
  /** The first KiB of the answer's body. */
  responseExcerpt: string | null;
}

export type DeliveryState = WebhookDeliveriesTable['state'];

export interface Delivery {
  id: string;
  webhookId: string;
  eventId: string;
  /** push, delete, build.finished, service.changed or ping. */
  event: string;
  subject: string;
  state: DeliveryState;
  nextAttemptAt: string | null;
  redeliveryOf: string | null;
  createdAt: string;
  finishedAt: string | null;
  attempts: Attempt[];
}

/** A claimed delivery with what sending it needs. */
export interface DueDelivery {
  id: string;
  webhookId: string;
  event: string;
  payload: string;
  attempts: number;
  url: string;
  secret: string;
  enabled: boolean;
}

/** What one attempt came to, as the sender saw it. */
export interface AttemptOutcome {
  startedAt: string;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
  responseExcerpt: string | null;
  ok: boolean;
}

const now = () => new Date().toISOString();
const later = (ms: number) => new Date(Date.now() + ms).toISOString();

function checkUrl(url: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new WebhookError(`"${url}" is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new WebhookError(`a webhook URL is http:// or https://, not ${u.protocol}`);
  if (u.username || u.password)
    throw new WebhookError('a webhook URL carries no credentials: receivers check the signature');
  if (url.length > 2048) throw new WebhookError('a webhook URL is at most 2048 characters');
}

function checkEvents(events: string[]): EventName[] {
  if (events.length === 0) throw new WebhookError(`name at least one event: ${EVENT_NAMES.join(', ')}`);
  for (const e of events) {
    if (!(EVENT_NAMES as readonly string[]).includes(e))
      throw new WebhookError(`"${e}" is not an event; events: ${EVENT_NAMES.join(', ')}`);
  }
  return [...new Set(events)] as EventName[];
}

function checkRepositories(pattern: string | null | undefined): string | null {
  if (pattern === undefined || pattern === null || pattern === '') return null;
  try {
    checkPattern(pattern);
  } catch (err) {
    throw new WebhookError((err as Error).message);
  }
  return pattern;
}

function checkSecret(secret: string): void {
  if (secret.length < 16 || secret.length > 255)
    throw new WebhookError('a webhook secret has 16 to 255 characters');
}

type WebhookRow = Selectable<Database['webhooks']>;
type DeliveryRow = Selectable<Database['webhook_deliveries']>;

function toWebhook(r: WebhookRow): Webhook {
  return {
    id: r.id,
    url: r.url,
    events: JSON.parse(r.events) as EventName[],
    repositories: r.repositories,
    enabled: Boolean(r.enabled),
    description: r.description,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** Whether a webhook wants an event: subscribed to its name, and its repository matches. */
export function wants(w: Pick<Webhook, 'events' | 'repositories' | 'enabled'>, e: OpenCloudEvent): boolean {
  if (!w.enabled || !w.events.includes(e.name)) return false;
  const repository = eventRepository(e);
  // A pattern narrows repository events; events about no repository (services) still come.
  return w.repositories === null || repository === undefined || matchesPattern(w.repositories, repository);
}

export class WebhookStore {
  constructor(
    private readonly state: StateStore,
    /** Where webhooks may send; the worker checks each attempt with the same. */
    readonly targets: WebhookTargets,
  ) {}

  /** Refuses a URL the worker would refuse to send to (WEBHOOK_TARGET_REFUSED). */
  private async checkTarget(url: string): Promise<void> {
    try {
      await this.targets.check(url);
    } catch (err) {
      if (!(err instanceof OutboundRefused)) throw err;
      const code = err.reason === 'unresolved' ? 'WEBHOOK_TARGET_UNRESOLVED' : 'WEBHOOK_TARGET_REFUSED';
      const detail =
        err.address && err.addressClass
          ? { address: err.address, addressClass: err.addressClass }
          : undefined;
      throw new WebhookError(err.message, false, code, detail);
    }
  }

  private get db(): Kysely<Database> {
    return this.state.db;
  }

  // --- subscriptions ---

  async create(input: WebhookInput): Promise<{ webhook: Webhook; secret: string }> {
    checkUrl(input.url);
    const events = checkEvents(input.events);
    const repositories = checkRepositories(input.repositories);
    const secret = input.secret ?? generateSecret();
    checkSecret(secret);
    await this.checkTarget(input.url);
    const at = now();
    const id = randomBytes(8).toString('hex');
    await this.db
      .insertInto('webhooks')
      .values({
        id,
        url: input.url,
        events: JSON.stringify(events),
        repositories,
        secret,
        enabled: input.enabled === false ? 0 : 1,
        description: input.description ?? null,
        created_at: at,
        updated_at: at,
      })
      .execute();
    return { webhook: await this.get(id), secret };
  }

  async list(): Promise<Webhook[]> {
    const rows = await this.db
      .selectFrom('webhooks')
      .selectAll()
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(toWebhook);
  }

  async get(id: string): Promise<Webhook> {
    const row = await this.db.selectFrom('webhooks').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new WebhookError(`no webhook ${id}`, true);
    return toWebhook(row);
  }

  /** Changes what is given; a new secret replaces the old one (the caller chose it). */
  async update(id: string, change: Partial<WebhookInput>): Promise<Webhook> {
    await this.get(id);
    const set: Partial<WebhookRow> = { updated_at: now() };
    if (change.url !== undefined) checkUrl(change.url);
    if (change.events !== undefined) set.events = JSON.stringify(checkEvents(change.events));
    if (change.repositories !== undefined) set.repositories = checkRepositories(change.repositories);
    if (change.secret !== undefined) {
      checkSecret(change.secret);
      set.secret = change.secret;
    }
    // Last: the cheap checks answer first, and resolving is the only slow one.
    if (change.url !== undefined) {
      await this.checkTarget(change.url);
      set.url = change.url;
    }
    if (change.enabled !== undefined) set.enabled = change.enabled ? 1 : 0;
    if (change.description !== undefined) set.description = change.description;
    await this.db.updateTable('webhooks').set(set).where('id', '=', id).execute();
    return this.get(id);
  }

  /** Deletes the webhook with its deliveries and their attempts. */
  async delete(id: string): Promise<void> {
    await this.get(id);
    await this.db.transaction().execute(async (trx) => {
      // Spelled out as well as cascaded: SQLite cascades only with foreign_keys on.
      const ids = trx.selectFrom('webhook_deliveries').select('id').where('webhook_id', '=', id);
      await trx.deleteFrom('webhook_attempts').where('delivery_id', 'in', ids).execute();
      await trx.deleteFrom('webhook_deliveries').where('webhook_id', '=', id).execute();
      await trx.deleteFrom('webhooks').where('id', '=', id).execute();
    });
  }

  // --- the queue ---

  /**
   * Queues the event for every enabled webhook that wants it, due at once; resolves to the
   * delivery ids (none: nobody subscribed).
   */
  async enqueue(event: OpenCloudEvent, source: string): Promise<string[]> {
    const hooks = (await this.db.selectFrom('webhooks').selectAll().where('enabled', '=', 1).execute())
      .map(toWebhook)
      .filter((w) => wants(w, event));
    if (hooks.length === 0) return [];
    const payload = JSON.stringify(toCloudEvent(event, source));
    const at = now();
    const rows = hooks.map((w) => ({
      id: randomUUID(),
      webhook_id: w.id,
      event_id: event.id,
      event_type: event.name,
      subject: event.subject,
      payload,
      state: 'pending' as const,
      attempts: 0,
      next_attempt_at: at,
      lease_until: null,
      redelivery_of: null,
      created_at: at,
      finished_at: null,
    }));
    await this.db.insertInto('webhook_deliveries').values(rows).execute();
    return rows.map((r) => r.id);
  }

  /** Queues a test event for one webhook, whatever it subscribes to. */
  async ping(webhookId: string, source: string): Promise<string> {
    await this.get(webhookId);
    const eventId = randomUUID();
    const id = randomUUID();
    const at = now();
    await this.db
      .insertInto('webhook_deliveries')
      .values({
        id,
        webhook_id: webhookId,
        event_id: eventId,
        event_type: PING,
        subject: webhookId,
        payload: JSON.stringify(pingEvent(eventId, source, webhookId)),
        state: 'pending',
        attempts: 0,
        next_attempt_at: at,
        lease_until: null,
        redelivery_of: null,
        created_at: at,
        finished_at: null,
      })
      .execute();
    return id;
  }

  /** Queues a delivery again as a new one with the same body (same event id: receivers dedupe). */
  async redeliver(webhookId: string, deliveryId: string): Promise<string> {
    const d = await this.deliveryRow(webhookId, deliveryId);
    const id = randomUUID();
    const at = now();
    await this.db
      .insertInto('webhook_deliveries')
      .values({
        ...d,
        id,
        state: 'pending',
        attempts: 0,
        next_attempt_at: at,
        lease_until: null,
        redelivery_of: d.id,
        created_at: at,
        finished_at: null,
      })
      .execute();
    return id;
  }

  /**
   * Claims up to `limit` due deliveries (pending and due, or leased by an attempt whose lease
   * ran out) for `leaseMs`, at most one per webhook and none of the webhooks in `busy` (those
   * this node is sending to already: a receiver that hangs holds one slot, not all of them).
   * Each claim is a conditional update: another node's claim wins.
   */
  async claim(limit: number, leaseMs: number, busy: readonly string[] = []): Promise<DueDelivery[]> {
    if (limit <= 0) return [];
    const at = now();
    let q = this.db
      .selectFrom('webhook_deliveries')
      .select(['id', 'webhook_id'])
      .where((eb) =>
        eb.or([
          eb.and([eb('state', '=', 'pending'), eb('next_attempt_at', '<=', at)]),
          eb.and([eb('state', '=', 'delivering'), eb('lease_until', '<', at)]),
        ]),
      )
      .orderBy('next_attempt_at')
      .limit(limit * 10);
    if (busy.length > 0) q = q.where('webhook_id', 'not in', [...busy]);
    const taken = new Set<string>();
    const candidates = (await q.execute()).filter((c) => {
      if (taken.has(c.webhook_id) || taken.size >= limit) return false;
      taken.add(c.webhook_id);
      return true;
    });
    const claimed: DueDelivery[] = [];
    for (const { id } of candidates) {
      const res = await this.db
        .updateTable('webhook_deliveries')
        .set({ state: 'delivering', lease_until: later(leaseMs) })
        .where('id', '=', id)
        .where((eb) =>
          eb.or([
            eb.and([eb('state', '=', 'pending'), eb('next_attempt_at', '<=', at)]),
            eb.and([eb('state', '=', 'delivering'), eb('lease_until', '<', at)]),
          ]),
        )
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) continue;
      const row = await this.db
        .selectFrom('webhook_deliveries')
        .innerJoin('webhooks', 'webhooks.id', 'webhook_deliveries.webhook_id')
        .select([
          'webhook_deliveries.id',
          'webhook_deliveries.webhook_id',
          'webhook_deliveries.event_type',
          'webhook_deliveries.payload',
          'webhook_deliveries.attempts',
          'webhooks.url',
          'webhooks.secret',
          'webhooks.enabled',
        ])
        .where('webhook_deliveries.id', '=', id)
        .executeTakeFirst();
      if (!row) continue; // its webhook was deleted meanwhile
      claimed.push({
        id: row.id,
        webhookId: row.webhook_id,
        event: row.event_type,
        payload: row.payload,
        attempts: Number(row.attempts),
        url: row.url,
        secret: row.secret,
        enabled: Boolean(row.enabled),
      });
    }
    return claimed;
  }

  /**
   * Records an attempt and settles the delivery: succeeded, failed for good, or pending again
   * after `retryInMs` (undefined: no attempts left).
   */
  async recordAttempt(
    d: DueDelivery,
    outcome: AttemptOutcome,
    retryInMs: number | undefined,
  ): Promise<DeliveryState> {
    const attempt = d.attempts + 1;
    const state: DeliveryState = outcome.ok ? 'succeeded' : retryInMs === undefined ? 'failed' : 'pending';
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('webhook_attempts')
        .values({
          delivery_id: d.id,
          attempt,
          started_at: outcome.startedAt,
          duration_ms: Math.round(outcome.durationMs),
          status_code: outcome.statusCode,
          // The receiver's answer is arbitrary bytes: no NUL (PostgreSQL refuses it in text).
          error: outcome.error === null ? null : withoutNul(outcome.error),
          response_excerpt: outcome.responseExcerpt === null ? null : withoutNul(outcome.responseExcerpt),
        })
        .onConflict((oc) => oc.columns(['delivery_id', 'attempt']).doNothing())
        .execute();
      await trx
        .updateTable('webhook_deliveries')
        .set({
          state,
          attempts: attempt,
          lease_until: null,
          next_attempt_at: state === 'pending' ? later(retryInMs as number) : null,
          finished_at: state === 'pending' ? null : now(),
        })
        .where('id', '=', d.id)
        .execute();
    });
    return state;
  }

  /** Gives a claimed delivery back untried (the server is stopping). */
  async release(id: string): Promise<void> {
    await this.db
      .updateTable('webhook_deliveries')
      .set({ state: 'pending', lease_until: null })
      .where('id', '=', id)
      .where('state', '=', 'delivering')
      .execute();
  }

  /** When the next pending delivery is due (ms from now, at least 0); undefined: none. */
  async nextDueInMs(): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('webhook_deliveries')
      .select((eb) => eb.fn.min('next_attempt_at').as('at'))
      .where('state', '=', 'pending')
      .executeTakeFirst();
    const at = row?.at as string | null | undefined;
    return at ? Math.max(0, Date.parse(at) - Date.now()) : undefined;
  }

  // --- reading deliveries ---

  /** A webhook's deliveries, newest first, each with its attempts. */
  async deliveries(webhookId: string, limit = 50, before?: string): Promise<Delivery[]> {
    await this.get(webhookId);
    let q = this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('webhook_id', '=', webhookId)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit);
    if (before !== undefined) q = q.where('created_at', '<', before);
    return this.withAttempts(await q.execute());
  }

  async delivery(webhookId: string, deliveryId: string): Promise<Delivery & { payload: string }> {
    const row = await this.deliveryRow(webhookId, deliveryId);
    const [d] = await this.withAttempts([row]);
    return { ...(d as Delivery), payload: row.payload };
  }

  private async deliveryRow(webhookId: string, deliveryId: string): Promise<DeliveryRow> {
    const row = await this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('webhook_id', '=', webhookId)
      .where('id', '=', deliveryId)
      .executeTakeFirst();
    if (!row) throw new WebhookError(`no delivery ${deliveryId} of webhook ${webhookId}`, true);
    return row;
  }

  private async withAttempts(rows: DeliveryRow[]): Promise<Delivery[]> {
    if (rows.length === 0) return [];
    const attempts = await this.db
      .selectFrom('webhook_attempts')
      .selectAll()
      .where(
        'delivery_id',
        'in',
        rows.map((r) => r.id),
      )
      .orderBy('attempt')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      webhookId: r.webhook_id,
      eventId: r.event_id,
      event: r.event_type,
      subject: r.subject,
      state: r.state,
      nextAttemptAt: r.next_attempt_at,
      redeliveryOf: r.redelivery_of,
      createdAt: r.created_at,
      finishedAt: r.finished_at,
      attempts: attempts
        .filter((a) => a.delivery_id === r.id)
        .map((a) => ({
          attempt: Number(a.attempt),
          startedAt: a.started_at,
          durationMs: Number(a.duration_ms),
          statusCode: a.status_code === null ? null : Number(a.status_code),
          error: a.error,
          responseExcerpt: a.response_excerpt,
        })),
    }));
  }
}
