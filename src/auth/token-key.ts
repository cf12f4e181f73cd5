// The key that signs registry tokens: 32 random bytes made on first use and kept across restarts
// (tokens in flight stay valid). A node on SQLite keeps it in DATA_DIR/auth/token.key (0600);
// nodes sharing a PostgreSQL state keep it there, so a token one node issued is good on all.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StateStore } from '../state/store.js';

/** The shared key in the state: the first node to ask makes it, the others read that one. */
export async function sharedTokenKey(state: StateStore): Promise<Buffer> {
  await state.db
    .insertInto('secrets')
    .values({
      name: 'token-key',
      value: randomBytes(32).toString('base64'),
      created_at: new Date().toISOString(),
    })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  const row = await state.db
    .selectFrom('secrets')
    .select('value')
    .where('name', '=', 'token-key')
    .executeTakeFirstOrThrow();
  return Buffer.from(row.value, 'base64');
}

export async function tokenKey(dataDir: string): Promise<Buffer> {
  const path = join(dataDir, 'auth', 'token.key');
  try {
    const key = await readFile(path);
    if (key.length >= 32) return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(join(dataDir, 'auth'), { recursive: true, mode: 0o700 });
  const key = randomBytes(32);
  try {
    await writeFile(path, key, { mode: 0o600, flag: 'wx' });
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readFile(path); // another node won
    throw err;
  }
}
