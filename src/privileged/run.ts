// Carries out one accepted request as root: checks what depends on the host (guard.ts), then
// runs the installer (plan/enable/disable) or `ledger apply`, writing every event as a line
// (protocol.ts), and records the outcome in the audit trail. Every installer run is a requested
// one (request-policy.ts): the installer checks again, on the very artifacts it reverts, and reads
// the tarball through the descriptor opened here as the data dir's owner. A check that fails
// throws Refusal before anything is started; main.ts records and reports refusals.
import { mkdir, type FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import { runService, type RunHooks } from '../installer/container-registry.js';
import { InstallerBusyError } from '../installer/lock.js';
import { resolveInstallOptions } from '../installer/options.js';
import { applySummary, executeApply, prepareApply } from '../ledger/apply.js';
import { AuditTrail } from '../ledger/audit.js';
import { describeDifference, isServiceDifference } from '../ledger/diff.js';
import { exportDocument } from '../ledger/export.js';
import { Ledger } from '../ledger/records.js';
import type { StateStore } from '../state/store.js';
import { ledgerMessage, PolicyRefusal, type PolicyCode } from '../installer/request-policy.js';
import { artifactProblems, openOwnersTarball } from './guard.js';
import type { Owner } from '../state/ownership.js';
import { HELPER_EXIT, type ApplyResult, type HelperLine } from './protocol.js';
import {
  rawOptions,
  TRUSTED_IN,
  type ApplyRequest,
  type PrivilegedRequest,
  type ServiceRequest,
} from './request.js';

/** A request refused after parsing, by a check on the host: nothing was started. */
export class Refusal extends Error {
  constructor(
    readonly code: PolicyCode,
    message: string,
  ) {
    super(message);
  }
}

export interface HelperContext {
  state: StateStore;
  /** The configuration from /etc/opencloud/config.yaml only. */
  config: Config;
  /**
   * Root-only directory the installer keeps its backups and work files in (given to it as its
   * data dir): the service user can write its own data dir, so what root restores or installs
   * from must not live there.
   */
  installerDir: string;
  /** Owner of the data dir: a tarball must be readable by them. */
  owner: Owner;
  lockPath?: string;
  /** SUDO_USER: the account that ran sudo, for the audit trail. */
  sudoUser?: string;
  out: (line: HelperLine) => void;
  warn: (line: string) => void;
}

const ACTIONS = {
  'services.plan': 'plan',
  'services.enable': 'enable',
  'services.disable': 'disable',
} as const;

interface Outcome {
  exit: number;
  status: number;
  detail: Record<string, unknown>;
}

/** Refuses early (before `accepted`); the installer checks the artifacts it reverts again. */
async function checkDisable(ledger: Ledger, service: string, installerDir: string): Promise<void> {
  const problems = artifactProblems(await ledger.artifacts(service), installerDir);
  if (problems.length > 0) throw new Refusal('LEDGER_ARTIFACT_REFUSED', ledgerMessage(problems));
}

/** The tarball of a tarball-source run, opened once as the data dir's owner (guard.ts). */
async function openTarballFor(
  options: { source?: string; tarball?: string } | null | undefined,
  owner: Owner,
): Promise<FileHandle | undefined> {
  if (options?.source !== 'tarball' || options.tarball === undefined) return undefined;
  const opened = await openOwnersTarball(options.tarball, owner);
  if (typeof opened === 'string') throw new Refusal('TARBALL_REFUSED', opened);
  return opened;
}

/** The installer's hooks for a run asked for through the helper. */
function requested(ctx: HelperContext, tarball: FileHandle | undefined): Pick<RunHooks, 'requested'> {
  return {
    requested: {
      trustedSha256: ctx.config.installer.trustedSha256,
      trustedIn: TRUSTED_IN,
      reader: ctx.owner,
      ...(tarball ? { tarball } : {}),
    },
  };
}

/** Options resolved as the CLI resolves them, with the installer's files in the root-only dir. */
const installerConfig = (ctx: HelperContext): Config => ({ ...ctx.config, dataDir: ctx.installerDir });

async function serviceRun(req: ServiceRequest, ctx: HelperContext): Promise<Outcome> {
  const action = ACTIONS[req.op];
  const ledger = new Ledger(ctx.state);
  if (action === 'disable') await checkDisable(ledger, req.service, ctx.installerDir);
  const opts = {
    ...resolveInstallOptions(rawOptions(req.options), installerConfig(ctx)),
    purge: req.options.purge,
  };
  const tarball = action === 'disable' ? undefined : await openTarballFor(req.options, ctx.owner);
  ctx.out({ accepted: { op: req.op, runId: req.runId, dataDir: ctx.config.dataDir } });
  const result = await runService(action, opts, ledger, {
    emit: (event, seq) => ctx.out({ seq, event }),
    runId: req.runId,
    ...(ctx.lockPath ? { lockPath: ctx.lockPath } : {}),
    ...requested(ctx, tarball),
  }).finally(() => tarball?.close());
  ctx.out({ result });
  const failed = result.recap.failed > 0;
  return {
    exit: failed ? HELPER_EXIT.failed : HELPER_EXIT.ok,
    status: failed ? 500 : 200,
    detail: { options: req.options, recap: result.recap },
  };
}

async function applyRun(req: ApplyRequest, ctx: HelperContext): Promise<Outcome> {
  const prepared = prepareApply(req.document, await exportDocument(ctx.state));
  const ledger = new Ledger(ctx.state);
  // Each enable's tarball, opened here once as the owner (keyed as the installer resolves the
  // path); the installer reads it through that descriptor and never opens the path itself.
  const tarballs = new Map<string, FileHandle>();
  const tarballOf = (opts: { source: string; tarball?: string | undefined }) => {
    if (opts.source !== 'tarball' || opts.tarball === undefined) return undefined;
    const fh = tarballs.get(resolve(opts.tarball));
    if (!fh) throw new Refusal('TARBALL_REFUSED', `tarball ${opts.tarball} was not opened before the run`);
    return fh;
  };
  try {
    for (const a of prepared.actions) {
      if (a.action === 'disable') await checkDisable(ledger, a.service, ctx.installerDir);
      const opened = a.action === 'enable' ? await openTarballFor(a.options, ctx.owner) : undefined;
      if (opened && a.options?.tarball) tarballs.set(resolve(a.options.tarball), opened);
    }
    return await applyActions(req, ctx, prepared, (action, opts, l, hooks) =>
      runService(action, opts, l, {
        ...hooks,
        ...requested(ctx, action === 'disable' ? undefined : tarballOf(opts)),
      }),
    );
  } finally {
    for (const fh of tarballs.values()) await fh.close();
  }
}

async function applyActions(
  req: ApplyRequest,
  ctx: HelperContext,
  prepared: ReturnType<typeof prepareApply>,
  run: typeof runService,
): Promise<Outcome> {
  ctx.out({ accepted: { op: req.op, runId: req.runId, dataDir: ctx.config.dataDir } });
  const say = (line: string) => ctx.out({ say: line });
  for (const d of prepared.differences.filter(isServiceDifference)) say(describeDifference(d));
  const outcomes =
    prepared.actions.length === 0
      ? []
      : await executeApply(prepared, {
          state: ctx.state,
          config: installerConfig(ctx),
          run,
          emit: (event, seq) => ctx.out({ seq, event }),
          say,
          ...(ctx.lockPath ? { lockPath: ctx.lockPath } : {}),
        });
  for (const d of prepared.registry)
    say(`${describeDifference(d)}: not applied, copy it with a registry client`);
  const summary = applySummary(prepared, outcomes);
  const result: ApplyResult = {
    type: 'ledger-apply',
    differences: prepared.differences.map((d) => ({ ...d, message: describeDifference(d) })),
    services: outcomes,
    summary,
  };
  ctx.out({ result });
  const failed = outcomes.some((o) => o.status === 'failed' || o.status === 'plan-failed');
  return {
    exit: failed ? HELPER_EXIT.failed : HELPER_EXIT.ok,
    status: failed ? 500 : 200,
    detail: {
      services: req.document.services.map((s) => ({ name: s.name, state: s.state })),
      outcomes,
    },
  };
}

/**
 * Runs an accepted request and records it as `privileged.<op>`; resolves to the exit status.
 * Throws Refusal (nothing started, nothing recorded here) when a host check refuses it.
 */
export async function execute(req: PrivilegedRequest, ctx: HelperContext): Promise<number> {
  await mkdir(ctx.installerDir, { recursive: true, mode: 0o700 });
  let outcome: Outcome;
  try {
    outcome = req.op === 'ledger.apply' ? await applyRun(req, ctx) : await serviceRun(req, ctx);
  } catch (err) {
    if (err instanceof Refusal) throw err;
    // The installer's own check, on what it was about to do: nothing was started.
    if (err instanceof PolicyRefusal) throw new Refusal(err.code, err.message);
    const busy = err instanceof InstallerBusyError;
    const message = (err as Error).message;
    ctx.out({ error: { code: busy ? 'INSTALL_RUNNING' : 'FAILED', message } });
    ctx.warn(`opencloud-privileged: ${req.op} ${busy ? 'not started' : 'failed'}: ${message}`);
    outcome = {
      exit: busy ? HELPER_EXIT.busy : HELPER_EXIT.failed,
      status: busy ? 409 : 500,
      detail: { error: message },
    };
  }
  await new AuditTrail(ctx.state)
    .record({
      actor: req.actor,
      address: req.address,
      action: `privileged.${req.op}`,
      target: req.op === 'ledger.apply' ? 'ledger' : req.service,
      status: outcome.status,
      detail: { runId: req.runId, ...(ctx.sudoUser ? { sudoUser: ctx.sudoUser } : {}), ...outcome.detail },
    })
    .catch((err: Error) =>
      ctx.warn(`opencloud-privileged: could not record the audit entry: ${err.message}`),
    );
  return outcome.exit;
}
