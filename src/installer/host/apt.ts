// apt, as the field learned to run it: non-interactive, a dpkg lock timeout, `update` retried
// while another process holds the lists lock, and the holder of a lock named when we give up.
// What an install records is the packages it asked for (never what apt pulled in with them: a
// ledger lists only names the installer declares); a purge takes along the dependencies that
// only those packages needed, as apt itself judges them (auto-installed, needed by nothing else).
import { readFile, stat } from 'node:fs/promises';
import { StepError } from '../types.js';
import { exec, tail, type ExecOptions } from './exec.js';

const ENV = { DEBIAN_FRONTEND: 'noninteractive', NEEDRESTART_MODE: 'a' };
const FRONTEND_LOCK = '/var/lib/dpkg/lock-frontend';

export interface AptOptions {
  /** Seconds apt waits for the dpkg lock (DPkg::Lock::Timeout). */
  lockTimeout: number;
  onLine?: (line: string) => void;
}

/** The installed version of a package, or undefined when it is not installed. */
export async function installedVersion(pkg: string): Promise<string | undefined> {
  const r = await exec('dpkg-query', ['-W', '-f=${db:Status-Status}\t${Version}', pkg]);
  const [status, version] = r.stdout.split('\t');
  return r.code === 0 && status === 'installed' ? version : undefined;
}

export async function installedPackages(): Promise<Set<string>> {
  const r = await exec('dpkg-query', ['-W', '-f=${db:Status-Status} ${Package}\n']);
  return new Set(
    r.stdout
      .split('\n')
      .filter((l) => l.startsWith('installed '))
      .map((l) => l.slice('installed '.length)),
  );
}

export interface Simulation {
  install: string[];
  remove: string[];
  /** apt knows no candidate: the package lists need an update first. */
  unknown: boolean;
}

/** `apt-get -s install`: what installing would add and remove, changing nothing. */
export async function simulateInstall(pkgs: string[]): Promise<Simulation> {
  const r = await exec(
    'apt-get',
    ['-s', '-o', 'Debug::NoLocking=1', 'install', '--no-install-recommends', ...pkgs],
    {
      env: ENV,
    },
  );
  const out = r.stdout + r.stderr;
  const names = (verb: string) =>
    [...out.matchAll(new RegExp(`^${verb} (\\S+)`, 'gm'))].map((m) => m[1] as string);
  const unknown = /Unable to locate package|has no installation candidate/.test(out);
  if (r.code !== 0 && !unknown)
    throw new StepError(`apt-get cannot plan installing ${pkgs.join(' ')}`, tail(out));
  return { install: names('Inst'), remove: names('Remv'), unknown };
}

/**
 * Installs packages; returns those of `pkgs` that were not installed before (what a revert
 * purges). Dependencies apt adds are marked automatically installed: aptPurge removes them.
 */
export async function aptInstall(pkgs: string[], opts: AptOptions): Promise<string[]> {
  const before = await installedPackages();
  if ((await simulateInstall(pkgs)).unknown) await aptUpdate(opts);
  await aptRun(['install', '-y', '--no-install-recommends', ...pkgs], opts);
  const after = await installedPackages();
  return pkgs.filter((p) => after.has(p) && !before.has(p)).sort();
}

/** What `apt-get -s ARGS` would remove or purge (its Remv/Purg lines), changing nothing. */
async function wouldRemove(args: string[]): Promise<string[]> {
  const r = await exec('apt-get', ['-s', '-o', 'Debug::NoLocking=1', ...args], { env: ENV });
  if (r.code !== 0) throw new StepError(`apt-get -s ${args.join(' ')} failed`, tail(r.stdout + r.stderr));
  return [...r.stdout.matchAll(/^(?:Remv|Purg) (\S+)/gm)].map((m) => m[1] as string);
}

const bare = (name: string) => name.replace(/:.*$/, '');

/**
 * Purges packages, then the dependencies apt pulled in for them alone: those apt would
 * autoremove now and would not before. Refuses, removing nothing, when the purge would take other
 * packages along (something installed since depends on them).
 */
export async function aptPurge(pkgs: string[], opts: AptOptions): Promise<void> {
  if (pkgs.length === 0) return;
  const along = (await wouldRemove(['purge', ...pkgs])).filter((n) => !pkgs.includes(bare(n)));
  if (along.length > 0) {
    throw new StepError(
      `purging ${pkgs.join(' ')} would also remove ${along.join(' ')} (they depend on it); nothing was removed`,
      `remove ${along.join(' ')} first if they may go, then run again`,
    );
  }
  const orphansBefore = new Set(await wouldRemove(['autoremove']));
  // sudo's maintainer script refuses removal on a host without a root password unless told: we
  // installed it, so it goes (root is how this runs anyway).
  const env = { SUDO_FORCE_REMOVE: 'yes' };
  await aptRun(['-y', 'purge', ...pkgs], opts, env);
  const orphans = (await wouldRemove(['autoremove'])).filter((n) => !orphansBefore.has(n));
  if (orphans.length > 0) await aptRun(['-y', 'purge', ...orphans], opts, env);
}

/** `apt-get update`, retried while another process holds the lists lock (up to the lock timeout). */
export async function aptUpdate(opts: AptOptions): Promise<void> {
  const deadline = Date.now() + opts.lockTimeout * 1000;
  for (;;) {
    const r = await exec('apt-get', ['update'], { env: ENV, onLine: opts.onLine });
    if (r.code === 0) return;
    const locked = /Could not get lock|Unable to lock/.test(r.stderr);
    if (!locked || Date.now() >= deadline) throw await aptError('apt-get update', r.stdout + r.stderr, opts);
    await new Promise((res) => setTimeout(res, 1000));
  }
}

async function aptRun(args: string[], opts: AptOptions, env: Record<string, string> = {}): Promise<void> {
  const execOpts: ExecOptions = { env: { ...ENV, ...env } };
  const show = opts.onLine;
  // dpkg's "(Reading database ... 5%" counter arrives as one endless line: not worth showing.
  if (show) execOpts.onLine = (l) => void (!l.startsWith('(Reading database') && show(l));
  const r = await exec('apt-get', ['-o', `DPkg::Lock::Timeout=${opts.lockTimeout}`, ...args], execOpts);
  if (r.code !== 0) throw await aptError(`apt-get ${args.join(' ')}`, r.stdout + r.stderr, opts);
}

async function aptError(what: string, output: string, opts: AptOptions): Promise<StepError> {
  // "Could not get lock /var/lib/dpkg/lock-frontend. It is held by …" while waiting, then
  // "Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend)" when apt gives up.
  const path =
    /Could not get lock (\/\S+?)\.?\s/.exec(output)?.[1] ??
    /Unable to (?:acquire|lock)[^(]*\((\/[^)]+)\)/.exec(output)?.[1] ??
    (/Unable to (acquire|lock)/.test(output) ? FRONTEND_LOCK : undefined);
  if (path) {
    const holder = await lockHolder(path);
    return new StepError(
      `${what}: ${path} is held by ${holder ?? 'another process'} and was not released within ${opts.lockTimeout} s` +
        ' (wait for that package operation to finish, then run again)',
      tail(output),
    );
  }
  return new StepError(`${what} failed`, tail(output));
}

/** "pid 123 (apt-get)" for the process holding a POSIX lock on the file, from /proc/locks. */
export async function lockHolder(path: string): Promise<string | undefined> {
  const ino = await stat(path).then(
    (s) => s.ino,
    () => undefined,
  );
  if (ino === undefined) return undefined;
  const locks = await readFile('/proc/locks', 'utf8').catch(() => '');
  for (const line of locks.split('\n')) {
    // "1: POSIX  ADVISORY  WRITE 1234 08:01:5678 0 EOF"
    const f = line.trim().split(/\s+/);
    const pid = Number(f[4]);
    if (f[5]?.split(':')[2] === String(ino) && pid > 0) {
      const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '?')).trim();
      return `pid ${pid} (${comm})`;
    }
  }
  return undefined;
}
