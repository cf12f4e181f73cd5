// Wires webhooks into the server: the event bus the registry, builds and service runs announce
// on, the database-backed queue, and the worker that delivers (started when the server is ready,
// stopped before it closes). Returns the bus for the emitters.
import type { FastifyInstance } from 'fastify';
import { hostname } from 'node:os';
import type { Config } from '../config/schema.js';
import type { StateStore } from '../state/store.js';
import { WebhookDispatcher } from '../webhooks/dispatcher.js';
import { EventBus } from '../webhooks/events.js';
import { WebhookStore } from '../webhooks/store.js';
import { WebhookTargets } from '../webhooks/targets.js';
import { webhooksApi } from './webhooks-api.js';

/** The server's URL as an event source: webhooks.source, or the address it listens on. */
export function eventSource(app: FastifyInstance, config: Config, tls: boolean): string {
  if (config.webhooks.source) return config.webhooks.source;
  const a = app.server.address();
  const port = a && typeof a !== 'string' ? a.port : config.listen.port;
  let host = config.listen.host;
  if (host === '0.0.0.0' || host === '::') host = hostname();
  return `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export async function webhooks(
  app: FastifyInstance,
  config: Config,
  state: StateStore,
  tls: boolean,
): Promise<EventBus> {
  const bus = new EventBus((err) => app.log.error({ err }, 'an event listener failed'));
  const store = new WebhookStore(state, new WebhookTargets(config.webhooks.allowedHosts));
  const source = () => eventSource(app, config, tls);
  const dispatcher = new WebhookDispatcher(store, {
    concurrency: config.webhooks.concurrency,
    timeoutMs: config.webhooks.timeout * 1000,
    maxAttempts: config.webhooks.maxAttempts,
    retryBaseMs: config.webhooks.retryBaseMs,
    source,
    log: app.log,
  });
  dispatcher.listen(bus);
  app.addHook('onReady', async () => dispatcher.start());
  // Attempts in progress are cut and given back to the queue: the next start sends them.
  app.addHook('preClose', () => dispatcher.stop());
  // Events of the shutdown itself (builds it canceled, a run it waited for) are queued before
  // the database closes (lifecycle.ts closes it in a later onClose hook).
  app.addHook('onClose', async () => {
    dispatcher.detach();
    await dispatcher.flushed();
  });
  await app.register(webhooksApi, { store, source, kick: () => dispatcher.kick() });
  return bus;
}
