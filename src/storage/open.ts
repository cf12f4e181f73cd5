// Opens the configured blob store: S3 when `storage.s3.bucket` is set (several registry nodes
// share it), otherwise files under the data dir.
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import type { BlobStore } from './blob-store.js';
import { FsBlobStore } from './fs-blob-store.js';

export async function openBlobStore(c: Pick<Config, 'dataDir' | 'storage'>): Promise<BlobStore> {
  // The AWS SDK is loaded only when it is used (tens of MB and a slower start otherwise).
  const S3BlobStore = c.storage.s3.bucket ? (await import('./s3-blob-store.js')).S3BlobStore : undefined;
  const blobs = S3BlobStore ? new S3BlobStore(c.storage.s3) : new FsBlobStore(join(c.dataDir, 'registry'));
  await blobs.init();
  return blobs;
}
