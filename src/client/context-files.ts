// The files of a build context directory as tar members, in a stable order (names sorted
// byte-wise, each directory before what it holds), leaving out what .dockerignore excludes —
// except the Dockerfile, which the server needs whatever the rules say (as Docker does). A
// directory excluded whole is not even read unless an exception may reach inside it. Files are
// opened only as the archive reaches them; symlinks go as links; sockets, pipes and devices are
// skipped and reported.
import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { TarMember } from '../archive/tar-writer.js';
import { isIgnored, mayHoldExceptions, parseDockerignore, type IgnorePattern } from './dockerignore.js';

export interface ContextOptions {
  /** The Dockerfile's path inside the context, '/'-separated: always sent. */
  dockerfile: string;
  /** Told about each file left out because tar cannot carry it (a socket, a device). */
  onSkipped?: (path: string, why: string) => void;
}

/** The rules of `<root>/.dockerignore`, none when there is no such file. */
export async function ignoreRules(root: string): Promise<IgnorePattern[]> {
  const text = await readFile(join(root, '.dockerignore'), 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return '';
    throw err;
  });
  return parseDockerignore(text);
}

export async function* contextMembers(root: string, opts: ContextOptions): AsyncGenerator<TarMember> {
  const rules = await ignoreRules(root);
  const keep = (path: string) => path === opts.dockerfile || !isIgnored(rules, path);
  // The Dockerfile's directories are walked even when excluded, to reach it.
  const onTheWay = (dir: string) => opts.dockerfile.startsWith(`${dir}/`);

  async function* walk(dir: string): AsyncGenerator<TarMember> {
    const names = (await readdir(join(root, dir))).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const name of names) {
      const path = dir ? `${dir}/${name}` : name;
      const full = join(root, path);
      const st = await lstat(full);
      const mtime = Math.floor(st.mtimeMs / 1000);
      const mode = st.mode & 0o7777;
      if (st.isDirectory()) {
        const kept = keep(path);
        if (kept) yield { name: path, type: 'directory', mode, mtime };
        if (kept || onTheWay(path) || mayHoldExceptions(rules, path)) yield* walk(path);
        continue;
      }
      if (!keep(path)) continue;
      if (st.isSymbolicLink()) {
        yield { name: path, type: 'symlink', mode, mtime, linkname: await readlink(full) };
      } else if (st.isFile()) {
        yield {
          name: path,
          type: 'file',
          mode,
          mtime,
          size: st.size,
          body: () => createReadStream(full),
        };
      } else {
        opts.onSkipped?.(path, 'not a file, directory or symlink');
      }
    }
  }
  yield* walk('');
}
