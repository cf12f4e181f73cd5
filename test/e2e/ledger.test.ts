// `opencloud ledger` against the real direct-mode install on this machine: export its data dir,
// diff the export against it (nothing), apply it to a fresh data dir (enables container-registry
// there on the already-installed host without restarting buildkitd), diff again (nothing), apply
// again (nothing to apply). Bad documents are refused with the path of the problem. Only the fresh
// data dir is ever changed: nothing here disables the install other tests use.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LedgerDocument } from '../../src/ledger/document.js';
import { validateDocument } from '../../src/ledger/validate.js';
import { runCli } from '../support/cli.js';
import { missing, testEnv, titled } from '../support/env.js';

const why = missing('installer');
const installerDir = () => testEnv!.components.installer?.dataDir as string;
const pid = () => readFileSync('/run/opencloud/buildkitd.pid', 'utf8').trim();
const ledger = (args: string[]) => runCli(['ledger', ...args]);
const RECAP_OK = /^recap: ok=\d+ changed=\d+ failed=0 skipped=0$/m;

describe.skipIf(why)(titled('opencloud ledger on the direct-mode install', why), () => {
  let work: string;
  let exported: string;
  let fresh: string;
  let doc: LedgerDocument;

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'opencloud-ledger-e2e-'));
    exported = join(work, 'ledger.json');
    fresh = join(work, 'fresh-data');
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('exports the install as a valid, stable document', async () => {
    const r = await ledger(['export', '--data-dir', installerDir(), '--output', exported]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    doc = validateDocument(JSON.parse(readFileSync(exported, 'utf8')));
    expect(doc.services).toHaveLength(1);
    expect(doc.services[0]).toMatchObject({
      name: 'container-registry',
      state: 'enabled',
      options: { source: 'go', init: 'direct', readyTimeout: 60, lockTimeout: 120 },
      facts: { 'buildkit.source': 'go:v0.16.0' },
    });
    const again = await ledger(['export', '--data-dir', installerDir()]);
    expect(again.code, again.stderr).toBe(0);
    const strip = (t: string) => t.replace(/"exportedAt": "[^"]+"/, '');
    expect(strip(again.stdout)).toBe(strip(readFileSync(exported, 'utf8')));
  });

  it('diffs the export against its own data dir as nothing', async () => {
    const r = await ledger(['diff', exported, '--data-dir', installerDir()]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('no differences\n');
    const json = await ledger(['diff', exported, '--data-dir', installerDir(), '--json']);
    expect(JSON.parse(json.stdout)).toEqual([]);
  });

  it('diffs it against a fresh data dir as the service to enable, creating nothing', async () => {
    const r = await ledger(['diff', exported, '--data-dir', fresh]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('service container-registry: state disabled → enabled\n');
    expect(existsSync(fresh)).toBe(false);
  });

  it('applies it to a fresh data dir: enabled there, buildkitd not restarted', async () => {
    const before = pid();
    const r = await ledger(['apply', exported, '--data-dir', fresh, '--yes']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('service container-registry: state disabled → enabled');
    expect(lines).toContain('plan: enable container-registry');
    const enableOutput = r.stdout.slice(r.stdout.indexOf('\nenable container-registry\n'));
    expect(enableOutput).toMatch(RECAP_OK);
    expect(lines.at(-1)).toBe('services: enabled container-registry');
    expect(pid()).toBe(before);

    const status = await runCli(['services', 'list', '--json', '--data-dir', fresh]);
    expect(JSON.parse(status.stdout)).toEqual([{ name: 'container-registry', state: 'enabled' }]);
  }, 900_000);

  it("reproduces the services' state: the fresh export matches, and the diff is empty", async () => {
    const r = await ledger(['export', '--data-dir', fresh]);
    expect(r.code, r.stderr).toBe(0);
    const copy = validateDocument(JSON.parse(r.stdout));
    const essence = (d: LedgerDocument) =>
      d.services.map(({ name, state, options }) => ({ name, state, options }));
    expect(essence(copy)).toEqual(essence(doc));
    expect(copy.services[0]?.facts).toEqual(doc.services[0]?.facts);
    expect(copy.registry).toEqual(doc.registry);

    const diff = await ledger(['diff', exported, '--data-dir', fresh]);
    expect(diff.code, diff.stderr).toBe(0);
    expect(diff.stdout).toBe('no differences\n');
  });

  it('a second apply has nothing to apply and runs nothing', async () => {
    const before = pid();
    const r = await ledger(['apply', exported, '--data-dir', fresh, '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('nothing to apply\n');
    const json = await ledger(['apply', exported, '--data-dir', fresh, '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      type: 'ledger-apply',
      services: [],
      summary: ['nothing to apply'],
    });
    expect(pid()).toBe(before);
  });

  it('reports registry content it cannot copy, and does not fail for it', async () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const withImages: LedgerDocument = {
      ...doc,
      registry: { repositories: [{ name: 'demo/app', tags: [{ name: '1', digest }], manifests: 1 }] },
    };
    const file = join(work, 'with-images.json');
    writeFileSync(file, JSON.stringify(withImages));
    const diff = await ledger(['diff', file, '--data-dir', fresh]);
    expect(diff.code).toBe(1);
    expect(diff.stdout).toBe('registry: repository demo/app missing (tags: 1)\n');
    const r = await ledger(['apply', file, '--data-dir', fresh, '--yes']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(
      'registry: repository demo/app missing (tags: 1): not applied, copy it with a registry client',
    );
    expect(lines[1]).toBe('services: nothing to apply');
    expect(lines[2]).toMatch(
      /^registry: 1 difference\(s\) not applied: images must be copied with a registry client/,
    );
  });

  it('refuses a document of another version or with an unknown key, changing nothing', async () => {
    const original = readFileSync(exported, 'utf8');
    const cases: [string, string, string][] = [
      ['version.json', original.replace('"version": 1', '"version": 2'), 'version must be 1, got 2'],
      [
        'unknown-key.json',
        original.replace('"state": "enabled"', '"state": "enabled", "autostart": true'),
        'services[0].autostart is not a known key (known: name, state, options, facts, artifacts)',
      ],
      [
        'bad-state.json',
        original.replace('"state": "enabled"', '"state": "on"'),
        'services[0].state must be "enabled" or "disabled", got "on"',
      ],
    ];
    const untouched = join(work, 'untouched-data');
    for (const [name, text, message] of cases) {
      const file = join(work, name);
      writeFileSync(file, text);
      for (const args of [
        ['diff', file, '--data-dir', fresh],
        ['apply', file, '--data-dir', untouched, '--yes'],
      ]) {
        const r = await ledger(args);
        expect(r.code, `${args[0]} ${name}`).toBe(65);
        expect(r.stderr).toContain(`${file} is not a valid ledger document: ${message}`);
        expect(r.stdout).toBe('');
      }
    }
    expect(existsSync(untouched)).toBe(false);
    const diff = await ledger(['diff', exported, '--data-dir', fresh]);
    expect(diff.stdout).toBe('no differences\n');
  });

  it('applies a disabled state to the fresh data dir only, where enabling recorded nothing to revert', async (ctx) => {
    const r = await ledger(['export', '--data-dir', fresh]);
    const copy = validateDocument(JSON.parse(r.stdout));
    // Guard: a disable reverts what the ledger recorded; on the fresh dir that must be nothing.
    if ((copy.services[0]?.artifacts.length ?? 1) !== 0) ctx.skip();
    const off = join(work, 'off.json');
    writeFileSync(off, r.stdout.replace('"state": "enabled"', '"state": "disabled"'));
    const before = pid();
    const applied = await ledger(['apply', off, '--data-dir', fresh, '--yes']);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    expect(applied.stdout).toContain('disable container-registry: reverts 0 change(s) enabling recorded\n');
    expect(applied.stdout).toMatch(/^recap: ok=0 changed=0 failed=0 skipped=0$/m);
    expect(applied.stdout.trimEnd().split('\n').at(-1)).toBe('services: disabled container-registry');
    expect(pid()).toBe(before);
    const diff = await ledger(['diff', off, '--data-dir', fresh]);
    expect(diff.stdout).toBe('no differences\n');
    // The install other tests use is still enabled.
    const still = await ledger(['diff', exported, '--data-dir', installerDir()]);
    expect(still.stdout).toBe('no differences\n');
  });
});
