// When what PostgreSQL holds may have changed, for the read caches (read-cache.ts) of a node that
// shares its database with other nodes. Every write to a table a cache reads is announced by a
// trigger (migration 0014: pg_notify on the channel opencloud_state, sent at commit); this node
// listens on a connection of its own and counts the announcements. A generation is answered
// after one round trip on that connection that began after it was asked for: PostgreSQL hands a
// listening session the notifications of every transaction committed before the session reads its
// next query, and a writer's commit is acknowledged only after its notification went out, so a
// push or a delete acknowledged by any node is seen by the next request here. Requests asking
// together share one round trip. While the connection is down, each answer is new (nothing is
// kept, every read goes to the database) and it is opened again.
import pg from 'pg';
import type { Generation } from './generation.js';

export const CHANGES_CHANNEL = 'opencloud_state';
const RECONNECT_MS = 1000;

export class PgGeneration implements Generation {
  private generation = 0;
  /** The listening connection; undefined while it is being opened again. */
  private client: pg.Client | undefined;
  /** The round trip the next askers share, not yet sent. */
  private next: { promise: Promise<number>; resolve: (n: number) => void } | undefined;
  private sending = false;
  /** Counts down: a fresh answer per call while nobody listens, so no cache keeps anything. */
  private unknown = 0;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;

  private constructor(private readonly config: pg.ClientConfig) {}

  /** Listens for changes on a connection of its own, made with `config`; fails when it cannot. */
  static async open(config: pg.ClientConfig): Promise<PgGeneration> {
    const g = new PgGeneration(config);
    await g.listen();
    return g;
  }

  current(): number | Promise<number> {
    if (!this.client) return --this.unknown;
    if (!this.next) {
      let resolve!: (n: number) => void;
      const promise = new Promise<number>((r) => (resolve = r));
      this.next = { promise, resolve };
    }
    const { promise } = this.next;
    if (!this.sending) this.send();
    return promise;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private send(): void {
    const batch = this.next!;
    this.next = undefined;
    const client = this.client;
    if (!client) return batch.resolve(--this.unknown);
    this.sending = true;
    socketOf(client)?.ref();
    // Notifications are read before the answer to this query: the count is current when it resolves.
    client
      .query('select 1')
      .then(
        () => batch.resolve(this.client === client ? this.generation : --this.unknown),
        () => batch.resolve(--this.unknown),
      )
      .finally(() => {
        this.sending = false;
        socketOf(client)?.unref();
        if (this.next) this.send();
      });
  }

  private async listen(): Promise<void> {
    const client = new pg.Client(this.config);
    client.on('notification', () => this.generation++);
    const failed = () => undefined; // reported by connect() or the query below
    client.on('error', failed);
    try {
      await client.connect();
      await client.query(`listen ${CHANGES_CHANNEL}`);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    if (this.closed) return void (await client.end().catch(() => undefined));
    // Listening alone does not keep a process alive (a CLI command that forgets to close its
    // store still exits); a round trip in flight does.
    socketOf(client)?.unref();
    client.off('error', failed);
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    this.generation++; // whatever changed while nobody listened
    this.client = client;
  }

  private lost(client: pg.Client): void {
    if (this.client === client) this.client = undefined;
    client.end().catch(() => undefined);
    if (this.closed || this.retry) return;
    const again = () => {
      this.retry = undefined;
      if (this.closed || this.client) return;
      this.listen().catch(() => {
        this.retry = setTimeout(again, RECONNECT_MS);
        this.retry.unref();
      });
    };
    this.retry = setTimeout(again, RECONNECT_MS);
    this.retry.unref();
  }
}

/** The client's socket: pg keeps it as `connection.stream` (not in its types). */
function socketOf(client: pg.Client): { ref(): void; unref(): void } | undefined {
  const stream = (client as unknown as { connection?: { stream?: { ref?: () => void; unref?: () => void } } })
    .connection?.stream;
  return stream?.ref && stream.unref ? (stream as { ref(): void; unref(): void }) : undefined;
}
