// Where `opencloud login` keeps what later commands sign in with: per server URL, the user and
// an API token made for this machine. One JSON file, 0600 in a 0700 directory, written whole to a
// temporary file and renamed (a crash leaves the old file or the new one). A file others may read
// is refused, as ssh refuses a readable key: the token in it is a password.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CannotWriteError, ConfigError } from '../errors.js';

export interface Login {
  user: string;
  token: string;
  /** The token's id, to revoke it at logout. */
  tokenId: string;
}

export interface LoginFile {
  /** The server of the last login: used when a command names none. */
  default?: string;
  servers: Record<string, Login>;
}

/** $OPENCLOUD_LOGIN_FILE, or login.json under $XDG_CONFIG_HOME/opencloud (~/.config/opencloud). */
export function loginFilePath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.OPENCLOUD_LOGIN_FILE) return env.OPENCLOUD_LOGIN_FILE;
  const base = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'opencloud', 'login.json');
}

/** A server URL as the file keys it: scheme, host and port, no trailing slash. */
export function serverKey(url: string): string {
  return new URL(url).origin;
}

export async function readLoginFile(path = loginFilePath()): Promise<LoginFile> {
  const st = await stat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw new ConfigError(`cannot read the login file ${path}: ${err.code ?? err.message}`, {
      hint: 'set OPENCLOUD_LOGIN_FILE to a file this user may read and write',
    });
  });
  if (!st) return { servers: {} };
  if ((st.mode & 0o077) !== 0)
    throw new ConfigError(
      `${path} may be read by others (mode ${(st.mode & 0o777).toString(8)}); it holds API tokens`,
      { hint: `chmod 600 ${path}, or remove it and run \`opencloud login\` again` },
    );
  let parsed: LoginFile;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `cannot read the login file ${path}: ${(err as NodeJS.ErrnoException).code ?? ''}`,
      {
        hint: 'set OPENCLOUD_LOGIN_FILE to a file this user may read and write',
      },
    );
  }
  try {
    parsed = JSON.parse(text) as LoginFile;
  } catch (err) {
    throw new ConfigError(`${path} is not valid JSON: ${(err as Error).message}`, {
      hint: 'remove it and run `opencloud login` again',
    });
  }
  if (typeof parsed !== 'object' || parsed === null || typeof parsed.servers !== 'object')
    throw new ConfigError(`${path} is not a login file (no "servers")`, {
      hint: 'remove it and run `opencloud login` again',
    });
  return parsed;
}

export async function writeLoginFile(file: LoginFile, path = loginFilePath()): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writeFile(tmp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    await chmod(tmp, 0o600); // whatever the umask
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw new CannotWriteError(
      `cannot write the login file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      { hint: 'set OPENCLOUD_LOGIN_FILE to a path this user may write', cause: err },
    );
  }
}
