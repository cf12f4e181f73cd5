// Running `opencloud install` / `uninstall` / a plan of either: the steps through the installer
// engine (events, rollback, recap), then the run recorded in the ledger as the service `opencloud`.
// The run is written to the ledger when it ends, not as it goes: on a fresh host the data dir and
// its database do not exist until the run has made them (and a plan must not make them).
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { Artifact } from '../installer/artifacts.js';
import { runSteps, type RunResult } from '../installer/engine.js';
import { acquireLock, DEFAULT_LOCK } from '../installer/lock.js';
import { revertSteps } from '../installer/revert-steps.js';
import type { InstallerEvent, Step } from '../installer/types.js';
import { CONFIG_DIR, CONFIG_FILE, PRIVILEGED_STATE_DIR, SERVICE_USER } from './paths.js';
import { checkArtifacts } from './policy.js';
import { installedManifest } from './program-tree.js';
import { installSteps, type DeployOptions } from './steps.js';

/** The ledger's name for OpenCloud's own deployment. */
export const DEPLOY_SERVICE = 'opencloud';
/** Copies of the system files an install replaced: root's alone (the data dir is the service user's). */
export const BACKUP_DIR = '/var/backups/opencloud';

export type DeployAction = 'plan-install' | 'install' | 'plan-uninstall' | 'uninstall';

export interface DeployHooks {
  emit: (event: InstallerEvent) => void;
  lockPath?: string;
}

async function withLedger<T>(
  dataDir: string,
  fn: (ledger: import('../ledger/records.js').Ledger) => Promise<T>,
) {
  const { openStateAsOwner } = await import('../state/ownership.js');
  const { Ledger } = await import('../ledger/records.js');
  // Opened as the data dir's owner: the database files stay the server's.
  const state = await openStateAsOwner(dataDir);
  try {
    return await fn(new Ledger(state));
  } finally {
    await state.close();
  }
}

/** What an earlier install recorded, checked against what an install can make (the database is the service user's). */
async function recorded(dataDir: string): Promise<Artifact[]> {
  if (!existsSync(dataDir)) return [];
  const artifacts = await withLedger(dataDir, (l) => l.artifacts(DEPLOY_SERVICE));
  checkArtifacts(artifacts, BACKUP_DIR);
  return artifacts;
}

function uninstallSteps(
  artifacts: Artifact[],
  purge: boolean,
  dataDir: string,
  reverted: Artifact[],
): Step[] {
  const phase = 'Uninstall: reverting what install put on this host';
  // Without --purge the configuration and the data stay (a later install picks them up again).
  const kept = (a: Artifact) =>
    !purge &&
    ((a.kind === 'file' && a.path === CONFIG_FILE) || (a.kind === 'directory' && a.path === CONFIG_DIR));
  const steps = revertSteps(
    artifacts.filter((a) => !kept(a)),
    phase,
    reverted,
  );
  if (purge) {
    for (const target of [dataDir, CONFIG_FILE, CONFIG_DIR, PRIVILEGED_STATE_DIR, BACKUP_DIR]) {
      steps.push({
        id: `purge-${steps.length + 1}`,
        title: `remove ${target}`,
        phase,
        plan: async () => (existsSync(target) ? [{ kind: 'directory', target, action: 'remove' }] : []),
        apply: () => rm(target, { recursive: true, force: true }),
      });
    }
  }
  return steps;
}

export async function runDeploy(
  action: DeployAction,
  opts: DeployOptions & { purge?: boolean },
  hooks: DeployHooks,
): Promise<RunResult> {
  const planOnly = action.startsWith('plan-');
  const release = planOnly ? undefined : await acquireLock(hooks.lockPath ?? DEFAULT_LOCK);
  try {
    const runId = randomUUID();
    const events: InstallerEvent[] = [];
    const emit = (e: InstallerEvent) => {
      events.push(e);
      hooks.emit(e);
    };
    const reverted: Artifact[] = [];
    const uninstalling = action.endsWith('uninstall');
    const steps = uninstalling
      ? uninstallSteps(await recorded(opts.dataDir), opts.purge ?? false, opts.dataDir, reverted)
      : installSteps(opts);
    const result = await runSteps(steps, {
      mode: planOnly ? 'plan' : 'apply',
      emit,
      runId,
      backupDir: BACKUP_DIR,
    });
    if (!planOnly && existsSync(opts.dataDir)) {
      // An upgrade replaced our earlier copy of the program, kept until now only for a rollback
      // (a tree that was not ours stays: uninstall puts it back).
      if (!uninstalling && result.recap.failed === 0) {
        for (const a of result.artifacts)
          if (a.kind === 'tree' && a.prior && (await installedManifest(a.prior)))
            await rm(a.prior, { recursive: true, force: true });
      }
      await withLedger(opts.dataDir, async (ledger) => {
        const ledgerAction = uninstalling ? 'disable' : 'enable';
        const options = { listen: opts.listen, dataDir: opts.dataDir, user: SERVICE_USER };
        await ledger.beginRun(runId, DEPLOY_SERVICE, ledgerAction, options);
        for (const [i, e] of events.entries()) await ledger.appendEvent(runId, i, e);
        await ledger.finishRun(DEPLOY_SERVICE, ledgerAction, result, options, reverted);
      });
    }
    return result;
  } finally {
    await release?.();
  }
}
