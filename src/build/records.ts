// Build records in the StateStore: definition, state, images, digest, error, a capped log and
// (once finished) the build's events, so a late subscriber or a repeat has everything.
import { withoutNul, type StateStore } from '../state/store.js';
import type { BuildDefinition } from './definition.js';
import type { BuildEvent, BuildState } from './events.js';

export interface BuildRecord {
  id: string;
  state: BuildState;
  definition: BuildDefinition;
  images: string[];
  digest: string | null;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** The BuildKit daemon it ran on, once placed (`unix:///…` or `tcp://…`). */
  worker: string | null;
  /** The user who asked for it; null when authentication was off. */
  requestedBy: string | null;
}

/** History filters: builds in one of these states, of one repository. */
export interface BuildFilter {
  states?: BuildState[];
  repository?: string;
}

const LOG_CAP = 1024 * 1024;
/** The columns of a build record (the log and events are read on their own). */
const COLUMNS = [
  'id',
  'state',
  'definition',
  'images',
  'digest',
  'error',
  'created_at',
  'started_at',
  'finished_at',
  'worker',
  'requested_by',
] as const;

/** Keeps the end of a log (where the error is) within the cap. */
export function capLog(log: string): string {
  if (log.length <= LOG_CAP) return log;
  const cut = log.slice(log.length - LOG_CAP);
  return `[… ${log.length - LOG_CAP} earlier characters dropped …]\n${cut.slice(cut.indexOf('\n') + 1)}`;
}

const now = () => new Date().toISOString();

export class BuildRecords {
  constructor(private readonly state: StateStore) {}

  private get db() {
    return this.state.db;
  }

  async insert(
    id: string,
    definition: BuildDefinition,
    images: string[],
    requestedBy: string | null = null,
  ): Promise<void> {
    await this.db
      .insertInto('builds')
      .values({
        id,
        state: 'queued',
        definition: JSON.stringify(definition),
        repository: definition.repository,
        images: JSON.stringify(images),
        log: '',
        created_at: now(),
        requested_by: requestedBy,
      })
      .execute();
  }

  async started(id: string, worker: string): Promise<void> {
    await this.db
      .updateTable('builds')
      .set({ state: 'running', started_at: now(), worker })
      .where('id', '=', id)
      .execute();
  }

  async finished(
    id: string,
    result: { state: BuildState; digest?: string; error?: string; log: string; events: BuildEvent[] },
  ): Promise<void> {
    await this.db
      .updateTable('builds')
      .set({
        state: result.state,
        digest: result.digest ?? null,
        // A build's output may hold a NUL character, which PostgreSQL refuses in text.
        log: withoutNul(capLog(result.log)),
        error: result.error === undefined ? null : withoutNul(result.error),
        events: JSON.stringify(result.events),
        finished_at: now(),
      })
      .where('id', '=', id)
      .execute();
  }

  /** Builds a previous process left queued or running can never finish: they failed. */
  async failInterrupted(reason: string): Promise<number> {
    const r = await this.db
      .updateTable('builds')
      .set({ state: 'failed', error: reason, finished_at: now() })
      .where('state', 'in', ['queued', 'running'])
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /** Builds queued or running of one requester (null: those without a signed-in user), on every node. */
  async countActive(requestedBy: string | null): Promise<number> {
    let q = this.db
      .selectFrom('builds')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('state', 'in', ['queued', 'running']);
    q =
      requestedBy === null ? q.where('requested_by', 'is', null) : q.where('requested_by', '=', requestedBy);
    return Number((await q.executeTakeFirstOrThrow()).n);
  }

  async get(id: string): Promise<BuildRecord | undefined> {
    const r = await this.db.selectFrom('builds').select(COLUMNS).where('id', '=', id).executeTakeFirst();
    return r && toRecord(r);
  }

  /** Newest first; `before` is a created_at cursor from the previous page. */
  async list(limit: number, before?: string, filter: BuildFilter = {}): Promise<BuildRecord[]> {
    let q = this.db
      .selectFrom('builds')
      .select(COLUMNS)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit);
    if (before) q = q.where('created_at', '<', before);
    if (filter.states?.length) q = q.where('state', 'in', filter.states);
    if (filter.repository) q = q.where('repository', '=', filter.repository);
    return (await q.execute()).map(toRecord);
  }

  async log(id: string): Promise<string | undefined> {
    return (await this.db.selectFrom('builds').select('log').where('id', '=', id).executeTakeFirst())?.log;
  }

  async events(id: string): Promise<BuildEvent[] | undefined> {
    const r = await this.db.selectFrom('builds').select('events').where('id', '=', id).executeTakeFirst();
    return r?.events ? (JSON.parse(r.events) as BuildEvent[]) : undefined;
  }
}

function toRecord(r: {
  id: string;
  state: BuildState;
  definition: string;
  images: string;
  digest: string | null;
  error: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  worker: string | null;
  requested_by: string | null;
}): BuildRecord {
  return {
    id: r.id,
    state: r.state,
    definition: JSON.parse(r.definition) as BuildDefinition,
    images: JSON.parse(r.images) as string[],
    digest: r.digest,
    error: r.error,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    worker: r.worker,
    requestedBy: r.requested_by,
  };
}
