// The ledger's records in the StateStore: each service's state and facts, each install run with
// its events, and the artifacts an enabled service put on the host (what `disable` reverts).
import type { Artifact } from '../installer/artifacts.js';
import { artifactKey } from '../installer/artifacts.js';
import type { RunResult } from '../installer/engine.js';
import type { InstallerEvent } from '../installer/types.js';
import type { StateStore } from '../state/store.js';

export interface ServiceRecord {
  name: string;
  state: 'enabled' | 'disabled';
  options: Record<string, unknown>;
  facts: Record<string, unknown>;
  updatedAt: string;
  lastRunId: string | null;
}

export interface RunRecord {
  id: string;
  service: string;
  action: 'plan' | 'enable' | 'disable';
  status: 'running' | 'ok' | 'failed';
  options: Record<string, unknown>;
  steps: RunResult['steps'] | null;
  recap: RunResult['recap'] | null;
  startedAt: string;
  finishedAt: string | null;
}

const now = () => new Date().toISOString();

export class Ledger {
  constructor(private readonly state: StateStore) {}

  private get db() {
    return this.state.db;
  }

  async service(name: string): Promise<ServiceRecord | undefined> {
    const row = await this.db.selectFrom('services').selectAll().where('name', '=', name).executeTakeFirst();
    if (!row) return undefined;
    return {
      name: row.name,
      state: row.state,
      options: JSON.parse(row.options) as Record<string, unknown>,
      facts: JSON.parse(row.facts) as Record<string, unknown>,
      updatedAt: row.updated_at,
      lastRunId: row.last_run_id,
    };
  }

  async services(): Promise<ServiceRecord[]> {
    const names = await this.db.selectFrom('services').select('name').orderBy('name').execute();
    return (await Promise.all(names.map((r) => this.service(r.name)))) as ServiceRecord[];
  }

  async beginRun(id: string, service: string, action: RunRecord['action'], options: object): Promise<void> {
    await this.db
      .insertInto('install_runs')
      .values({ id, service, action, status: 'running', options: JSON.stringify(options), started_at: now() })
      .execute();
  }

  async appendEvent(runId: string, seq: number, event: InstallerEvent): Promise<void> {
    await this.db
      .insertInto('install_events')
      .values({ run_id: runId, seq, event: JSON.stringify(event) })
      .execute();
  }

  async events(runId: string, afterSeq = -1): Promise<{ seq: number; event: InstallerEvent }[]> {
    const rows = await this.db
      .selectFrom('install_events')
      .select(['seq', 'event'])
      .where('run_id', '=', runId)
      .where('seq', '>', afterSeq)
      .orderBy('seq')
      .execute();
    return rows.map((r) => ({ seq: r.seq, event: JSON.parse(r.event) as InstallerEvent }));
  }

  async run(id: string): Promise<RunRecord | undefined> {
    const r = await this.db.selectFrom('install_runs').selectAll().where('id', '=', id).executeTakeFirst();
    return r && toRun(r);
  }

  /** A service's runs, newest first (without their steps: `run(id)` has them). */
  async runs(service: string, limit: number): Promise<Omit<RunRecord, 'steps'>[]> {
    const rows = await this.db
      .selectFrom('install_runs')
      .selectAll()
      .where('service', '=', service)
      .orderBy('started_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => {
      const { steps: _steps, ...run } = toRun({ ...r, steps: null });
      return run;
    });
  }

  /** Artifacts of a service, oldest first. */
  async artifacts(service: string): Promise<Artifact[]> {
    const rows = await this.db
      .selectFrom('install_artifacts')
      .select('artifact')
      .where('service', '=', service)
      .orderBy('seq')
      .execute();
    return rows.map((r) => JSON.parse(r.artifact) as Artifact);
  }

  /**
   * Closes a run in one transaction. A successful enable adds its artifacts (a thing already
   * recorded keeps its first record: that one knows what was there before us), merges its facts
   * and marks the service enabled; a successful disable clears them and marks it disabled.
   */
  async finishRun(
    service: string,
    action: RunRecord['action'],
    result: RunResult,
    options: object,
    reverted: Artifact[] = [],
  ): Promise<void> {
    const ok = result.recap.failed === 0;
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('install_runs')
        .set({
          status: ok ? 'ok' : 'failed',
          steps: JSON.stringify(result.steps),
          recap: JSON.stringify(result.recap),
          finished_at: now(),
        })
        .where('id', '=', result.runId)
        .execute();
      if (action === 'plan') return;
      const prev = await trx
        .selectFrom('services')
        .selectAll()
        .where('name', '=', service)
        .executeTakeFirst();
      let seq =
        Number(
          (
            await trx
              .selectFrom('install_artifacts')
              .select((eb) => eb.fn.max('seq').as('m'))
              .where('service', '=', service)
              .executeTakeFirst()
          )?.m ?? 0,
        ) + 1;
      for (const a of action === 'enable' ? result.artifacts : []) {
        await trx
          .insertInto('install_artifacts')
          .values({
            service,
            key: artifactKey(a),
            seq: seq++,
            artifact: JSON.stringify(a),
            run_id: result.runId,
            created_at: now(),
          })
          .onConflict((oc) => oc.columns(['service', 'key']).doNothing())
          .execute();
      }
      for (const a of reverted) {
        await trx
          .deleteFrom('install_artifacts')
          .where('service', '=', service)
          .where('key', '=', artifactKey(a))
          .execute();
      }
      if (!ok && prev) return; // a failed run was rolled back: the service is as it was
      const facts =
        action === 'enable' ? { ...(prev ? (JSON.parse(prev.facts) as object) : {}), ...result.facts } : {};
      const state = ok && action === 'enable' ? 'enabled' : 'disabled';
      const row = {
        state,
        options: ok && action === 'enable' ? JSON.stringify(options) : (prev?.options ?? '{}'),
        facts: JSON.stringify(facts),
        updated_at: now(),
        last_run_id: result.runId,
      } as const;
      await trx
        .insertInto('services')
        .values({ name: service, ...row })
        .onConflict((oc) => oc.column('name').doUpdateSet(row))
        .execute();
    });
  }
}

type RunRow = {
  id: string;
  service: string;
  action: RunRecord['action'];
  status: RunRecord['status'];
  options: string;
  steps: string | null;
  recap: string | null;
  started_at: string;
  finished_at: string | null;
};

function toRun(r: RunRow): RunRecord {
  return {
    id: r.id,
    service: r.service,
    action: r.action,
    status: r.status,
    options: JSON.parse(r.options) as Record<string, unknown>,
    steps: r.steps === null ? null : (JSON.parse(r.steps) as RunResult['steps']),
    recap: r.recap === null ? null : (JSON.parse(r.recap) as RunResult['recap']),
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}
