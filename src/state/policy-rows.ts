// Policy rules as rows: read by kind, and replaced by kind in one transaction (what `ledger
// apply` and the API's PUT do: the instance's rules of that kind become exactly the given ones).
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

export interface PolicyRow {
  repositories: string;
  /** The rule's settings besides its repositories (parsed JSON). */
  rule: Record<string, unknown>;
}

export async function policyRows(db: Kysely<Database>, kind: string): Promise<PolicyRow[]> {
  const rows = await db
    .selectFrom('policies')
    .select(['repositories', 'rule'])
    .where('kind', '=', kind)
    .orderBy('repositories')
    .execute();
  return rows.map((r) => ({
    repositories: r.repositories,
    rule: JSON.parse(r.rule) as Record<string, unknown>,
  }));
}

export async function replacePolicyRows(
  db: Kysely<Database>,
  kind: string,
  rows: PolicyRow[],
): Promise<void> {
  const at = new Date().toISOString();
  await db.transaction().execute(async (trx) => {
    await trx.deleteFrom('policies').where('kind', '=', kind).execute();
    for (const r of rows)
      await trx
        .insertInto('policies')
        .values({ kind, repositories: r.repositories, rule: JSON.stringify(r.rule), created_at: at })
        .execute();
  });
}
