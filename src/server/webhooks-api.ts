// Webhooks over HTTP, for admins (each route declares it): subscriptions, a test ping,
// each webhook's deliveries with every attempt, and redelivery. The secret is returned once, by
// create; later reads never carry it.
import type { FastifyPluginAsync, FastifySchema } from 'fastify';
import { EVENT_NAMES } from '../webhooks/events.js';
import { WebhookError, type WebhookInput, type WebhookStore } from '../webhooks/store.js';
import { HttpError } from './envelope.js';
import { ADMINS } from '../http/access.js';

const nullable = (type: string) => ({ type: [type, 'null'] });
/** A route's schema with the summary openapi.ts puts in the document. */
const op = (summary: string, schema: FastifySchema): FastifySchema =>
  ({ summary, ...schema }) as FastifySchema;

const webhookProps = {
  id: { type: 'string' },
  url: { type: 'string' },
  events: { type: 'array', items: { type: 'string', enum: [...EVENT_NAMES] } },
  repositories: { ...nullable('string'), description: 'repository pattern; null: every repository' },
  enabled: { type: 'boolean' },
  description: nullable('string'),
  createdAt: { type: 'string' },
  updatedAt: { type: 'string' },
} as const;
const webhook = {
  type: 'object',
  required: Object.keys(webhookProps),
  properties: webhookProps,
} as const;
const created = {
  type: 'object',
  description: 'The webhook with its secret: the only time the secret is shown',
  required: [...Object.keys(webhookProps), 'secret'],
  properties: { ...webhookProps, secret: { type: 'string' } },
} as const;

const attempt = {
  type: 'object',
  required: ['attempt', 'startedAt', 'durationMs', 'statusCode', 'error', 'responseExcerpt'],
  properties: {
    attempt: { type: 'integer' },
    startedAt: { type: 'string' },
    durationMs: { type: 'integer' },
    statusCode: nullable('integer'),
    error: nullable('string'),
    responseExcerpt: { ...nullable('string'), description: "the first KiB of the answer's body" },
  },
} as const;
const deliveryProps = {
  id: { type: 'string' },
  webhookId: { type: 'string' },
  eventId: { type: 'string', description: 'the CloudEvent id (kept by a redelivery)' },
  event: { type: 'string', enum: [...EVENT_NAMES, 'ping'] },
  subject: { type: 'string' },
  state: { type: 'string', enum: ['pending', 'delivering', 'succeeded', 'failed'] },
  nextAttemptAt: nullable('string'),
  redeliveryOf: nullable('string'),
  createdAt: { type: 'string' },
  finishedAt: nullable('string'),
  attempts: { type: 'array', items: attempt },
} as const;
const delivery = { type: 'object', required: Object.keys(deliveryProps), properties: deliveryProps } as const;
const deliveryWithPayload = {
  type: 'object',
  required: [...Object.keys(deliveryProps), 'payload'],
  properties: {
    ...deliveryProps,
    payload: { type: 'string', description: 'the exact body sent: a CloudEvent in JSON' },
  },
} as const;
const queued = {
  type: 'object',
  description: 'Queued: the delivery to follow in the deliveries list',
  required: ['deliveryId'],
  properties: { deliveryId: { type: 'string' } },
} as const;

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 32 } },
} as const;
const deliveryParams = {
  type: 'object',
  required: ['id', 'deliveryId'],
  properties: {
    id: { type: 'string', minLength: 1, maxLength: 32 },
    deliveryId: { type: 'string', minLength: 1, maxLength: 64 },
  },
} as const;

const inputProps = {
  url: { type: 'string', minLength: 1, maxLength: 2048, pattern: '^https?://' },
  events: {
    type: 'array',
    minItems: 1,
    uniqueItems: true,
    items: { type: 'string', enum: [...EVENT_NAMES] },
  },
  repositories: {
    ...nullable('string'),
    maxLength: 255,
    description: 'only repository events whose repository matches (team/app, team/*, team/**)',
  },
  secret: {
    type: 'string',
    minLength: 16,
    maxLength: 255,
    description: 'the HMAC key; generated when not given',
  },
  enabled: { type: 'boolean' },
  description: { ...nullable('string'), maxLength: 255 },
} as const;

/**
 * The store's refusals are the client's mistakes (an internal target is WEBHOOK_TARGET_REFUSED,
 * with the address and its class as detail); an unknown id is a 404.
 */
async function asClientError<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof WebhookError)
      throw new HttpError(err.notFound ? 404 : 400, err.code, err.message, err.detail);
    throw err;
  }
}

export interface WebhooksApiOptions {
  store: WebhookStore;
  /** CloudEvents source for pings. */
  source: () => string;
  /** Tells the worker a delivery was queued. */
  kick: () => void;
}

export const webhooksApi: FastifyPluginAsync<WebhooksApiOptions> = async (app, { store, source, kick }) => {
  // Webhooks send the registry's events where their URL says: admins only.
  app.get(
    '/api/v1/webhooks',
    {
      ...ADMINS,
      schema: op('List webhooks (never with their secrets)', {
        response: {
          200: {
            type: 'object',
            required: ['webhooks'],
            properties: { webhooks: { type: 'array', items: webhook } },
          },
        },
      }),
    },
    async () => ({ webhooks: await store.list() }),
  );

  app.post<{ Body: WebhookInput }>(
    '/api/v1/webhooks',
    {
      ...ADMINS,
      schema: op('Create a webhook; the answer holds its secret, shown this once', {
        body: {
          type: 'object',
          required: ['url', 'events'],
          additionalProperties: false,
          properties: inputProps,
        },
        response: { 201: created },
      }),
    },
    async (req, reply) => {
      const { webhook: w, secret } = await asClientError(() => store.create(req.body));
      return reply.code(201).send({ ...w, secret });
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/webhooks/:id',
    { ...ADMINS, schema: op('One webhook', { params: idParams, response: { 200: webhook } }) },
    async (req) => asClientError(() => store.get(req.params.id)),
  );

  app.patch<{ Params: { id: string }; Body: Partial<WebhookInput> }>(
    '/api/v1/webhooks/:id',
    {
      ...ADMINS,
      schema: op('Change a webhook: URL, events, repository pattern, secret, enabled, description', {
        params: idParams,
        body: { type: 'object', additionalProperties: false, properties: inputProps },
        response: { 200: webhook },
      }),
    },
    async (req) => asClientError(() => store.update(req.params.id, req.body ?? {})),
  );

  app.delete<{ Params: { id: string } }>(
    '/api/v1/webhooks/:id',
    {
      ...ADMINS,
      schema: op('Delete a webhook with its deliveries', {
        params: idParams,
        response: { 204: { type: 'null', description: 'Deleted' } },
      }),
    },
    async (req, reply) => {
      await asClientError(() => store.delete(req.params.id));
      return reply.code(204).send();
    },
  );

  app.post<{ Params: { id: string } }>(
    '/api/v1/webhooks/:id/ping',
    {
      ...ADMINS,
      schema: op('Queue a test event (io.opencloud.webhook.ping) to this webhook', {
        params: idParams,
        response: { 202: queued },
      }),
    },
    async (req, reply) => {
      const deliveryId = await asClientError(() => store.ping(req.params.id, source()));
      kick();
      return reply.code(202).send({ deliveryId });
    },
  );

  app.get<{ Params: { id: string }; Querystring: { limit?: number; before?: string } }>(
    '/api/v1/webhooks/:id/deliveries',
    {
      ...ADMINS,
      schema: op("A webhook's deliveries, newest first, each with every attempt", {
        params: idParams,
        querystring: {
          type: 'object',
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: 500 },
            before: { type: 'string', description: 'createdAt of the last delivery of the previous page' },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['deliveries'],
            properties: { deliveries: { type: 'array', items: delivery } },
          },
        },
      }),
    },
    async (req) => ({
      deliveries: await asClientError(() =>
        store.deliveries(req.params.id, req.query.limit ?? 50, req.query.before),
      ),
    }),
  );

  app.get<{ Params: { id: string; deliveryId: string } }>(
    '/api/v1/webhooks/:id/deliveries/:deliveryId',
    {
      ...ADMINS,
      schema: op('One delivery with its attempts and the exact body sent', {
        params: deliveryParams,
        response: { 200: deliveryWithPayload },
      }),
    },
    async (req) => asClientError(() => store.delivery(req.params.id, req.params.deliveryId)),
  );

  app.post<{ Params: { id: string; deliveryId: string } }>(
    '/api/v1/webhooks/:id/deliveries/:deliveryId/redeliver',
    {
      ...ADMINS,
      schema: op('Send a delivery again: a new delivery with the same body (and CloudEvent id)', {
        params: deliveryParams,
        response: { 202: queued },
      }),
    },
    async (req, reply) => {
      const deliveryId = await asClientError(() => store.redeliver(req.params.id, req.params.deliveryId));
      kick();
      return reply.code(202).send({ deliveryId });
    },
  );
};
