// `opencloud install` as installer steps: OpenCloud itself as a systemd service running as the
// unprivileged `opencloud` user, with access to the BuildKit socket through the buildkit group and
// one narrow privileged path (sudo, exactly the helper) for host changes.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import {
  chmod,
  chown,
  lchown,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUILDKIT_GROUP } from '../installer/components/buildkit-pins.js';
import { waitUntilReady } from '../installer/components/readiness.js';
import { groupId, groupMembers, userInfo } from '../installer/host/accounts.js';
import { aptInstall, installedVersion } from '../installer/host/apt.js';
import { atomicWrite } from '../installer/host/atomic-write.js';
import { exec, mustExec } from '../installer/host/exec.js';
import { managedFile } from '../installer/host/managed-file.js';
import { journalTail, systemctl, systemdIsPid1, unitState } from '../installer/host/systemd.js';
import { StepError, type PlannedChange, type Step } from '../installer/types.js';
import { loadConfig } from '../config/load.js';
import { merged, renderNew } from './config-file.js';
import { launcher, opencloudUnit, sudoersRule } from './files.js';
import {
  CONFIG_DIR,
  CONFIG_FILE,
  LAUNCHER,
  PRIVILEGED_HELPER,
  PROGRAM_DIR,
  SERVICE_USER,
  SUDOERS_FILE,
  UNIT,
  UNIT_PATH,
} from './paths.js';
import {
  driftedFiles,
  installedManifest,
  installTree,
  sourceManifest,
  type TreeManifest,
} from './program-tree.js';

export interface DeployOptions {
  /** host:port the server listens on (written to the config file when it lacks one, or when given). */
  listen: string;
  listenGiven: boolean;
  dataDir: string;
  /** The program to install: a checkout with dist/ built, or an installed copy. */
  source: string;
  /** The node binary the unit and the launcher run. */
  node: string;
  readyTimeout: number;
  lockTimeout: number;
}

const PHASE = 'Install: OpenCloud as a system service';
/** Steps whose change means the running server must be restarted. */
const RESTART_ON = ['program', 'config-file', 'unit', 'membership'];

async function serviceUser() {
  const u = await userInfo(SERVICE_USER);
  if (!u) throw new StepError(`user ${SERVICE_USER} does not exist (the account step should have made it)`);
  return u;
}

function preflight(o: DeployOptions, manifest: { value?: TreeManifest }): Step {
  return {
    id: 'preflight',
    title: 'preflight: root, systemd, node, the program to install (read-only)',
    async plan() {
      if (process.getuid?.() !== 0)
        throw new StepError('opencloud install changes the host and must run as root');
      if (!systemdIsPid1())
        throw new StepError(
          'systemd is not running as PID 1 here (/run/systemd/system is missing): opencloud install sets up a systemd service',
          'on a host without systemd, run `opencloud serve` under your own supervisor',
        );
      const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
      if (major < 20 || (major === 20 && minor < 19))
        throw new StepError(
          `node ${process.versions.node} at ${o.node} is too old; OpenCloud needs >= 20.19`,
        );
      manifest.value = await sourceManifest(o.source);
      return [];
    },
    apply: async () => 'unchanged',
  };
}

function sudoPackage(o: DeployOptions): Step {
  return {
    id: 'sudo-package',
    title: 'sudo (the privileged path for host changes requested through the API)',
    async plan() {
      return (await installedVersion('sudo')) ? [] : [{ kind: 'package', target: 'sudo', action: 'install' }];
    },
    async apply(ctx) {
      const added = await aptInstall(['sudo'], { lockTimeout: o.lockTimeout, onLine: ctx.log });
      ctx.record({ kind: 'package', names: added });
    },
  };
}

function account(o: DeployOptions): Step {
  return {
    id: 'account',
    title: `system user and group ${SERVICE_USER} (no login shell, home ${o.dataDir})`,
    async plan() {
      return (await userInfo(SERVICE_USER)) ? [] : [{ kind: 'user', target: SERVICE_USER, action: 'create' }];
    },
    async apply(ctx) {
      await mustExec('useradd', [
        '--system',
        '--user-group',
        '--home-dir',
        o.dataDir,
        '--no-create-home',
        '--shell',
        '/usr/sbin/nologin',
        '--comment',
        'OpenCloud Container Registry',
        SERVICE_USER,
      ]);
      ctx.record({ kind: 'user', name: SERVICE_USER });
    },
  };
}

/** The buildkit group (shared with the container-registry service, so kept on uninstall) and membership. */
function buildkitAccess(): Step {
  return {
    id: 'membership',
    title: `${SERVICE_USER} in group ${BUILDKIT_GROUP} (read and write on the BuildKit socket)`,
    async plan() {
      const changes: PlannedChange[] = [];
      if ((await groupId(BUILDKIT_GROUP)) === undefined)
        changes.push({ kind: 'group', target: BUILDKIT_GROUP, action: 'create' });
      if (!(await groupMembers(BUILDKIT_GROUP)).includes(SERVICE_USER))
        changes.push({
          kind: 'membership',
          target: `${SERVICE_USER} in ${BUILDKIT_GROUP}`,
          action: 'create',
        });
      return changes;
    },
    async apply(ctx) {
      if ((await groupId(BUILDKIT_GROUP)) === undefined) {
        // Made now so membership does not depend on the order services are enabled in; not
        // recorded: the container-registry service uses it too, and a group with members is kept.
        await mustExec('groupadd', ['--system', BUILDKIT_GROUP]);
        ctx.log(
          `created group ${BUILDKIT_GROUP} (shared with the container-registry service; kept on uninstall)`,
        );
      }
      if (!(await groupMembers(BUILDKIT_GROUP)).includes(SERVICE_USER)) {
        await mustExec('usermod', ['--append', '--groups', BUILDKIT_GROUP, SERVICE_USER]);
        ctx.record({ kind: 'membership', user: SERVICE_USER, group: BUILDKIT_GROUP });
      }
    },
    async verify() {
      if (!(await groupMembers(BUILDKIT_GROUP)).includes(SERVICE_USER))
        throw new StepError(`${SERVICE_USER} is still not a member of ${BUILDKIT_GROUP}`);
    },
  };
}

/** The data dir: 0750 and owned by the service user; kept on uninstall (removed by --purge). */
function dataDir(o: DeployOptions): Step {
  const keyFile = join(o.dataDir, 'auth', 'token.key');
  return {
    id: 'data-dir',
    title: `data directory ${o.dataDir} (0750, owned by ${SERVICE_USER}) and a fresh token signing key`,
    async plan() {
      const changes: PlannedChange[] = [];
      const u = await userInfo(SERVICE_USER);
      const st = await stat(o.dataDir).catch(() => undefined);
      if (!st) changes.push({ kind: 'directory', target: o.dataDir, action: 'create' });
      else if ((st.mode & 0o7777) !== 0o750 || !u || st.uid !== u.uid || st.gid !== u.gid)
        changes.push({
          kind: 'directory',
          target: o.dataDir,
          action: 'update',
          detail: `owner ${SERVICE_USER}:${SERVICE_USER}, mode 750 (now uid ${st.uid}, gid ${st.gid}, mode ${(st.mode & 0o7777).toString(8)})`,
        });
      if (!existsSync(keyFile))
        changes.push({ kind: 'file', target: keyFile, action: 'create', detail: '32 random bytes, 0600' });
      return changes;
    },
    async apply(ctx) {
      const u = await serviceUser();
      const st = await stat(o.dataDir).catch(() => undefined);
      if (!st) await mkdir(o.dataDir, { recursive: true, mode: 0o750 });
      else if (st.uid !== u.uid) {
        // A data dir kept from an earlier install (its user since re-created with another uid).
        await mustExec('chown', ['-R', `${u.uid}:${u.gid}`, o.dataDir]);
        ctx.log(`gave ${o.dataDir} and everything in it to ${SERVICE_USER}`);
      }
      await chown(o.dataDir, u.uid, u.gid);
      await chmod(o.dataDir, 0o750);
      if (!existsSync(keyFile)) {
        await mkdir(join(o.dataDir, 'auth'), { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'EEXIST') throw e;
        });
        await chown(join(o.dataDir, 'auth'), u.uid, u.gid);
        await atomicWrite(keyFile, randomBytes(32), { mode: 0o600, uid: u.uid, gid: u.gid });
      }
    },
  };
}

/** The server would refuse to start with an invalid file: refuse it here, before anything changes. */
async function validate(text: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'opencloud-config-'));
  try {
    await writeFile(join(dir, 'config.yaml'), text);
    loadConfig({ configFile: join(dir, 'config.yaml'), env: {} });
  } catch (err) {
    throw new StepError(
      `${CONFIG_FILE} would not be accepted by the server: ${(err as Error).message.replace(join(dir, 'config.yaml'), CONFIG_FILE)}`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function configFile(o: DeployOptions): Step {
  const settings = { listen: o.listen, dataDir: o.dataDir };
  const overrides = new Set(o.listenGiven ? ['listen'] : []);
  const wanted = async () => {
    const now = await readFile(CONFIG_FILE, 'utf8').catch(() => undefined);
    return { now, text: now === undefined ? renderNew(settings) : merged(now, settings, overrides) };
  };
  const file = (text: string) =>
    managedFile({
      id: 'config-file',
      title: '',
      path: CONFIG_FILE,
      content: text,
      mode: 0o640,
      role: 'config',
      group: SERVICE_USER,
    });
  return {
    id: 'config-file',
    title: `${CONFIG_FILE} (0640 root:${SERVICE_USER}; written once, later installs only add missing keys)`,
    async plan(run) {
      const { now, text } = await wanted();
      await validate(text);
      const changes = await file(text).plan(run);
      if (now !== undefined && changes.length > 0 && now !== text)
        run.log(`${CONFIG_FILE} exists: only the keys it lacks are added`);
      return changes;
    },
    async apply(ctx, planned, run) {
      if (!existsSync(CONFIG_DIR)) {
        await mkdir(CONFIG_DIR, { mode: 0o755 });
        ctx.record({ kind: 'directory', path: CONFIG_DIR });
      }
      return file((await wanted()).text).apply(ctx, planned, run);
    },
  };
}

function program(o: DeployOptions, manifest: { value?: TreeManifest }): Step {
  return {
    id: 'program',
    title: `the program in ${PROGRAM_DIR} (bin, dist, proto, production node_modules)`,
    async plan() {
      const want = manifest.value as TreeManifest;
      const have = await installedManifest(PROGRAM_DIR);
      if (have?.digest === want.digest) {
        // The same program, unless files were changed in place since: then it is put back whole.
        const drifted = await driftedFiles(PROGRAM_DIR, have);
        if (drifted.length === 0) return [];
        return [
          {
            kind: 'tree',
            target: PROGRAM_DIR,
            action: 'update',
            detail: `${drifted.length} installed files differ from the manifest (${drifted.slice(0, 3).join(', ')}${drifted.length > 3 ? ', …' : ''}): reinstalled from ${o.source}`,
          },
        ];
      }
      const paths = (m?: TreeManifest) => new Map(m?.entries.map((e) => [e.path, e.sha256 ?? e.target]));
      const before = paths(have);
      const after = paths(want);
      const added = [...after.keys()].filter((p) => !before.has(p)).length;
      const removed = [...before.keys()].filter((p) => !after.has(p)).length;
      const changed = [...after.keys()].filter((p) => before.has(p) && before.get(p) !== after.get(p)).length;
      return [
        {
          kind: 'tree',
          target: PROGRAM_DIR,
          action: have ? 'update' : 'create',
          detail: have
            ? `${changed} files changed, ${added} added, ${removed} removed (from ${o.source})`
            : `${want.entries.length} files from ${o.source}`,
        },
      ];
    },
    async apply(ctx) {
      const prior = await installTree(o.source, PROGRAM_DIR, manifest.value as TreeManifest);
      ctx.record({ kind: 'tree', path: PROGRAM_DIR, ...(prior ? { prior } : {}) });
    },
    async verify() {
      const m = await installedManifest(PROGRAM_DIR);
      if (!m) throw new StepError(`${PROGRAM_DIR} has no manifest`);
      const drifted = await driftedFiles(PROGRAM_DIR, m);
      if (drifted.length > 0)
        throw new StepError(
          `${PROGRAM_DIR}: ${drifted.length} files differ from what was installed`,
          drifted.slice(0, 10).join('\n'),
        );
    },
  };
}

function sudoers(): Step {
  const file = managedFile({
    id: 'sudoers',
    title: '',
    path: SUDOERS_FILE,
    content: sudoersRule(),
    mode: 0o440,
    role: 'config',
  });
  return {
    id: 'sudoers',
    title: `${SUDOERS_FILE}: ${SERVICE_USER} may run ${PRIVILEGED_HELPER} as root, nothing else`,
    plan: (run) => file.plan(run),
    async apply(ctx, planned, run) {
      // visudo checks the rule before sudo ever reads it: a broken drop-in would break sudo for everyone.
      const dir = await mkdtemp(join(tmpdir(), 'opencloud-sudoers-'));
      try {
        await writeFile(join(dir, 'opencloud'), sudoersRule(), { mode: 0o440 });
        await mustExec('visudo', ['-c', '-q', '-f', join(dir, 'opencloud')]);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      return file.apply(ctx, planned, run);
    },
    async verify() {
      // As the service user would: sudo lists the helper as allowed (and asks for no password).
      const r = await exec('runuser', ['-u', SERVICE_USER, '--', 'sudo', '-n', '-l', PRIVILEGED_HELPER]);
      if (r.code !== 0 || r.stdout.trim() !== PRIVILEGED_HELPER)
        throw new StepError(
          `sudo does not allow ${SERVICE_USER} to run ${PRIVILEGED_HELPER}`,
          (r.stderr || r.stdout).trim(),
        );
    },
  };
}

function service(o: DeployOptions, listen: string): Step {
  return {
    id: 'service',
    title: `${UNIT} enabled and running as ${SERVICE_USER}`,
    async plan(run) {
      const s = await unitState(UNIT);
      const changes: PlannedChange[] = [];
      if (s.fileState !== 'enabled') changes.push({ kind: 'service', target: UNIT, action: 'enable' });
      if (s.active !== 'active') changes.push({ kind: 'service', target: UNIT, action: 'start' });
      else if (RESTART_ON.some((id) => run.changed.has(id)))
        changes.push({
          kind: 'service',
          target: UNIT,
          action: 'restart',
          detail: 'its program, unit, config or groups changed',
        });
      return changes;
    },
    async apply(ctx, planned, run) {
      if (run.changed.has('unit')) await systemctl('daemon-reload');
      await giveDataFiles(o.dataDir);
      const enable = planned.some((c) => c.action === 'enable');
      const start = planned.some((c) => c.action === 'start');
      if (enable) await systemctl('enable', UNIT);
      if (start) await systemctl('start', UNIT);
      if (planned.some((c) => c.action === 'restart')) await systemctl('restart', UNIT);
      ctx.record({ kind: 'service', unit: UNIT, enabled: enable, started: start });
    },
    async verify(ctx) {
      const url = `${servesHttps() ? 'https' : 'http'}://${listen}/readyz`;
      await waitUntilReady({
        what: `${UNIT} at ${url}`,
        timeoutSec: o.readyTimeout,
        probe: async () => {
          const res = await getReadyz(url);
          if (res.status !== 200) throw new Error(`GET /readyz answered ${res.status}: ${res.text}`);
        },
        fatal: async () => {
          const s = await unitState(UNIT);
          if (s.active === 'failed') return `the unit failed (${s.sub})`;
          return s.sub === 'auto-restart'
            ? `the server exited and systemd is restarting it (${s.restarts} restarts)`
            : undefined;
        },
        evidence: () => journalTail(UNIT),
      });
      ctx.log(`${url} answers 200`);
      await checkProcess(ctx.log);
    },
  };
}

/** Whether the installed config turns HTTPS on (tls.cert set; the server checks the rest). */
function servesHttps(): boolean {
  try {
    return loadConfig({ configFile: CONFIG_FILE, env: {} }).config.tls.cert !== undefined;
  } catch {
    return false;
  }
}

/** GET on the local listen address. Under TLS the certificate names the public host, not this
 *  address, and the probe sends nothing secret: it does not verify the certificate. */
function getReadyz(url: string): Promise<{ status: number; text: string }> {
  const get = url.startsWith('https:') ? httpsGet : httpGet;
  return new Promise((resolve, reject) => {
    const req = get(url, { rejectUnauthorized: false, timeout: 2000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within 2 s`)));
    req.on('error', reject);
  });
}

/** The running server is the service user, and the kernel gave it the buildkit group. */
async function checkProcess(log: (m: string) => void): Promise<void> {
  const { mainPid } = await unitState(UNIT);
  const status = await readFile(`/proc/${mainPid}/status`, 'utf8');
  const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
  const groups = (/^Groups:\s*(.*)$/m.exec(status)?.[1] ?? '')
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
  const u = await serviceUser();
  const gid = await groupId(BUILDKIT_GROUP);
  if (uid !== u.uid)
    throw new StepError(`${UNIT} (pid ${mainPid}) runs as uid ${uid}, not ${SERVICE_USER} (${u.uid})`);
  if (gid === undefined || !groups.includes(gid))
    throw new StepError(
      `${UNIT} (pid ${mainPid}) is not in group ${BUILDKIT_GROUP} (its groups: ${groups.join(' ') || 'none'})`,
      `fix: usermod -aG ${BUILDKIT_GROUP} ${SERVICE_USER} && systemctl restart ${UNIT}`,
    );
  log(`pid ${mainPid} runs as ${SERVICE_USER} with group ${BUILDKIT_GROUP} (gid ${gid})`);
}

/** A connection to the BuildKit socket as the service user, when BuildKit is installed. */
function socketAccess(): Step {
  return {
    id: 'buildkit-access',
    title: `${SERVICE_USER} can connect to the BuildKit socket`,
    checkOnly: true,
    plan: async () => [],
    apply: async () => 'unchanged',
    async verify(ctx) {
      const socket = '/run/buildkit/buildkitd.sock';
      if (!existsSync(socket)) {
        ctx.log(
          `${socket} is not there yet: \`opencloud services enable container-registry\` (or the API) installs BuildKit`,
        );
        return;
      }
      const script = `require('net').createConnection(${JSON.stringify(socket)}).on('connect',()=>process.exit(0)).on('error',(e)=>{console.error(e.code||e.message);process.exit(1)})`;
      const r = await exec('runuser', ['-u', SERVICE_USER, '--', process.execPath, '-e', script]);
      if (r.code !== 0)
        throw new StepError(`${SERVICE_USER} cannot connect to ${socket}: ${r.stderr.trim()}`);
      ctx.log(`${SERVICE_USER} connects to ${socket}`);
    },
  };
}

export function installSteps(o: DeployOptions): Step[] {
  const manifest: { value?: TreeManifest } = {};
  const [host, port] = [
    o.listen.slice(0, o.listen.lastIndexOf(':')),
    o.listen.slice(o.listen.lastIndexOf(':') + 1),
  ];
  const reach = `${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${port}`;
  const unit = managedFile({
    id: 'unit',
    title: `${UNIT_PATH} (runs as ${SERVICE_USER}, restarts on failure)`,
    path: UNIT_PATH,
    content: opencloudUnit({ node: o.node, dataDir: o.dataDir }),
    mode: 0o644,
    role: 'unit',
  });
  const bin = managedFile({
    id: 'launcher',
    title: `${LAUNCHER} (the opencloud command)`,
    path: LAUNCHER,
    content: launcher(o.node),
    mode: 0o755,
    role: 'binary',
  });
  return [
    preflight(o, manifest),
    sudoPackage(o),
    account(o),
    buildkitAccess(),
    dataDir(o),
    configFile(o),
    program(o, manifest),
    bin,
    unit,
    sudoers(),
    service(o, reach),
    socketAccess(),
  ].map((s) => ({ ...s, phase: PHASE }));
}

/**
 * Files this (root) run created at the top of the data dir, given to the service user: the state
 * database the ledger opened (and its -wal/-shm) must be writable by the server. `installer/`
 * (backups of system files) stays root's.
 */
export async function giveDataFiles(dir: string): Promise<void> {
  const u = await userInfo(SERVICE_USER);
  if (!u) return;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (name === 'installer') continue;
    const st = await lstat(join(dir, name));
    if (st.uid === 0) await lchown(join(dir, name), u.uid, u.gid);
  }
}
