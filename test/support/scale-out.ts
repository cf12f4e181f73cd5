// The shared engines of a scale-out layout, for tests that start registry nodes: a fresh database
// on the test PostgreSQL and a fresh key prefix in the test S3 bucket, as the OPENCLOUD_* variables
// a node is started with. `drop` removes the database (the prefix stays: the bucket is the run's).
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { testEnv } from './env.js';

export interface SharedEngines {
  env: Record<string, string>;
  databaseUrl: string;
  prefix: string;
  drop(): Promise<void>;
}

async function asSuperuser<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({
    connectionString: testEnv!.components.postgres!.url!,
    application_name: 'opencloud-test',
  });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export async function sharedEngines(label: string): Promise<SharedEngines> {
  const suffix = randomBytes(5).toString('hex');
  const database = `oc_${label}_${suffix}`;
  await asSuperuser((c) => c.query(`create database ${database}`));
  const url = new URL(testEnv!.components.postgres!.url!);
  url.pathname = `/${database}`;
  const s3 = testEnv!.components.s3!;
  const prefix = `${label}-${suffix}/`;
  return {
    databaseUrl: url.toString(),
    prefix,
    env: {
      OPENCLOUD_STATE_POSTGRES_URL: url.toString(),
      OPENCLOUD_STORAGE_S3_BUCKET: s3.bucket!,
      OPENCLOUD_STORAGE_S3_ENDPOINT: s3.endpoint!,
      OPENCLOUD_STORAGE_S3_REGION: s3.region ?? 'us-east-1',
      OPENCLOUD_STORAGE_S3_ACCESS_KEY_ID: s3.accessKeyId!,
      OPENCLOUD_STORAGE_S3_SECRET_ACCESS_KEY: s3.secretAccessKey!,
      OPENCLOUD_STORAGE_S3_PREFIX: prefix,
    },
    drop: () =>
      asSuperuser(async (c) => {
        await c.query(`drop database if exists ${database} with (force)`);
      }),
  };
}
