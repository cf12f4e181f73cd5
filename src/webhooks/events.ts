// The events webhooks carry, and the in-process bus that the registry, the build service and
// the installer runs emit them on. Emitting is synchronous and cheap: listeners only queue the
// event (the dispatcher writes it to the database off the request's path), and a listener that
// throws is logged, never passed back to the emitter.
import { randomUUID } from 'node:crypto';

/** What a webhook may subscribe to. */
export const EVENT_NAMES = ['push', 'delete', 'build.finished', 'service.changed'] as const;
export type EventName = (typeof EVENT_NAMES)[number];
/** A test delivery sent on request to one webhook (never subscribed to). */
export const PING = 'ping';

/** CloudEvents `type` of each event name. */
export const CLOUDEVENT_TYPES: Record<EventName | typeof PING, string> = {
  push: 'io.opencloud.registry.push',
  delete: 'io.opencloud.registry.delete',
  'build.finished': 'io.opencloud.build.finished',
  'service.changed': 'io.opencloud.service.changed',
  ping: 'io.opencloud.webhook.ping',
};

export interface PushData {
  repository: string;
  /** The first tag the push set (null for a push by digest without ?tag=). */
  tag: string | null;
  tags: string[];
  digest: string;
  mediaType: string;
  artifactType: string | null;
  size: number;
  /** Who pushed: a user name, "anonymous", or null with authentication off. */
  actor: string | null;
}

export interface DeleteData {
  repository: string;
  /** Set when a tag was removed (the manifest stays). */
  tag: string | null;
  /** The manifest deleted (with every tag on it), or the one the removed tag pointed at. */
  digest: string | null;
  actor: string | null;
}

export interface BuildFinishedData {
  buildId: string;
  state: 'succeeded' | 'failed' | 'canceled';
  repository: string;
  tags: string[];
  images: string[];
  digest: string | null;
  error: string | null;
  actor: string | null;
}

export interface ServiceChangedData {
  service: string;
  action: 'enable' | 'disable';
  outcome: 'ok' | 'failed';
  /** The service's state in the ledger after the run. */
  state: 'enabled' | 'disabled' | null;
  runId: string;
  recap: { ok: number; changed: number; failed: number; skipped: number } | null;
  actor: string | null;
}

interface Shape<N extends EventName, D> {
  name: N;
  /** CloudEvents subject: repository:tag, repository@digest, a build id, a service name. */
  subject: string;
  data: D;
}

export type EventInput =
  | Shape<'push', PushData>
  | Shape<'delete', DeleteData>
  | Shape<'build.finished', BuildFinishedData>
  | Shape<'service.changed', ServiceChangedData>;

/** An event as emitted: its input plus a unique id and the time it happened. */
export type OpenCloudEvent = EventInput & { id: string; time: string };

/** The repository an event concerns, for a webhook's repository pattern (none for services). */
export function eventRepository(e: EventInput): string | undefined {
  return 'repository' in e.data ? e.data.repository : undefined;
}

export type EventListener = (event: OpenCloudEvent) => void;

export class EventBus {
  private readonly listeners: EventListener[] = [];

  constructor(private readonly onListenerError: (err: unknown) => void = () => undefined) {}

  on(listener: EventListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Stamps the event with an id and time and hands it to every listener; never throws. */
  emit(input: EventInput): OpenCloudEvent {
    const event = { ...input, id: randomUUID(), time: new Date().toISOString() } as OpenCloudEvent;
    for (const l of this.listeners) {
      try {
        l(event);
      } catch (err) {
        this.onListenerError(err);
      }
    }
    return event;
  }
}
