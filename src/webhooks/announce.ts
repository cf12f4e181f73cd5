// Events that happen outside the server (a service run from the CLI) are queued straight into
// the database: the server's webhook worker finds them when it next looks (within seconds).
import { randomUUID } from 'node:crypto';
import type { Config } from '../config/schema.js';
import type { StateStore } from '../state/store.js';
import type { EventInput, OpenCloudEvent } from './events.js';
import { WebhookStore } from './store.js';
import { WebhookTargets } from './targets.js';

/** The event source when no server is at hand: webhooks.source, or the configured listen URL. */
export function configuredSource(config: Config): string {
  if (config.webhooks.source) return config.webhooks.source;
  const { host, port } = config.listen;
  const scheme = config.tls.cert && config.tls.key ? 'https' : 'http';
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Queues the event for its webhooks; resolves to how many deliveries that made. */
export async function announce(state: StateStore, config: Config, input: EventInput): Promise<number> {
  const event = { ...input, id: randomUUID(), time: new Date().toISOString() } as OpenCloudEvent;
  const store = new WebhookStore(state, new WebhookTargets(config.webhooks.allowedHosts));
  return (await store.enqueue(event, configuredSource(config))).length;
}
