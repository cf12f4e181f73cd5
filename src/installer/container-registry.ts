// The container-registry service: what enabling it means (preflight, then containerd, then
// BuildKit), what disabling it means (revert what the ledger says enabling put there, newest
// first), and the record of every run in the ledger. One run at a time per host (the lock). A run
// asked for over the API is held to request-policy.ts before anything starts; a local tarball is
// read once per run (components/buildkit-source.ts).
import { randomUUID } from 'node:crypto';
import { rm, type FileHandle } from 'node:fs/promises';
import type { Ledger } from '../ledger/records.js';
import type { Artifact } from './artifacts.js';
import { revertSteps } from './revert-steps.js';
import { BUILDKIT_STATE_DIR } from './components/buildkit-pins.js';
import { localTarball, type LocalTarball } from './components/buildkit-source.js';
import { binaryChanges, buildkitSteps, type BuildkitFacts, type HostFacts } from './components/buildkit.js';
import { containerdSteps } from './components/containerd.js';
import { runSteps, type RunResult } from './engine.js';
import { openTarball, TarballError } from './host/tarball-file.js';
import { acquireLock, DEFAULT_LOCK } from './lock.js';
import type { InstallOptions } from './options.js';
import { preflightStep } from './preflight.js';
import { backupRootOf, checkRequested, PolicyRefusal, type RequestedRun } from './request-policy.js';
import type { InstallerEvent, Step } from './types.js';

export const SERVICE = 'container-registry';

export interface RunHooks {
  /** Every event, numbered from 0 in order (the number it is stored under in the ledger). */
  emit: (event: InstallerEvent, seq: number) => void;
  /** Lock file (tests use their own). */
  lockPath?: string;
  runId?: string;
  /**
   * Set when the run was asked for over the API (through the privileged helper, or in a server
   * running as root): it is held to request-policy.ts, and refused with a PolicyRefusal before
   * anything starts or is recorded. Root's own CLI leaves it unset.
   */
  requested?: RequestedRun;
}

/** `tarball`: the run's local tarball (source tarball), read once for all its steps. */
export async function enableSteps(
  opts: InstallOptions,
  ledger: Ledger,
  tarball?: LocalTarball,
): Promise<Step[]> {
  const facts = (await ledger.service(SERVICE))?.facts ?? {};
  const prior: BuildkitFacts = {};
  if (typeof facts['buildkit.source'] === 'string') prior.source = facts['buildkit.source'];
  if (facts['buildkit.binaries']) prior.binaries = facts['buildkit.binaries'] as BuildkitFacts['binaries'];
  const host: HostFacts = { arch: '' };
  const phase = (p: string) => (s: Step) => ({ ...s, phase: p });
  return [
    phase('Preflight')(
      preflightStep(
        opts,
        host,
        async () => (await binaryChanges(opts, host, prior, tarball)).length > 0,
        tarball,
      ),
    ),
    ...containerdSteps(opts).map(phase('Step 1: containerd installation')),
    ...buildkitSteps(opts, host, prior, tarball).map(phase('Step 2: buildkit installation')),
  ];
}

/** Disabling, as steps: each artifact reverted, newest first; `purge` also drops BuildKit's state. */
export function disableSteps(artifacts: Artifact[], purge: boolean, reverted: Artifact[]): Step[] {
  const steps = revertSteps(artifacts, 'Disable: reverting what enable put on this host', reverted);
  if (purge) {
    steps.push({
      id: 'purge-state',
      title: `remove BuildKit's state ${BUILDKIT_STATE_DIR}`,
      phase: 'Disable: reverting what enable put on this host',
      plan: async () => [{ kind: 'directory', target: BUILDKIT_STATE_DIR, action: 'remove' }],
      apply: () => rm(BUILDKIT_STATE_DIR, { recursive: true, force: true }),
    });
  }
  return steps;
}

/** A requested run's tarball, opened here unless the caller opened it; refused as the policy says. */
async function requestedTarball(opts: InstallOptions, req: RequestedRun): Promise<FileHandle | undefined> {
  if (opts.source !== 'tarball' || !opts.tarball || req.tarball) return undefined;
  try {
    return await openTarball(opts.tarball, req.reader);
  } catch (err) {
    if (err instanceof TarballError) throw new PolicyRefusal('TARBALL_REFUSED', err.message);
    throw err;
  }
}

export async function runService(
  action: 'plan' | 'enable' | 'disable',
  opts: InstallOptions & { purge?: boolean },
  ledger: Ledger,
  hooks: RunHooks,
): Promise<RunResult> {
  const release = action === 'plan' ? undefined : await acquireLock(hooks.lockPath ?? DEFAULT_LOCK);
  let opened: FileHandle | undefined;
  let tarball: LocalTarball | undefined;
  try {
    // Read once: what is checked is what is reverted.
    const artifacts = action === 'disable' ? await ledger.artifacts(SERVICE) : [];
    if (hooks.requested) {
      checkRequested(action, opts, artifacts, hooks.requested);
      opened = await requestedTarball(opts, hooks.requested);
    }
    if (action !== 'disable') tarball = localTarball(opts, hooks.requested?.tarball ?? opened);
    const runId = hooks.runId ?? randomUUID();
    const recorded = { ...opts } as Record<string, unknown>;
    delete recorded.dataDir;
    delete recorded.trustedSha256;
    await ledger.beginRun(runId, SERVICE, action, recorded);
    let seq = 0;
    let writes = Promise.resolve();
    const emit = (e: InstallerEvent) => {
      const n = seq++;
      hooks.emit(e, n);
      writes = writes.then(() => ledger.appendEvent(runId, n, e));
    };
    const reverted: Artifact[] = [];
    const steps =
      action === 'disable'
        ? disableSteps(artifacts, opts.purge ?? false, reverted)
        : await enableSteps(opts, ledger, tarball);
    const result = await runSteps(steps, {
      mode: action === 'plan' ? 'plan' : 'apply',
      emit,
      runId,
      backupDir: backupRootOf(opts.dataDir),
    });
    await writes;
    await ledger.finishRun(SERVICE, action, result, recorded, reverted);
    return result;
  } finally {
    await tarball?.close();
    await opened?.close();
    await release?.();
  }
}
