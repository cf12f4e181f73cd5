// The I/O behind doctor's access section: finds the running server (opencloud.service's MainPID
// under systemd, else a `node … opencloud… serve` process in /proc), reads its ids as the kernel
// holds them (/proc/<pid>/status), the user's groups now (/etc/passwd, /etc/group, the unit's
// SupplementaryGroups=), stats the sockets, and — as root — really connects to each socket as
// the server's identity with setpriv. The decisions are in access.ts.
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, readdir, readFile, readlink, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Config } from '../config/schema.js';
import { SERVICE_USER, UNIT } from '../deploy/paths.js';
import { BUILDKIT_GROUP } from '../installer/components/buildkit-pins.js';
import type { AccessInput, Identity, Probe, ProbeOutcome, ServerProcess, SocketFacts } from './access.js';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}
export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export function parsePasswd(text: string): PasswdEntry[] {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 4)
    .map(([name = '', , uid = '', gid = '']) => ({ name, uid: Number(uid), gid: Number(gid) }))
    .filter((e) => Number.isInteger(e.uid) && Number.isInteger(e.gid));
}

export function parseGroup(text: string): GroupEntry[] {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 3)
    .map(([name = '', , gid = '', members = '']) => ({
      name,
      gid: Number(gid),
      members: members.split(',').filter(Boolean),
    }))
    .filter((e) => Number.isInteger(e.gid));
}

/** Uid/Gid/Groups from /proc/<pid>/status; the effective ids (second column) decide access. */
export function parseStatus(text: string): Identity | undefined {
  const field = (key: string) => text.match(new RegExp(`^${key}:\\s*(.*)$`, 'm'))?.[1]?.trim();
  const uid = field('Uid')?.split(/\s+/).map(Number)[1];
  const gid = field('Gid')?.split(/\s+/).map(Number)[1];
  if (uid === undefined || gid === undefined || Number.isNaN(uid) || Number.isNaN(gid)) return undefined;
  const groups = (field('Groups') ?? '').split(/\s+/).filter(Boolean).map(Number);
  return { uid, gid, groups };
}

/** `node [node options] …/opencloud(.js) … serve …`: the server started from a checkout or the launcher. */
export function isServeCommand(argv: string[]): boolean {
  if (!/^node(js)?[\d.]*$/.test(basename(argv[0] ?? ''))) return false;
  let i = 1;
  while (i < argv.length && argv[i]?.startsWith('-')) i++;
  const script = argv[i];
  if (!script || !basename(script).startsWith('opencloud')) return false;
  return argv.slice(i + 1).includes('serve');
}

function run(cmd: string, args: string[], timeout = 5000): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout, encoding: 'utf8' }, (err, stdout) => resolve(err ? undefined : stdout));
  });
}

interface UnitInfo {
  mainPid?: number;
  activeState?: string;
  supplementaryGroups: string[];
}

async function unitInfo(): Promise<UnitInfo | undefined> {
  const out = await run('systemctl', [
    'show',
    '-p',
    'MainPID',
    '-p',
    'ActiveState',
    '-p',
    'LoadState',
    '-p',
    'SupplementaryGroups',
    UNIT,
  ]);
  if (out === undefined) return undefined;
  const kv = Object.fromEntries(
    out
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  if (kv.LoadState === 'not-found') return { supplementaryGroups: [] };
  const pid = Number(kv.MainPID);
  return {
    ...(pid > 0 ? { mainPid: pid } : {}),
    ...(kv.ActiveState ? { activeState: kv.ActiveState } : {}),
    supplementaryGroups: (kv.SupplementaryGroups ?? '').split(/\s+/).filter(Boolean),
  };
}

async function cmdline(pid: number): Promise<string[] | undefined> {
  const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  return raw ? raw.replace(/\0$/, '').split('\0') : undefined;
}

export async function processAt(
  pid: number,
  source: ServerProcess['source'],
): Promise<ServerProcess | undefined> {
  const [argv, status] = await Promise.all([
    cmdline(pid),
    readFile(`/proc/${pid}/status`, 'utf8').catch(() => ''),
  ]);
  const identity = parseStatus(status);
  if (!identity) return undefined;
  return { source, pid, cmdline: (argv ?? []).join(' '), identity };
}

/**
 * Every `node … opencloud… serve` process but this one, lowest pid first. Those in another PID
 * namespace (a container: systemd-nspawn, docker) are set apart: their uids and paths mean
 * something else inside, so they are named but not judged.
 */
export async function serveProcesses(): Promise<{ here: number[]; elsewhere: number[] }> {
  const entries = await readdir('/proc').catch(() => [] as string[]);
  const pids = entries.filter((e) => /^\d+$/.test(e)).map(Number);
  const ours = await readlink('/proc/self/ns/pid').catch(() => undefined);
  const here: number[] = [];
  const elsewhere: number[] = [];
  await Promise.all(
    pids.map(async (pid) => {
      if (pid === process.pid) return;
      const argv = await cmdline(pid);
      if (!argv || !isServeCommand(argv)) return;
      const ns = await readlink(`/proc/${pid}/ns/pid`).catch(() => undefined);
      (ours && ns && ns !== ours ? elsewhere : here).push(pid);
    }),
  );
  const byPid = (a: number, b: number) => a - b;
  return { here: here.sort(byPid), elsewhere: elsewhere.sort(byPid) };
}

async function socketFacts(role: SocketFacts['role'], path: string): Promise<SocketFacts> {
  const facts: SocketFacts = { role, path, probes: [] };
  try {
    const st = await lstat(path);
    facts.stat = { uid: st.uid, gid: st.gid, mode: st.mode & 0o7777, isSocket: st.isSocket() };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') facts.statError = `${code}: ${(err as Error).message}`;
  }
  const dir = dirname(path);
  const ds = await stat(dir).catch(() => undefined);
  if (ds) facts.dir = { path: dir, uid: ds.uid, gid: ds.gid, mode: ds.mode & 0o7777 };
  return facts;
}

// The child's whole job: connect, print "ok" or the errno, exit. Nothing from the project is
// loaded, so it runs even where the checkout is unreadable to the service user.
const CONNECT_JS =
  "const s=require('net').connect(process.argv[1]);" +
  "const t=setTimeout(()=>{console.log('ETIMEDOUT');process.exit(0)},3000);" +
  "s.on('connect',()=>{console.log('ok');process.exit(0)});" +
  "s.on('error',e=>{console.log(e.code||e.message);process.exit(0)});";

const OUTCOME: Record<string, ProbeOutcome> = {
  ok: 'ok',
  EACCES: 'permission',
  EPERM: 'permission',
  ECONNREFUSED: 'refused',
  ENOENT: 'missing',
  ETIMEDOUT: 'timeout',
};

export function setprivArgs(id: Identity, path: string): string[] {
  return [
    `--reuid=${id.uid}`,
    `--regid=${id.gid}`,
    ...(id.groups.length ? [`--groups=${id.groups.join(',')}`] : ['--clear-groups']),
    '--',
    process.execPath,
    '-e',
    CONNECT_JS,
    path,
  ];
}

/** Connects to `path` from a child holding exactly `id` (uid, gid and supplementary groups). */
export function probeAs(id: Identity, path: string, as: Probe['as']): Promise<Probe> {
  const args = setprivArgs(id, path);
  const shown = `setpriv ${args.slice(0, args.indexOf('--') + 1).join(' ')} node -e '<connect>' ${path}`;
  return new Promise((resolve) => {
    const child = spawn('setpriv', args, { cwd: '/', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const done = (detail: string, outcome: ProbeOutcome) => {
      clearTimeout(timer);
      resolve({ as, identity: id, outcome, detail, command: shown });
    };
    child.once('error', (e) => done(`cannot run setpriv: ${e.message}`, 'error'));
    child.once('close', (code) => {
      const word = out.trim().split('\n').pop() ?? '';
      if (word && OUTCOME[word]) done(word, OUTCOME[word]);
      else if (word) done(word, 'error');
      else done(err.trim() || `the check exited ${code} without an answer`, 'error');
    });
  });
}

const gidSet = (id: Identity) => [...new Set([id.gid, ...id.groups])].sort((x, y) => x - y).join(',');
const sameIds = (a: Identity, b: Identity) => a.uid === b.uid && a.gid === b.gid && gidSet(a) === gidSet(b);

/** Gathers everything access.ts decides on. Never throws: a fact it cannot get is left out. */
export async function gatherAccess(config: Config): Promise<AccessInput> {
  const systemd = existsSync('/run/systemd/system');
  const unit = systemd ? await unitInfo() : undefined;

  let server: ServerProcess | undefined;
  if (unit?.mainPid) server = await processAt(unit.mainPid, 'systemd');
  const { here: pids, elsewhere: foreignPids } = await serveProcesses();
  if (!server) {
    for (const pid of pids) {
      server = await processAt(pid, 'proc');
      if (server) break;
    }
  }
  const otherPids = pids.filter((p) => p !== server?.pid);

  const [passwd, groups] = await Promise.all([
    readFile('/etc/passwd', 'utf8')
      .then(parsePasswd)
      .catch(() => [] as PasswdEntry[]),
    readFile('/etc/group', 'utf8')
      .then(parseGroup)
      .catch(() => [] as GroupEntry[]),
  ]);
  const groupNames: Record<number, string> = {};
  for (const g of groups) groupNames[g.gid] ??= g.name;
  const user = server
    ? passwd.find((p) => p.uid === server.identity.uid)
    : passwd.find((p) => p.name === SERVICE_USER);

  let groupsNow: number[] | undefined;
  if (user) {
    // What initgroups() gives a new process (the primary gid and every /etc/group membership),
    // plus what the unit adds when it is the unit's user.
    const fromUnit =
      unit && (!server || server.source === 'systemd') && user.name === SERVICE_USER
        ? unit.supplementaryGroups
        : [];
    const gids = [
      user.gid,
      ...groups.filter((g) => g.members.includes(user.name)).map((g) => g.gid),
      ...fromUnit.flatMap((n) => groups.filter((g) => g.name === n || String(g.gid) === n).map((g) => g.gid)),
    ];
    groupsNow = [...new Set(gids)].sort((a, b) => a - b);
  }

  const sockets = await Promise.all([
    socketFacts('buildkit', config.buildkit.socket),
    socketFacts('containerd', config.containerd.socket),
  ]);

  // Real connects: as the running process exactly, and — if /etc/group now says otherwise — as
  // a restarted server would be. Only root can take another identity.
  let probeSkipped: string | undefined;
  const identities: Array<[Probe['as'], Identity]> = [];
  const future = user && groupsNow ? { uid: user.uid, gid: user.gid, groups: groupsNow } : undefined;
  if (server) identities.push(['running', server.identity]);
  if (future && (!server || !sameIds(future, server.identity))) identities.push(['restart', future]);
  if (identities.length === 0) {
    probeSkipped = 'no server identity to check as';
  } else if (process.getuid?.() !== 0) {
    probeSkipped = `doctor runs as uid ${process.getuid?.()}, and only root can connect as another user: run it as root for a real check`;
  } else {
    await Promise.all(
      sockets
        .filter((s) => s.stat?.isSocket)
        .map(async (s) => {
          for (const [as, id] of identities) s.probes.push(await probeAs(id, s.path, as));
        }),
    );
  }

  const required = groups.find((g) => g.name === BUILDKIT_GROUP);
  return {
    serviceUser: SERVICE_USER,
    unit: UNIT,
    systemd,
    ...(unit?.activeState ? { unitState: unit.activeState } : {}),
    ...(server ? { server } : {}),
    otherPids,
    foreignPids,
    ...(user ? { user } : {}),
    ...(groupsNow ? { groupsNow } : {}),
    groupNames,
    requiredGroup: required ? { name: BUILDKIT_GROUP, gid: required.gid } : { name: BUILDKIT_GROUP },
    sockets,
    ...(probeSkipped ? { probeSkipped } : {}),
  };
}
