// The audit trail in the ledger: who did what, when, from which address, and how it ended — for
// every mutation: pushes and deletes, builds, service runs, collection, users and tokens.
import type { StateStore } from '../state/store.js';

export interface AuditEntry {
  actor: string;
  address: string;
  action: string;
  target: string;
  status: number;
  detail?: Record<string, unknown>;
}

export interface AuditRecord extends AuditEntry {
  id: number;
  at: string;
}

export class AuditTrail {
  constructor(private readonly state: StateStore) {}

  async record(e: AuditEntry): Promise<void> {
    await this.state.db
      .insertInto('audit')
      .values({
        at: new Date().toISOString(),
        actor: e.actor,
        address: e.address,
        action: e.action,
        target: e.target,
        status: e.status,
        detail: e.detail ? JSON.stringify(e.detail) : null,
      })
      .execute();
  }

  /** Newest first; `before` is an id from the previous page. */
  async list(limit: number, before?: number): Promise<AuditRecord[]> {
    let q = this.state.db.selectFrom('audit').selectAll().orderBy('id', 'desc').limit(limit);
    if (before !== undefined) q = q.where('id', '<', before);
    return (await q.execute()).map((r) => ({
      id: r.id,
      at: r.at,
      actor: r.actor,
      address: r.address,
      action: r.action,
      target: r.target,
      status: r.status,
      ...(r.detail ? { detail: JSON.parse(r.detail) as Record<string, unknown> } : {}),
    }));
  }
}
