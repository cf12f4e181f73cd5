// Opens the state store on PostgreSQL (pg's Pool under kysely's PostgresDialect) and migrates it.
// Several registry nodes may open one database at once: the migrations run under a session-level
// advisory lock, so one node migrates and the others wait, then find nothing left to do.
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';
import { PgGeneration } from './pg-generation.js';
import { StateStore } from './store.js';

const POOL_SIZE = 10;
const CONNECT_TIMEOUT_MS = 10_000;
/** The key of the advisory lock the migrations run under (any node of any version agrees on it). */
const MIGRATION_LOCK = 'opencloud:migrations';

/**
 * Integers as numbers, as SQLite gives them: int8 (bigint columns, count(*), identity ids) and
 * numeric (sum() of a bigint) arrive as strings from pg. A value a number cannot hold exactly is
 * refused rather than silently rounded.
 */
function toSafeInteger(kind: string) {
  return (text: string): number => {
    const n = Number(text);
    if (!Number.isSafeInteger(n)) {
      throw new RangeError(
        `PostgreSQL returned ${kind} ${text}, beyond what a JavaScript number holds exactly`,
      );
    }
    return n;
  };
}

const parseInt8 = toSafeInteger('int8');
const parseIntegralNumeric = toSafeInteger('numeric');

/** numeric: a number; an integral value must be exact, a fraction (avg()) is as precise as a double. */
function parseNumeric(text: string): number {
  return /^-?\d+$/.test(text) ? parseIntegralNumeric(text) : Number(text);
}

const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (format !== 'binary' && oid === pg.types.builtins.INT8) return parseInt8;
    if (format !== 'binary' && oid === pg.types.builtins.NUMERIC) return parseNumeric;
    return pg.types.getTypeParser(oid, format);
  }) as pg.CustomTypesConfig['getTypeParser'],
};

const decode = (s: string) => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

/** Where a URL points, for messages: host, port, database and user, never the password. */
export function describePostgresUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'an unparsable PostgreSQL URL';
  }
  const host = u.hostname || u.searchParams.get('host') || process.env.PGHOST || 'localhost';
  const port = u.port || process.env.PGPORT || '5432';
  const database = decode(u.pathname.replace(/^\//, '')) || decode(u.username) || 'postgres';
  const user = u.username ? `${decode(u.username)}@` : '';
  return `postgres://${user}${host}:${port}/${database}`;
}

/** An error's message with every occurrence of the URL's password taken out. */
function withoutPassword(message: string, url: string): string {
  let raw = '';
  try {
    raw = new URL(url).password;
  } catch {
    // an unparsable URL: pg refused it too, and its message does not repeat it
  }
  for (const password of new Set([raw, decode(raw)])) {
    if (password) message = message.split(password).join('***');
  }
  return message;
}

/** What went wrong, in one line: an AggregateError (every address of a host refused) has no message. */
function reason(err: unknown): string {
  const e = err as { message?: string; code?: string; errors?: unknown[] };
  if (e?.message) return e.message;
  if (Array.isArray(e?.errors) && e.errors.length > 0) return e.errors.map(reason).join('; ');
  return e?.code ?? String(err);
}

/** The state store in the PostgreSQL database at `url` (postgres://user:password@host:port/db). */
export async function openPostgresState(url: string): Promise<StateStore> {
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new Error('a PostgreSQL state URL starts with postgres:// or postgresql://');
  }
  const where = describePostgresUrl(url);
  const pool = new pg.Pool({
    connectionString: url,
    max: POOL_SIZE,
    application_name: 'opencloud',
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    types,
  });
  // An idle client whose connection breaks (the server restarted) is dropped by the pool, which
  // then emits 'error': without a listener that would end the process. The next query reconnects.
  pool.on('error', () => {});

  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    await pool.end().catch(() => {});
    throw new Error(
      `cannot connect to the PostgreSQL state database ${where}: ${withoutPassword(reason(err), url)}`,
    );
  }

  // The read caches listen for every node's commits (pg-generation.ts); the triggers that announce
  // them come with the migrations below, and nothing is read from a cache before those ran.
  let generation: PgGeneration;
  try {
    generation = await PgGeneration.open({
      connectionString: url,
      // Told apart from the pool's connections in pg_stat_activity.
      application_name: 'opencloud (changes)',
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    });
  } catch (err) {
    client.release();
    await pool.end().catch(() => {});
    throw new Error(
      `cannot listen for changes on the PostgreSQL state database ${where}: ${withoutPassword(reason(err), url)}`,
    );
  }

  const store = new StateStore(
    new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }),
    'postgres',
    generation,
  );
  try {
    // Held on this one connection while the migrations run on others from the pool: a second
    // node opening the database waits here instead of racing to create the same tables.
    await client.query('select pg_advisory_lock(hashtext($1))', [MIGRATION_LOCK]);
    try {
      await store.migrate();
    } finally {
      await client.query('select pg_advisory_unlock(hashtext($1))', [MIGRATION_LOCK]);
    }
  } catch (err) {
    client.release();
    await store.close().catch(() => {});
    throw new Error(
      `migrating the PostgreSQL state database ${where} failed: ${withoutPassword(reason(err), url)}`,
      { cause: err },
    );
  }
  client.release();
  return store;
}
