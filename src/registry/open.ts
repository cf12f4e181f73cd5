// Opens the registry's storage with the embedded defaults: filesystem blobs and SQLite state
// under the data dir.
import { join } from 'node:path';
import { openSqliteState } from '../state/sqlite.js';
import { FsBlobStore } from '../storage/fs-blob-store.js';
import type { Registry, RegistryOptions } from './context.js';
import { KeyedMutex } from './keyed-mutex.js';

export async function openRegistry(dataDir: string, options: RegistryOptions): Promise<Registry> {
  const blobs = new FsBlobStore(join(dataDir, 'registry'));
  await blobs.init();
  const state = await openSqliteState(dataDir);
  return { state, blobs, options, digestLocks: new KeyedMutex() };
}
