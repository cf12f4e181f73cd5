// The key that signs registry tokens: 32 random bytes in DATA_DIR/auth/token.key (0600), made on
// first use and kept across restarts (tokens in flight stay valid), shared by nodes sharing it.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

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
