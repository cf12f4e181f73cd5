// Databases on the test PostgreSQL (scripts/test-env/postgres.sh): each test makes a fresh one
// from the superuser URL in env.json and drops it afterwards (WITH (FORCE): a connection a failed
// test left open does not keep it).
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { testEnv } from './env.js';

const superuserUrl = () => testEnv?.components.postgres?.url ?? '';

/** A URL of `database` on the test server, as the superuser. */
export function databaseUrl(database: string): string {
  const u = new URL(superuserUrl());
  u.pathname = `/${database}`;
  return u.toString();
}

async function asSuperuser<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: superuserUrl(), application_name: 'opencloud-test' });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A fresh, empty database `<prefix>_<random>`; resolves to its name. */
export async function createDatabase(prefix = 'oc_test'): Promise<string> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await asSuperuser((c) => c.query(`create database ${name}`));
  return name;
}

export async function dropDatabase(name: string): Promise<void> {
  await asSuperuser((c) => c.query(`drop database if exists ${name} with (force)`));
}
