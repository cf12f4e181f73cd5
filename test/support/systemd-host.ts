// A real systemd host for tests that install services: a fresh copy of the Debian bookworm root
// file system scripts/test-env/systemd-host.sh caches, booted with systemd-nspawn (systemd is its
// PID 1, it has its own /run, /tmp and PID namespace, and shares this machine's network: a port
// bound inside is bound here), with this machine's node and the checkout bind-mounted read-only at
// the same paths. Commands run inside through `nsenter` into the namespaces of the container's systemd.
//
// One host at a time: the container is given this machine's whole cgroup tree (so runc can create
// cgroups inside) and its systemd settles at the tree's root, where a second one would collide.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  readdirSync,
  readFileSync,
  rmSync,
  rmdirSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collect, ROOT, type CliResult } from './cli.js';
import { missing, testEnv } from './env.js';

export type ExecResult = CliResult;

export interface ExecOptions {
  /** Added to the default environment (PATH, HOME=/root, LANG=C.UTF-8). */
  env?: Record<string, string>;
  /** Working directory inside the container (default `/`). */
  cwd?: string;
  /** Written to the command's stdin. */
  input?: string;
  /** The command is killed after this long (default 120 s); the result then has signal SIGKILL. */
  timeoutMs?: number;
}

export interface SystemdHostOptions {
  /** Extra systemd-nspawn `--bind=` mounts, `SRC[:DEST[:OPTIONS]]`. */
  binds?: string[];
  /** Extra systemd-nspawn `--bind-ro=` mounts. */
  bindsRo?: string[];
  /** The root file system tarball (default: the one the test setup cached, from env.json). */
  rootfs?: string;
  /** How long systemd may take to reach `running` or `degraded` (default 90 s). */
  bootTimeoutMs?: number;
}

export interface SystemdHost {
  /** Machine name, also the host name inside. */
  readonly name: string;
  /** The container's root directory as seen from this machine. */
  readonly root: string;
  /** The container's PID 1 (its systemd) as seen from this machine. */
  readonly pid: number;
  /** The systemd-nspawn process. */
  readonly nspawnPid: number;
  /** What `systemctl is-system-running` said when boot finished. */
  readonly bootState: 'running' | 'degraded';
  readonly timings: { unpackMs: number; bootMs: number };
  exec(cmd: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** `exec` that throws, with the command's output, unless it exits 0; resolves to its stdout. */
  run(cmd: string[], opts?: ExecOptions): Promise<string>;
  /** The last lines of the container's console (systemd's boot and shutdown messages). */
  consoleTail(lines?: number): string;
  /** Powers the container off (SIGKILL after a deadline) and removes its files. Idempotent. */
  stop(): Promise<void>;
}

const MACHINE_PREFIX = 'oc-systemd-host-';
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
// The flags seen working on these machines (DESIGN.md, "Real components in tests").
const NSPAWN_FLAGS = [
  '--keep-unit',
  '--register=no',
  '--capability=all',
  '--system-call-filter=@keyring bpf',
  '--private-users=no',
  '--bind=/sys/fs/cgroup',
];
// Top-level cgroups that nspawn (supervisor, payload) and the container's systemd create at the
// root of the shared tree; removed after a stop when they were not there before the start.
const LEFTOVER_CGROUP = /^(init\.scope|supervisor|payload|[^/]+\.slice)$/;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The pid (on this machine) of the process that is PID 1 in a PID namespace and a child of `parent`. */
function containerInit(parent: number): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const status = readText(`/proc/${entry}/status`);
    if (!status || !new RegExp(`^PPid:\\s+${parent}$`, 'm').test(status)) continue;
    const nspid = /^NSpid:\s+(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/);
    if (nspid && nspid.length > 1 && nspid[nspid.length - 1] === '1') return Number(entry);
  }
  return undefined;
}

function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * SIGKILL to the descendants of `pid` (collected first, so none escapes by reparenting), deepest
 * first, and to `pid` itself only if it is still there a moment later: nsenter must live to reap its
 * child, or that child's zombie goes to this machine's init and holds up the container's shutdown.
 */
function killTree(pid: number): void {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const ppid = Number(/^PPid:\s+(\d+)$/m.exec(readText(`/proc/${entry}/status`) ?? '')?.[1]);
    if (ppid) children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
  }
  const tree: number[] = [];
  for (const queue = [pid]; queue.length > 0;) {
    const p = queue.shift() as number;
    tree.push(p);
    queue.push(...(children.get(p) ?? []));
  }
  for (const p of tree.slice(1).reverse()) kill(p);
  setTimeout(() => kill(pid), 2_000).unref();
}

/** Another systemd host's nspawn, if one runs (they would share the cgroup tree's root). */
function otherHost(): string | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = readText(`/proc/${entry}/cmdline`)?.split('\0') ?? [];
    const machine = argv.find((a) => a.startsWith(`--machine=${MACHINE_PREFIX}`));
    if (argv[0]?.endsWith('systemd-nspawn') && machine) return `${machine.slice(10)} (pid ${entry})`;
  }
  return undefined;
}

function mountsUnder(dir: string): string[] {
  return (readText('/proc/self/mounts') ?? '')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((mnt) => mnt === dir || mnt.startsWith(`${dir}/`));
}

function topCgroups(): Map<string, Set<string>> {
  const tree = new Map<string, Set<string>>();
  for (const h of readdirSync('/sys/fs/cgroup', { withFileTypes: true })) {
    if (!h.isDirectory()) continue;
    const dir = join('/sys/fs/cgroup', h.name);
    try {
      tree.set(
        dir,
        new Set(
          readdirSync(dir, { withFileTypes: true })
            .filter((d) => d.isDirectory())
            .map((d) => d.name),
        ),
      );
    } catch {
      // not a hierarchy we can read
    }
  }
  return tree;
}

/** Removes a cgroup and its children, deepest first; the kernel refuses any that still has tasks. */
function removeCgroup(dir: string): void {
  try {
    for (const d of readdirSync(dir, { withFileTypes: true }))
      if (d.isDirectory()) removeCgroup(join(dir, d.name));
    rmdirSync(dir);
  } catch {
    // busy or already gone: left as it is
  }
}

function exitedWithin(exited: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    exited.then(() => true),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]).finally(() => clearTimeout(timer));
}

function untar(tarball: string, dir: string): Promise<void> {
  const tar = spawn(
    'tar',
    ['-C', dir, '--zstd', '--numeric-owner', '--xattrs', '--xattrs-include=*', '-xpf', tarball],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return collect(tar).then((r) => {
    if (r.code !== 0) throw new Error(`unpacking ${tarball} into ${dir} failed (${r.code}): ${r.stderr}`);
  });
}

/** Boots a fresh systemd host; the caller must `stop()` it (in an afterAll, so failures stop it too). */
export async function startSystemdHost(opts: SystemdHostOptions = {}): Promise<SystemdHost> {
  const why = missing('systemd-host');
  const rootfs = opts.rootfs ?? testEnv?.components['systemd-host']?.rootfs;
  if (!rootfs || (why && !opts.rootfs))
    throw new Error(`no systemd host: ${why ?? 'env.json names no rootfs'}`);
  if (existsSync('/run/systemd/system'))
    throw new Error(
      'this machine runs systemd as PID 1: a systemd host with --bind=/sys/fs/cgroup would meddle with it',
    );
  const other = otherHost();
  if (other)
    throw new Error(`another systemd host is running (${other}): one at a time, they share the cgroup tree`);

  const name = `${MACHINE_PREFIX}${randomBytes(4).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'opencloud-systemd-host-'));
  const root = join(dir, 'root');
  const consoleLog = join(dir, 'console.log');
  const cgroupsBefore = topCgroups();
  let nspawn: ChildProcess | undefined;
  let exited: Promise<unknown> = Promise.resolve();
  let pid = 0;
  let stopping: Promise<void> | undefined;

  const consoleTail = (lines = 40) =>
    (readText(consoleLog) ?? '')
      // eslint-disable-next-line no-control-regex
      .replace(/\x1b\[[0-9;]*m/g, '')
      .split('\n')
      .slice(-lines)
      .join('\n');

  // Should the test process end without stop() (a crash, a killed worker), take the container along.
  const killOnExit = () => {
    if (pid) kill(pid);
    nspawn?.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  const cleanup = async (): Promise<void> => {
    process.off('exit', killOnExit);
    if (nspawn && nspawn.exitCode === null && nspawn.signalCode === null) {
      // SIGTERM makes nspawn ask the container's systemd for an orderly shutdown.
      nspawn.kill('SIGTERM');
      if (!(await exitedWithin(exited, 30_000))) {
        if (pid && containerInit(nspawn.pid ?? -1) === pid) kill(pid);
        nspawn.kill('SIGKILL');
        if (!(await exitedWithin(exited, 10_000)))
          throw new Error(`systemd-nspawn (pid ${nspawn.pid}) survived SIGKILL; ${dir} left in place`);
      }
    }
    // nspawn exits after the container's PID 1; wait for the kernel to reap the PID namespace.
    for (const deadline = Date.now() + 10_000; pid && existsSync(`/proc/${pid}`);) {
      if (Date.now() > deadline)
        throw new Error(`the container's PID 1 (${pid}) is still there; ${dir} left in place`);
      await sleep(50);
    }
    for (const [hierarchy, before] of cgroupsBefore) {
      let now: string[] = [];
      try {
        now = readdirSync(hierarchy);
      } catch {
        continue;
      }
      for (const cg of now)
        if (!before.has(cg) && LEFTOVER_CGROUP.test(cg)) removeCgroup(join(hierarchy, cg));
    }
    const mounts = mountsUnder(dir);
    if (mounts.length > 0)
      throw new Error(`mounts remain under ${dir}, not removing it: ${mounts.join(', ')}`);
    rmSync(dir, { recursive: true, force: true });
  };
  const stop = () => (stopping ??= cleanup());

  try {
    const unpackStart = performance.now();
    mkdirSync(root);
    await untar(rootfs, root);
    const unpackMs = performance.now() - unpackStart;

    const bootStart = performance.now();
    const args = [
      '--quiet',
      `--directory=${root}`,
      `--machine=${name}`,
      '--boot',
      '--console=read-only',
      ...NSPAWN_FLAGS,
      `--bind-ro=${process.execPath}:/usr/bin/node`,
      `--bind-ro=${ROOT.replace(/\/$/, '')}`,
      ...(opts.binds ?? []).map((b) => `--bind=${b}`),
      ...(opts.bindsRo ?? []).map((b) => `--bind-ro=${b}`),
    ];
    const log = openSync(consoleLog, 'a');
    try {
      nspawn = spawn('systemd-nspawn', args, { stdio: ['ignore', log, log] });
    } finally {
      closeSync(log);
    }
    const child = nspawn;
    let spawnError: Error | undefined;
    exited = new Promise((resolve) => {
      child.once('exit', resolve);
      child.once('error', (err) => resolve((spawnError = err)));
    });
    const gone = () => spawnError !== undefined || child.exitCode !== null || child.signalCode !== null;
    const failBoot = (what: string) =>
      new Error(`systemd host ${name}: ${what}\n--- console (last lines) ---\n${consoleTail()}`);

    const deadline = Date.now() + (opts.bootTimeoutMs ?? 90_000);
    // The container's PID 1 is nspawn's child in a new PID namespace; it is systemd once it has exec'd.
    while (!pid || readText(`/proc/${pid}/comm`)?.trim() !== 'systemd') {
      if (gone())
        throw failBoot(
          `systemd-nspawn exited (${spawnError?.message ?? child.exitCode ?? child.signalCode}) during boot`,
        );
      if (Date.now() > deadline) throw failBoot('no systemd as PID 1 in time');
      pid = (child.pid && containerInit(child.pid)) || 0;
      await sleep(20);
    }

    const exec = (cmd: string[], o: ExecOptions = {}): Promise<ExecResult> => {
      const inner = o.cwd ? ['env', '-C', o.cwd, '--', ...cmd] : cmd;
      const proc = spawn('nsenter', [`--target=${pid}`, '--all', '--', ...inner], {
        env: { PATH, HOME: '/root', LANG: 'C.UTF-8', ...o.env },
        stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      });
      if (o.input !== undefined) proc.stdin?.end(o.input);
      const failed = new Promise<never>((_, reject) => proc.once('error', reject));
      // nsenter forks into the PID namespace and the command runs as its child: a timeout kills the
      // whole tree (util-linux 2.38 has no --kill-child).
      const timer = setTimeout(() => proc.pid && killTree(proc.pid), o.timeoutMs ?? 120_000);
      return Promise.race([collect(proc), failed]).finally(() => clearTimeout(timer));
    };
    const run = async (cmd: string[], o?: ExecOptions): Promise<string> => {
      const r = await exec(cmd, o);
      if (r.code !== 0)
        throw new Error(
          `in ${name}: \`${cmd.join(' ')}\` exited ${r.code ?? r.signal}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`,
        );
      return r.stdout;
    };

    let state = '';
    let stderr = '';
    while (state !== 'running' && state !== 'degraded') {
      if (gone()) throw failBoot(`systemd-nspawn exited (${child.exitCode ?? child.signalCode}) during boot`);
      if (Date.now() > deadline)
        throw failBoot(`\`systemctl is-system-running\` still says "${state}" ${stderr.trim()}`);
      await sleep(100);
      ({ stdout: state, stderr } = await exec(['systemctl', 'is-system-running'], { timeoutMs: 5_000 }));
      state = state.trim();
    }
    const bootMs = performance.now() - bootStart;

    return {
      name,
      root,
      pid,
      nspawnPid: child.pid as number,
      bootState: state as SystemdHost['bootState'],
      timings: { unpackMs, bootMs },
      exec,
      run,
      consoleTail,
      stop,
    };
  } catch (err) {
    await stop().catch((stopErr: unknown) => {
      if (err instanceof Error) err.message += `\n(and stopping failed: ${String(stopErr)})`;
    });
    throw err;
  }
}
