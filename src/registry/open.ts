// Opens the registry's storage as configured: blobs on the filesystem or in S3, state in SQLite
// or PostgreSQL (the embedded defaults keep both under the data dir).
import type { Config } from '../config/schema.js';
import { UnavailableError } from '../errors.js';
import { openState } from '../state/open.js';
import { openBlobStore } from '../storage/open.js';
import type { Registry } from './context.js';
import { KeyedMutex } from './keyed-mutex.js';
import { ManifestBytes } from './manifest-bytes.js';
import { PresentBlobs } from './present-blobs.js';

export async function openRegistry(config: Config): Promise<Registry> {
  const blobs = await openBlobStore(config).catch((err: Error) => {
    throw config.storage.s3.bucket
      ? new UnavailableError(err.message, {
          hint: 'check storage.s3.* (endpoint, bucket, credentials) and that the S3 server answers',
          cause: err,
        })
      : err;
  });
  const state = await openState(config).catch((err: Error) => {
    blobs.close?.();
    throw config.state.postgresUrl
      ? new UnavailableError(err.message, {
          hint: 'check state.postgresUrl and that PostgreSQL answers and the database exists',
          cause: err,
        })
      : err;
  });
  const url = config.state.postgresUrl;
  return {
    state,
    blobs,
    manifestBytes: new ManifestBytes((digest) => blobs.readBytes(digest)),
    presentBlobs: new PresentBlobs((digest) => blobs.stat(digest)),
    options: { ...config.registry, redirectDownloads: config.storage.s3.redirect },
    digestLocks: url ? new (await import('../state/pg-locks.js')).PgKeyedLocks(url) : new KeyedMutex(),
  };
}

/** Closes what openRegistry opened: database connections, S3 clients, lock connections. */
export async function closeRegistry(reg: Registry): Promise<void> {
  await reg.state.close();
  await reg.digestLocks.close?.();
  reg.blobs.close?.();
}
