// The shared engines of a scale-out layout, for tests that start registry nodes: a fresh database
// on the test PostgreSQL and a fresh key prefix in the test S3 bucket, as the OPENCLOUD_* variables
// a node is started with. `drop` removes the database (the prefix stays: the bucket is the run's).
import { testEnv } from './env.js';
import { createDatabase, databaseUrl, dropDatabase } from './postgres.js';

export interface SharedEngines {
  env: Record<string, string>;
  databaseUrl: string;
  prefix: string;
  drop(): Promise<void>;
}

export async function sharedEngines(label: string): Promise<SharedEngines> {
  const database = await createDatabase(`oc_${label}`);
  const url = databaseUrl(database);
  const s3 = testEnv!.components.s3!;
  const prefix = `${database.replaceAll('_', '-')}/`;
  return {
    databaseUrl: url,
    prefix,
    env: {
      OPENCLOUD_STATE_POSTGRES_URL: url,
      OPENCLOUD_STORAGE_S3_BUCKET: s3.bucket!,
      OPENCLOUD_STORAGE_S3_ENDPOINT: s3.endpoint!,
      OPENCLOUD_STORAGE_S3_REGION: s3.region ?? 'us-east-1',
      OPENCLOUD_STORAGE_S3_ACCESS_KEY_ID: s3.accessKeyId!,
      OPENCLOUD_STORAGE_S3_SECRET_ACCESS_KEY: s3.secretAccessKey!,
      OPENCLOUD_STORAGE_S3_PREFIX: prefix,
    },
    drop: () => dropDatabase(database),
  };
}
