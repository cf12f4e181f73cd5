// Writes when manifests were last pulled: one transaction per batch, one upsert per manifest
// that keeps the later of the stored time and the new one (two nodes flushing out of order never
// move a time back). A manifest deleted since its pull is skipped, not an error.
import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.js';

export interface Pull {
  repository: string;
  digest: string;
  /** ISO 8601. */
  at: string;
}

export async function recordPulls(db: Kysely<Database>, pulls: Pull[]): Promise<void> {
  if (pulls.length === 0) return;
  await db.transaction().execute(async (trx) => {
    for (const p of pulls) {
      await trx
        .insertInto('manifest_pulls')
        .columns(['repository_id', 'digest', 'pulled_at'])
        .expression((eb) =>
          eb
            .selectFrom('manifests')
            .innerJoin('repositories', 'repositories.id', 'manifests.repository_id')
            .select([
              'manifests.repository_id',
              'manifests.digest',
              // A typed value: PostgreSQL cannot infer a bare parameter's type in a select list.
              sql<string>`cast(${p.at} as text)`.as('pulled_at'),
            ])
            .where('repositories.name', '=', p.repository)
            .where('manifests.digest', '=', p.digest),
        )
        .onConflict((oc) =>
          oc
            .columns(['repository_id', 'digest'])
            .doUpdateSet({ pulled_at: (eb) => eb.ref('excluded.pulled_at') })
            .whereRef('manifest_pulls.pulled_at', '<', 'excluded.pulled_at'),
        )
        .execute();
    }
  });
}
