// `ledger apply`: makes this instance's services what a document says, through the installer
// (a plan, then the enable; or a disable), so applying the same document again finds nothing
// to do. Registry content is not in the document (no blobs): what is missing is reported for a
// registry client to copy, never treated as a failure.
import type { Config } from '../config/schema.js';
import type { RunHooks } from '../installer/container-registry.js';
import type { RunResult } from '../installer/engine.js';
import { resolveInstallOptions, type InstallOptions, type RawInstallOptions } from '../installer/options.js';
import type { Recap } from '../installer/types.js';
import type { StateStore } from '../state/store.js';
import { setImmutableTagRules } from '../policies/immutable-tags.js';
import { setQuotaRules } from '../policies/quotas.js';
import { setRetentionRules } from '../policies/retention.js';
import type { LedgerDocument, ServiceOptions } from './document.js';
import {
  compareDocuments,
  describeDifference,
  isPolicyDifference,
  isServiceDifference,
  type Difference,
} from './diff.js';
import { Ledger } from './records.js';

export interface ServiceAction {
  service: string;
  action: 'enable' | 'disable';
  /** For enable: the document's options; for disable: what this instance last enabled with. */
  options: ServiceOptions | null;
}

export interface PreparedApply {
  differences: Difference[];
  actions: ServiceAction[];
  /** Registry differences: apply cannot reproduce them (the blobs are not in the document). */
  registry: Difference[];
  /** Policy rules to add, change or remove: applied to the registry's state after the services. */
  policies: Difference[];
}

/** What applying `doc` to the instance `current` describes would do. */
export function prepareApply(doc: LedgerDocument, current: LedgerDocument): PreparedApply {
  const differences = compareDocuments(doc, current);
  const touched = new Set(differences.filter(isServiceDifference).map((d) => d.service));
  const actions: ServiceAction[] = [];
  for (const s of doc.services) {
    if (!touched.has(s.name)) continue;
    if (s.state === 'enabled') actions.push({ service: s.name, action: 'enable', options: s.options });
    else {
      const here = current.services.find((c) => c.name === s.name);
      actions.push({ service: s.name, action: 'disable', options: here?.options ?? null });
    }
  }
  return {
    differences,
    actions,
    registry: differences.filter((d) => !isServiceDifference(d) && !isPolicyDifference(d)),
    policies: differences.filter(isPolicyDifference),
  };
}

/** Makes the registry's policies those of the document (when it has any); the lines to show. */
export async function applyPolicies(
  doc: LedgerDocument,
  prepared: PreparedApply,
  registry: StateStore,
): Promise<string[]> {
  if (!doc.policies || prepared.policies.length === 0) return [];
  await setImmutableTagRules(registry, doc.policies.immutableTags);
  await setRetentionRules(registry, doc.policies.retention);
  await setQuotaRules(registry, doc.policies.quotas);
  return prepared.policies.map((d) => `${describeDifference(d)}: applied`);
}

export type ServiceRunner = (
  action: 'plan' | 'enable' | 'disable',
  opts: InstallOptions & { purge?: boolean },
  ledger: Ledger,
  hooks: RunHooks,
) => Promise<RunResult>;

export interface ApplyDeps {
  state: StateStore;
  /** This instance's configuration: its data dir and registry hosts go into every run. */
  config: Config;
  /** `runService` from the installer (tests pass a stand-in). */
  run: ServiceRunner;
  emit: RunHooks['emit'];
  /** Human progress lines (`--json` drops them). */
  say: (line: string) => void;
  /** Asked before a run changes the host; absent means go ahead (--yes, or not a terminal). */
  confirm?: (question: string) => Promise<boolean>;
  lockPath?: string;
}

export interface ServiceOutcome {
  service: string;
  action: ServiceAction['action'];
  status: 'applied' | 'failed' | 'plan-failed' | 'declined';
  recap?: Recap;
}

/** Options a disable runs with when this instance never recorded complete ones (only the data dir matters). */
const DISABLE_DEFAULTS: RawInstallOptions = {
  source: 'release',
  init: 'auto',
  readyTimeout: 60,
  lockTimeout: 120,
};

/** Runs the prepared actions in order; stops at the first that fails or is declined. */
export async function executeApply(prepared: PreparedApply, deps: ApplyDeps): Promise<ServiceOutcome[]> {
  const ledger = new Ledger(deps.state);
  const hooks: RunHooks = { emit: deps.emit, ...(deps.lockPath ? { lockPath: deps.lockPath } : {}) };
  const outcomes: ServiceOutcome[] = [];
  for (const a of prepared.actions) {
    const opts = { ...resolveInstallOptions(a.options ?? DISABLE_DEFAULTS, deps.config), purge: false };
    const record = (status: ServiceOutcome['status'], recap?: Recap) =>
      outcomes.push({ service: a.service, action: a.action, status, ...(recap ? { recap } : {}) });
    const question = `${a.action} ${a.service}: apply these changes? [y/N] `;
    if (a.action === 'enable') {
      deps.say(`plan: enable ${a.service}`);
      const plan = await deps.run('plan', opts, ledger, hooks);
      if (plan.recap.failed > 0) {
        record('plan-failed', plan.recap);
        break;
      }
      if (deps.confirm && plan.recap.changed > 0 && !(await deps.confirm(question))) {
        record('declined');
        break;
      }
    } else {
      const artifacts = await ledger.artifacts(a.service);
      deps.say(`disable ${a.service}: reverts ${artifacts.length} change(s) enabling recorded`);
      if (deps.confirm && !(await deps.confirm(question))) {
        record('declined');
        break;
      }
    }
    deps.say(`${a.action} ${a.service}`);
    const result = await deps.run(a.action, opts, ledger, hooks);
    record(result.recap.failed > 0 ? 'failed' : 'applied', result.recap);
    if (result.recap.failed > 0) break;
  }
  return outcomes;
}

/** The closing lines of an apply: what happened to the services, and what the registry still lacks. */
export function applySummary(prepared: PreparedApply, outcomes: ServiceOutcome[]): string[] {
  if (prepared.differences.length === 0) return ['nothing to apply'];
  const lines: string[] = [];
  if (prepared.actions.length === 0) lines.push('services: nothing to apply');
  for (const o of outcomes) {
    const verb = o.action === 'enable' ? 'enabled' : 'disabled';
    const text = {
      applied: `${verb} ${o.service}`,
      failed: `${o.action} ${o.service} failed (rolled back); nothing after it was applied`,
      'plan-failed': `plan for ${o.service} failed; nothing was changed from here on`,
      declined: `${o.action} ${o.service} declined; nothing was changed from here on`,
    }[o.status];
    lines.push(`services: ${text}`);
  }
  if (prepared.policies.length > 0)
    lines.push(`policies: ${prepared.policies.length} rule change(s) applied`);
  if (prepared.registry.length > 0) {
    lines.push(
      `registry: ${prepared.registry.length} difference(s) not applied: images must be copied with a ` +
        'registry client (e.g. `crane copy SRC/REPO:TAG DST/REPO:TAG` or `skopeo copy docker://… docker://…`)',
    );
  }
  return lines;
}
