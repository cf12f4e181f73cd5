// Phase 2: BuildKit v0.16.0 — binaries from the chosen source, the `buildkit` group, the network
// its RUN steps get (CNI), its config, its systemd unit (or a direct-mode daemon), and readiness
// through the socket. Every file is
// compared with what it should be on every run; the daemon restarts only when something it runs
// from changed, and systemd reloads only when the unit changed.
import { chmod, lstat, rename, rm } from 'node:fs/promises';
import { BuildkitClient } from '../../runtime/buildkit.js';
import { groupId } from '../host/accounts.js';
import { installedHash } from '../host/file-hash.js';
import { daemonPid, logTail, pidFileFor, startDaemon, stopDaemon } from '../host/direct.js';
import { exec, mustExec } from '../host/exec.js';
import { managedFile } from '../host/managed-file.js';
import { journalTail, systemctl, unitState } from '../host/systemd.js';
import type { InstallOptions } from '../options.js';
import { StepError, type PlannedChange, type RunState, type Step } from '../types.js';
import { buildkitdToml, buildkitUnit } from './buildkit-files.js';
import { buildNetworkSteps } from './build-network.js';
import {
  BIN_DIR,
  BINARIES,
  BUILDKIT_CONFIG,
  BUILDKIT_GROUP,
  BUILDKIT_SOCKET,
  BUILDKIT_UNIT,
  BUILDKIT_VERSION,
  buildkitdArgs,
} from './buildkit-pins.js';
import {
  describeSource,
  fetchBinaries,
  sourceId,
  type Binary,
  type LocalTarball,
} from './buildkit-source.js';
import { waitUntilReady } from './readiness.js';

/** What the ledger remembers of the last BuildKit install. */
export interface BuildkitFacts {
  source?: string;
  binaries?: Partial<Record<Binary, string>>;
}

export interface HostFacts {
  arch: string;
}

/** Steps whose change means a running daemon must restart to pick it up. */
const RUNS_FROM = [
  'buildkit-binaries',
  'buildkit-group',
  'build-network-plugins',
  'build-network-config',
  'buildkit-config',
  'buildkit-unit',
];

/** buildkitd's version and a containerd worker, through the socket. */
async function buildkitAnswers(): Promise<string> {
  const client = new BuildkitClient(BUILDKIT_SOCKET);
  try {
    const version = (await client.getVersion(2000)).version;
    const workers = await client.listWorkers(2000);
    if (!workers.some((w) => w.executor === 'containerd')) {
      throw new Error(
        `buildkitd answers but lists no containerd worker (workers: ${workers.map((w) => w.executor).join(', ') || 'none'})`,
      );
    }
    return version;
  } finally {
    client.close();
  }
}

/** Which binaries differ from what the ledger says this source installed (read-only). */
export async function binaryChanges(
  opts: InstallOptions,
  host: HostFacts,
  prior: BuildkitFacts,
  tarball?: LocalTarball,
): Promise<PlannedChange[]> {
  const id = await sourceId(opts, host.arch, tarball);
  const changes: PlannedChange[] = [];
  for (const b of BINARIES) {
    const now = await installedHash(`${BIN_DIR}/${b}`);
    if (prior.source === id && now !== undefined && now === prior.binaries?.[b]) continue;
    changes.push({
      kind: 'binary',
      target: `${BIN_DIR}/${b}`,
      action: now === undefined ? 'create' : 'update',
      detail: describeSource(opts, host.arch),
    });
  }
  return changes;
}

export function buildkitSteps(
  opts: InstallOptions,
  host: HostFacts,
  prior: BuildkitFacts,
  /** The run's local tarball (source tarball), read once for all steps. */
  tarball?: LocalTarball,
): Step[] {
  let expected: Partial<Record<Binary, string>> = prior.binaries ?? {};
  const evidence = () => (opts.init === 'systemd' ? journalTail('buildkit.service') : logTail('buildkitd'));

  const binaries: Step = {
    id: 'buildkit-binaries',
    title: `BuildKit ${BUILDKIT_VERSION} binaries in ${BIN_DIR}`,
    plan: () => binaryChanges(opts, host, prior, tarball),
    async apply(ctx) {
      const fetched = await fetchBinaries(opts, host.arch, ctx, tarball);
      let replaced = 0;
      try {
        for (const b of BINARIES) {
          const path = `${BIN_DIR}/${b}`;
          if ((await installedHash(path)) === fetched.sha256[b]) continue;
          const prior = await ctx.backup(path);
          await chmod(fetched.temp[b], 0o755);
          await rename(fetched.temp[b], path);
          ctx.record({ kind: 'file', role: 'binary', path, ...(prior ? { prior } : {}) });
          replaced++;
        }
      } finally {
        for (const b of BINARIES) await rm(fetched.temp[b], { force: true });
      }
      expected = fetched.sha256;
      ctx.fact('buildkit.source', await sourceId(opts, host.arch, tarball));
      ctx.fact('buildkit.binaries', fetched.sha256);
      if (replaced === 0) return 'unchanged';
    },
    async verify(ctx) {
      const out = (await mustExec(`${BIN_DIR}/buildkitd`, ['--version'])).stdout.trim();
      if (!out.split(/\s+/).includes(BUILDKIT_VERSION)) {
        throw new Error(`${BIN_DIR}/buildkitd reports "${out}", not ${BUILDKIT_VERSION}`);
      }
      for (const b of BINARIES) {
        const now = await installedHash(`${BIN_DIR}/${b}`);
        if (now !== expected[b])
          throw new Error(`${BIN_DIR}/${b} has sha256 ${now}, not the installed ${expected[b]}`);
      }
      ctx.log(out);
    },
  };

  const group: Step = {
    id: 'buildkit-group',
    title: `the ${BUILDKIT_GROUP} system group (who may use the socket)`,
    async plan() {
      return (await groupId(BUILDKIT_GROUP)) === undefined
        ? [{ kind: 'group', target: BUILDKIT_GROUP, action: 'create' }]
        : [];
    },
    async apply(ctx) {
      await mustExec('groupadd', ['--system', BUILDKIT_GROUP]);
      ctx.record({ kind: 'group', name: BUILDKIT_GROUP });
    },
  };

  const config = managedFile({
    id: 'buildkit-config',
    title: BUILDKIT_CONFIG,
    path: BUILDKIT_CONFIG,
    content: buildkitdToml(opts.registryHosts),
    mode: 0o644,
    role: 'config',
  });

  const needsRestart = (run: RunState) => RUNS_FROM.some((id) => run.changed.has(id));

  const waitReady = (fatal: () => Promise<string | undefined>) =>
    waitUntilReady({
      what: `buildkitd at ${BUILDKIT_SOCKET}`,
      timeoutSec: opts.readyTimeout,
      probe: buildkitAnswers,
      fatal,
      evidence,
    });

  const systemd: Step[] = [
    managedFile({
      id: 'buildkit-unit',
      title: BUILDKIT_UNIT,
      path: BUILDKIT_UNIT,
      content: buildkitUnit(),
      mode: 0o644,
      role: 'unit',
    }),
    {
      id: 'buildkit-service',
      title: 'buildkit.service (enabled and running)',
      async plan(run) {
        const s = await unitState('buildkit.service');
        const changes: PlannedChange[] = [];
        if (run.changed.has('buildkit-unit'))
          changes.push({ kind: 'unit', target: 'systemd', action: 'reload' });
        if (s.fileState !== 'enabled')
          changes.push({ kind: 'service', target: 'buildkit.service', action: 'enable' });
        if (s.active !== 'active')
          changes.push({ kind: 'service', target: 'buildkit.service', action: 'start' });
        else if (needsRestart(run))
          changes.push({ kind: 'service', target: 'buildkit.service', action: 'restart' });
        return changes;
      },
      async apply(ctx, planned) {
        const has = (a: PlannedChange['action']) => planned.some((c) => c.action === a);
        if (has('reload')) await systemctl('daemon-reload');
        if (has('enable')) await systemctl('enable', 'buildkit.service');
        if (has('start')) await systemctl('start', '--no-block', 'buildkit.service');
        if (has('restart')) await systemctl('restart', '--no-block', 'buildkit.service');
        ctx.record({
          kind: 'service',
          unit: 'buildkit.service',
          enabled: has('enable'),
          started: has('start'),
        });
        const before = await unitState('buildkit.service');
        ctx.log(
          `buildkitd ${await waitReady(() => unitFailed(before.restarts))} answers with a containerd worker`,
        );
      },
    },
  ];

  const direct: Step = {
    id: 'buildkit-service',
    title: 'buildkitd (direct mode: started in the background, not at boot)',
    async plan(run) {
      const ours = await daemonPid(pidFileFor('buildkitd'), 'buildkitd');
      const answers = await buildkitAnswers().then(
        () => true,
        () => false,
      );
      if (!answers) return [{ kind: 'service', target: 'buildkitd', action: ours ? 'restart' : 'start' }];
      return ours && needsRestart(run) ? [{ kind: 'service', target: 'buildkitd', action: 'restart' }] : [];
    },
    async apply(ctx) {
      const pidFile = pidFileFor('buildkitd');
      await stopDaemon(pidFile, 'buildkitd');
      const pid = await startDaemon('buildkitd', `${BIN_DIR}/buildkitd`, buildkitdArgs());
      ctx.record({ kind: 'process', name: 'buildkitd', pidFile });
      const exited = async () =>
        (await daemonPid(pidFile, 'buildkitd')) === pid ? undefined : 'buildkitd exited';
      ctx.log(`buildkitd ${await waitReady(exited)} (pid ${pid}) answers with a containerd worker`);
    },
  };

  /** A unit that failed, or exited and waits to be restarted, will not come up by waiting. */
  async function unitFailed(restartsBefore: number): Promise<string | undefined> {
    const s = await unitState('buildkit.service');
    if (s.active === 'failed') return `buildkit.service failed to start (${s.sub})`;
    if (s.sub === 'auto-restart' || s.restarts > restartsBefore) {
      return `buildkit.service exited and systemd is restarting it (${s.active}/${s.sub}, restarts ${s.restarts})`;
    }
    return undefined;
  }

  return [
    binaries,
    group,
    ...buildNetworkSteps(opts),
    config,
    ...(opts.init === 'systemd' ? systemd : [direct]),
    verifyStep(opts),
  ];
}

/** The end-to-end check, run every time: the daemon is up and steady, the socket is exactly as
 *  promised, and an unprivileged member of the group gets a containerd worker listing. */
function verifyStep(opts: InstallOptions): Step {
  return {
    id: 'buildkit-verify',
    title: 'BuildKit verified: service, socket, access as a group member',
    checkOnly: true,
    plan: async () => [],
    apply: async () => undefined,
    async verify(ctx) {
      try {
        await verifyAccess(opts, ctx.log);
      } catch (err) {
        if (err instanceof StepError) throw err;
        const evidence = opts.init === 'systemd' ? journalTail('buildkit.service') : logTail('buildkitd');
        throw new StepError((err as Error).message, await evidence);
      }
    },
  };
}

async function verifyAccess(opts: InstallOptions, log: (m: string) => void): Promise<void> {
  if (opts.init === 'systemd') await steadyUnit('buildkit.service');
  await socketAsPromised();
  const gid = (await groupId(BUILDKIT_GROUP)) as number;
  const r = await exec(
    `${BIN_DIR}/buildctl`,
    ['--addr', `unix://${BUILDKIT_SOCKET}`, 'debug', 'workers', '-v'],
    {
      uid: 65534,
      gid,
      timeoutMs: 15_000,
    },
  );
  if (r.code !== 0) {
    throw new Error(`buildctl as uid 65534 gid ${BUILDKIT_GROUP} cannot list workers: ${r.stderr.trim()}`);
  }
  if (!/org\.mobyproject\.buildkit\.worker\.executor:\s*containerd/.test(r.stdout)) {
    throw new Error(`buildkitd lists no containerd worker:\n${r.stdout.trim()}`);
  }
  // buildkitd ignores keys it does not know: the worker's label says which network RUN steps get.
  if (!/org\.mobyproject\.buildkit\.worker\.network:\s*cni\b/.test(r.stdout)) {
    throw new Error(
      `buildkitd's containerd worker does not run RUN steps on the CNI network:\n${r.stdout.trim()}`,
    );
  }
  log(
    `a member of ${BUILDKIT_GROUP} (uid 65534) lists a containerd worker through ${BUILDKIT_SOCKET}; RUN steps get the CNI network`,
  );
  if (opts.init === 'direct') {
    log(
      'direct mode: containerd and buildkitd run in the background and will not start again after a reboot',
    );
  }
}

async function steadyUnit(unit: string): Promise<void> {
  const first = await unitState(unit);
  await new Promise((r) => setTimeout(r, 1000));
  const then = await unitState(unit);
  if (then.active !== 'active' || then.sub !== 'running' || then.restarts !== first.restarts) {
    throw new Error(
      `${unit} is not steadily running (${then.active}/${then.sub}, restarts ${first.restarts} → ${then.restarts})`,
    );
  }
}

async function socketAsPromised(): Promise<void> {
  const st = await lstat(BUILDKIT_SOCKET);
  const gid = await groupId(BUILDKIT_GROUP);
  const problems = [
    !st.isSocket() && 'is not a socket',
    (st.mode & 0o777) !== 0o660 && `has mode ${(st.mode & 0o777).toString(8)}, not 660`,
    st.uid !== 0 && `is owned by uid ${st.uid}, not root`,
    st.gid !== gid && `has gid ${st.gid}, not ${BUILDKIT_GROUP} (${gid})`,
  ].filter(Boolean);
  if (problems.length > 0) throw new Error(`${BUILDKIT_SOCKET} ${problems.join(', ')}`);
}
