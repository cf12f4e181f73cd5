// The program `opencloud install` copies to PROGRAM_DIR: bin/, dist/, proto/, package.json and the
// production packages of node_modules (those package-lock.json does not mark dev-only), listed
// with a sha256 per file. The list's digest is what says whether an installed copy is current, so
// a second install compares one file instead of copying 30 MB again.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import {
  chmod,
  copyFile,
  lstat,
  mkdir,
  readFile,
  readdir,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';

/** The file in an installed tree that lists what was installed. */
export const MANIFEST_NAME = '.opencloud-manifest';

const TOP_LEVEL = ['bin', 'dist', 'proto', 'package.json'];

export interface TreeEntry {
  path: string;
  /** 'file' with its sha256 and whether it is executable, or 'link' with its target. */
  type: 'file' | 'link';
  sha256?: string;
  exec?: boolean;
  target?: string;
}

export interface TreeManifest {
  entries: TreeEntry[];
  /** sha256 over the sorted entries: equal digests, equal trees. */
  digest: string;
}

interface LockFile {
  packages?: Record<string, { dev?: boolean; devOptional?: boolean; link?: boolean }>;
}

/** The production package folders of `root`'s node_modules, from its package-lock.json. */
export async function productionPackages(root: string): Promise<string[]> {
  const lock = JSON.parse(await readFile(join(root, 'package-lock.json'), 'utf8')) as LockFile;
  return Object.entries(lock.packages ?? {})
    .filter(([path, p]) => path.startsWith('node_modules/') && !p.dev && !p.devOptional && !p.link)
    .map(([path]) => path)
    .sort();
}

function hashFile(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => h.update(d))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

/** Every file under `dir` (relative to `root`), skipping nested node_modules: those are listed themselves. */
async function walk(root: string, dir: string, out: TreeEntry[], skipNested: boolean): Promise<void> {
  const st = await lstat(dir);
  if (st.isSymbolicLink()) {
    out.push({ path: relative(root, dir), type: 'link', target: await readlink(dir) });
    return;
  }
  if (st.isFile()) {
    out.push({
      path: relative(root, dir),
      type: 'file',
      sha256: await hashFile(dir),
      exec: (st.mode & 0o111) !== 0,
    });
    return;
  }
  if (!st.isDirectory()) return;
  for (const name of (await readdir(dir)).sort()) {
    if (skipNested && name === 'node_modules') continue;
    await walk(root, join(dir, name), out, skipNested);
  }
}

function digestOf(entries: TreeEntry[]): string {
  const h = createHash('sha256');
  for (const e of entries) h.update(`${e.path}\0${e.type}\0${e.sha256 ?? e.target}\0${e.exec ? 1 : 0}\n`);
  return h.digest('hex');
}

/** What installing from `root` (a checkout with dist/ built, or an installed copy) would put in place. */
export async function sourceManifest(root: string): Promise<TreeManifest> {
  if (!existsSync(join(root, 'dist', 'cli', 'main.js')))
    throw new Error(`${root} has no dist/cli/main.js: build it first (npm ci, or npm run build)`);
  const entries: TreeEntry[] = [];
  for (const top of TOP_LEVEL) await walk(root, join(root, top), entries, false);
  for (const pkg of await productionPackages(root)) {
    if (existsSync(join(root, pkg))) await walk(root, join(root, pkg), entries, true);
  }
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { entries, digest: digestOf(entries) };
}

/** The manifest an installed tree was written with, or undefined when there is none. */
export async function installedManifest(dir: string): Promise<TreeManifest | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, MANIFEST_NAME), 'utf8')) as TreeManifest;
  } catch {
    return undefined;
  }
}

/** Files of an installed tree whose bytes no longer match its manifest (a tampered or damaged copy). */
export async function driftedFiles(dir: string, manifest: TreeManifest): Promise<string[]> {
  const drifted: string[] = [];
  for (const e of manifest.entries) {
    const path = join(dir, e.path);
    if (e.type === 'link') {
      if ((await readlink(path).catch(() => undefined)) !== e.target) drifted.push(e.path);
    } else if ((await hashFile(path).catch(() => undefined)) !== e.sha256) drifted.push(e.path);
  }
  return drifted;
}

/**
 * Copies `manifest`'s files from `root` into a fresh sibling of `dest`, then swaps it in with two
 * renames. Resolves to where the tree it replaced was moved (undefined when there was none): the
 * caller keeps it for rollback and deletes it when the run succeeds.
 */
export async function installTree(
  root: string,
  dest: string,
  manifest: TreeManifest,
): Promise<string | undefined> {
  const suffix = randomBytes(4).toString('hex');
  const staging = `${dest}.new-${suffix}`;
  await rm(staging, { recursive: true, force: true });
  try {
    await mkdir(staging, { mode: 0o755 });
    for (const e of manifest.entries) {
      const to = join(staging, e.path);
      await mkdir(dirname(to), { recursive: true, mode: 0o755 });
      if (e.type === 'link') await symlink(e.target as string, to);
      else {
        const from = join(root, e.path);
        await copyFile(from, to);
        await chmod(to, e.exec ? 0o755 : 0o644);
        // Times kept: bin/opencloud.js runs dist/bundle/ only when it is not older than dist/.
        const { atime, mtime } = await stat(from);
        await utimes(to, atime, mtime);
        // The copy must be what was hashed: a source changing under us fails the install.
        if ((await hashFile(to)) !== e.sha256) throw new Error(`${from} changed while copying`);
      }
    }
    await writeFile(join(staging, MANIFEST_NAME), JSON.stringify(manifest), { mode: 0o644 });
    let prior: string | undefined;
    if (existsSync(dest)) {
      prior = `${dest}.previous-${suffix}`;
      await rename(dest, prior);
    }
    await rename(staging, dest);
    return prior;
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
}
