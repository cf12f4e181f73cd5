// Apply over a real state store with a stand-in for the installer (it records what it was asked
// and closes the run in the ledger as runService does): plan then enable with the document's
// options, nothing the second time, disable when the document says so, stops on a failed plan or
// a "no", and registry differences reported for a registry client, never run.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.js';
import type { RunResult } from '../installer/engine.js';
import { openSqliteState } from '../state/sqlite.js';
import type { StateStore } from '../state/store.js';
import { applySummary, executeApply, prepareApply, type ApplyDeps, type ServiceRunner } from './apply.js';
import type { LedgerDocument } from './document.js';
import { exportDocument } from './export.js';
import { Ledger } from './records.js';

const opened: StateStore[] = [];
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
});

const doc = (state: 'enabled' | 'disabled', extra: Partial<LedgerDocument> = {}): LedgerDocument => ({
  kind: 'opencloud-ledger',
  version: 1,
  exportedAt: '2026-01-02T03:04:05.000Z',
  services: [
    {
      name: 'container-registry',
      state,
      options: {
        source: 'release',
        mirror: 'https://mirror.example',
        init: 'direct',
        readyTimeout: 30,
        lockTimeout: 5,
      },
      facts: {},
      artifacts: [],
    },
  ],
  registry: { repositories: [] },
  ...extra,
});

interface Harness {
  dir: string;
  state: StateStore;
  calls: string[];
  deps: (over?: Partial<ApplyDeps>) => ApplyDeps;
  /** Recap a given action's stand-in run ends with (default: ok, one change). */
  recaps: Partial<Record<'plan' | 'enable' | 'disable', RunResult['recap']>>;
  apply: (d: LedgerDocument, over?: Partial<ApplyDeps>) => Promise<string[]>;
}

async function harness(): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'opencloud-ledger-apply-'));
  const state = await openSqliteState(dir);
  opened.push(state);
  const { config } = loadConfig({ flags: { dataDir: dir, listen: '127.0.0.1:5000' }, env: {} });
  const calls: string[] = [];
  const recaps: Harness['recaps'] = {};
  let n = 0;
  const run: ServiceRunner = async (action, opts, ledger) => {
    calls.push(
      `${action} source=${opts.source} mirror=${opts.mirror} init=${opts.init} dataDir=${opts.dataDir}`,
    );
    const recorded = { ...opts } as Record<string, unknown>;
    delete recorded.dataDir;
    const result: RunResult = {
      runId: `run-${n++}`,
      mode: action === 'plan' ? 'plan' : 'apply',
      steps: [],
      recap: recaps[action] ?? { ok: 3, changed: 1, failed: 0, skipped: 0 },
      artifacts: [],
      facts: action === 'enable' ? { 'buildkit.source': 'release:x' } : {},
    };
    await ledger.beginRun(result.runId, 'container-registry', action, recorded);
    await ledger.finishRun('container-registry', action, result, recorded);
    return result;
  };
  const deps = (over: Partial<ApplyDeps> = {}): ApplyDeps => ({
    state,
    config,
    run,
    emit: () => undefined,
    say: () => undefined,
    ...over,
  });
  const apply = async (d: LedgerDocument, over: Partial<ApplyDeps> = {}) => {
    const prepared = prepareApply(d, await exportDocument(state));
    return applySummary(prepared, await executeApply(prepared, deps(over)));
  };
  return { dir, state, calls, deps, recaps, apply };
}

describe('ledger apply', () => {
  it("plans, then enables with the document's options and this instance's data dir; then has nothing to do", async () => {
    const h = await harness();
    const said: string[] = [];
    expect(await h.apply(doc('enabled'), { say: (l) => said.push(l) })).toEqual([
      'services: enabled container-registry',
    ]);
    const args = `source=release mirror=https://mirror.example init=direct dataDir=${h.dir}`;
    expect(h.calls).toEqual([`plan ${args}`, `enable ${args}`]);
    expect(said).toEqual(['plan: enable container-registry', 'enable container-registry']);
    const record = await new Ledger(h.state).service('container-registry');
    expect(record).toMatchObject({
      state: 'enabled',
      options: {
        source: 'release',
        readyTimeout: 30,
        lockTimeout: 5,
        registryHosts: ['127.0.0.1:5000', 'localhost:5000'],
      },
    });

    h.calls.length = 0;
    expect(await h.apply(doc('enabled'))).toEqual(['nothing to apply']);
    expect(h.calls).toEqual([]);
  });

  it('enables again when an option differs, and disables when the document says disabled', async () => {
    const h = await harness();
    await h.apply(doc('enabled'));
    h.calls.length = 0;
    const changed = doc('enabled');
    changed.services[0]!.options = { source: 'go', init: 'direct', readyTimeout: 30, lockTimeout: 5 };
    expect(await h.apply(changed)).toEqual(['services: enabled container-registry']);
    expect(h.calls.map((c) => c.split(' ').slice(0, 3).join(' '))).toEqual([
      'plan source=go mirror=undefined',
      'enable source=go mirror=undefined',
    ]);

    h.calls.length = 0;
    expect(await h.apply(doc('disabled'))).toEqual(['services: disabled container-registry']);
    expect(h.calls.map((c) => c.split(' ')[0])).toEqual(['disable']);
    expect((await new Ledger(h.state).service('container-registry'))?.state).toBe('disabled');
    h.calls.length = 0;
    expect(await h.apply(doc('disabled'))).toEqual(['nothing to apply']);
    expect(h.calls).toEqual([]);
  });

  it('does not enable when the plan fails, or when the answer is no', async () => {
    const h = await harness();
    h.recaps.plan = { ok: 0, changed: 0, failed: 1, skipped: 5 };
    expect(await h.apply(doc('enabled'))).toEqual([
      'services: plan for container-registry failed; nothing was changed from here on',
    ]);
    expect(h.calls.map((c) => c.split(' ')[0])).toEqual(['plan']);

    delete h.recaps.plan;
    h.calls.length = 0;
    const questions: string[] = [];
    const no = async (q: string) => (questions.push(q), false);
    expect(await h.apply(doc('enabled'), { confirm: no })).toEqual([
      'services: enable container-registry declined; nothing was changed from here on',
    ]);
    expect(questions).toEqual(['enable container-registry: apply these changes? [y/N] ']);
    expect(h.calls.map((c) => c.split(' ')[0])).toEqual(['plan']);
    expect((await new Ledger(h.state).service('container-registry'))?.state).not.toBe('enabled');
  });

  it('reports a failed enable', async () => {
    const h = await harness();
    h.recaps.enable = { ok: 2, changed: 0, failed: 1, skipped: 2 };
    expect(await h.apply(doc('enabled'))).toEqual([
      'services: enable container-registry failed (rolled back); nothing after it was applied',
    ]);
  });

  it('leaves registry differences to a registry client, and does not fail for them', async () => {
    const h = await harness();
    await h.apply(doc('enabled'));
    h.calls.length = 0;
    const withImages = doc('enabled', {
      registry: {
        repositories: [
          { name: 'demo/app', tags: [{ name: '1', digest: `sha256:${'1'.repeat(64)}` }], manifests: 1 },
        ],
      },
    });
    const prepared = prepareApply(withImages, await exportDocument(h.state));
    expect(prepared.actions).toEqual([]);
    expect(prepared.registry).toEqual([{ kind: 'repository-missing', repository: 'demo/app', tags: 1 }]);
    const summary = applySummary(prepared, await executeApply(prepared, h.deps()));
    expect(summary[0]).toBe('services: nothing to apply');
    expect(summary[1]).toMatch(
      /^registry: 1 difference\(s\) not applied: images must be copied with a registry client/,
    );
    expect(h.calls).toEqual([]);
  });
});
