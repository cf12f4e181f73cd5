// Export and diff over a real SQLite state store in a temp dir: the document holds the service
// record (replayable options only) and the registry's repositories and tags in a stable order;
// it diffs empty against its own instance, and each kind of change shows up as one difference.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunResult } from '../installer/engine.js';
import { openSqliteState } from '../state/sqlite.js';
import type { StateStore } from '../state/store.js';
import { compareDocuments, describeDifference } from './diff.js';
import { DocumentError, serializeDocument, type LedgerDocument } from './document.js';
import { exportDocument, writeDocument } from './export.js';
import { Ledger } from './records.js';
import { validateDocument } from './validate.js';

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const opened: StateStore[] = [];
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
});

async function instance(): Promise<{ dir: string; state: StateStore }> {
  const dir = mkdtempSync(join(tmpdir(), 'opencloud-ledger-'));
  const state = await openSqliteState(dir);
  opened.push(state);
  return { dir, state };
}

/** What a successful `services enable` leaves in the ledger (runService records its options so). */
async function enabled(state: StateStore, options: Record<string, unknown> = {}): Promise<void> {
  const ledger = new Ledger(state);
  const recorded = {
    source: 'go',
    init: 'direct',
    readyTimeout: 60,
    lockTimeout: 120,
    registryHosts: ['127.0.0.1:5000', 'localhost:5000'],
    purge: false,
    ...options,
  };
  const result: RunResult = {
    runId: `run-${Math.random()}`,
    mode: 'apply',
    steps: [],
    recap: { ok: 1, changed: 1, failed: 0, skipped: 0 },
    artifacts: [{ kind: 'process', name: 'buildkitd', pidFile: '/run/opencloud/buildkitd.pid' }],
    facts: { 'buildkit.source': 'go:v0.16.0', 'buildkit.binaries': { buildkitd: 'bb', buildctl: 'cc' } },
  };
  await ledger.beginRun(result.runId, 'container-registry', 'enable', recorded);
  await ledger.finishRun('container-registry', 'enable', result, recorded);
}

async function tagged(state: StateStore, repo: string, tag: string, d: string): Promise<void> {
  const id = await state.ensureRepository(repo);
  const manifest = {
    digest: d,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: null,
    subjectDigest: null,
    annotations: null,
    size: 100,
  };
  await state.putManifest(id, manifest, [], [tag], false);
}

const NOW = new Date('2026-01-02T03:04:05.000Z');

describe('ledger export', () => {
  it('holds the service record with its replayable options, and the registry, sorted', async () => {
    const { state } = await instance();
    await enabled(state);
    // Inserted out of order: the document is sorted by name at every level.
    await tagged(state, 'zeta/app', 'v2', digest('2'));
    await tagged(state, 'alpha/app', 'b', digest('b'));
    await tagged(state, 'alpha/app', 'a', digest('a'));
    await state.ensureRepository('empty/repo');
    const doc = await exportDocument(state, NOW);
    expect(validateDocument(JSON.parse(serializeDocument(doc)))).toEqual(doc);
    expect(doc.services).toEqual([
      {
        name: 'container-registry',
        state: 'enabled',
        options: { source: 'go', init: 'direct', readyTimeout: 60, lockTimeout: 120 },
        facts: { 'buildkit.source': 'go:v0.16.0', 'buildkit.binaries': { buildkitd: 'bb', buildctl: 'cc' } },
        artifacts: [{ kind: 'process', name: 'buildkitd', pidFile: '/run/opencloud/buildkitd.pid' }],
      },
    ]);
    expect(doc.registry.repositories).toEqual([
      {
        name: 'alpha/app',
        tags: [
          { name: 'a', digest: digest('a') },
          { name: 'b', digest: digest('b') },
        ],
        manifests: 2,
      },
      { name: 'empty/repo', tags: [], manifests: 0 },
      { name: 'zeta/app', tags: [{ name: 'v2', digest: digest('2') }], manifests: 1 },
    ]);
  });

  it('is byte-identical for the same state, with keys sorted at every level', async () => {
    const { state } = await instance();
    await enabled(state, { mirror: 'https://mirror.example' });
    await tagged(state, 'demo/app', '1', digest('1'));
    const one = serializeDocument(await exportDocument(state, NOW));
    const two = serializeDocument(await exportDocument(state, NOW));
    expect(two).toBe(one);
    // Apart from exportedAt, a later export is the same text too.
    const later = serializeDocument(await exportDocument(state));
    expect(later.replace(/"exportedAt": "[^"]+"/, '')).toBe(one.replace(/"exportedAt": "[^"]+"/, ''));
    expect(one.split('\n').slice(0, 9)).toEqual([
      '{',
      '  "exportedAt": "2026-01-02T03:04:05.000Z",',
      '  "kind": "opencloud-ledger",',
      '  "policies": {',
      '    "immutableTags": [],',
      '    "quotas": [],',
      '    "retention": []',
      '  },',
      '  "registry": {',
    ]);
    expect(one).toContain(
      '"options": {\n        "init": "direct",\n        "lockTimeout": 120,\n        "mirror": "https://mirror.example",',
    );
    expect(one.endsWith('}\n')).toBe(true);
  });

  it('writes the file whole, and writes nothing when the document does not validate', async () => {
    const { dir, state } = await instance();
    await enabled(state);
    const doc = await exportDocument(state, NOW);
    const file = join(dir, 'out', 'ledger.json');
    const text = await writeDocument(doc, file);
    expect(readFileSync(file, 'utf8')).toBe(text);
    expect(readdirSync(join(dir, 'out'))).toEqual(['ledger.json']); // no temp file left behind

    const bad = { ...doc, services: [{ ...doc.services[0], options: null }] } as LedgerDocument;
    const other = join(dir, 'out', 'bad.json');
    await expect(writeDocument(bad, other)).rejects.toThrow(
      'the exported document is not a valid ledger document: services[0].options must be an object when state is "enabled"',
    );
    await expect(writeDocument(bad, other)).rejects.toBeInstanceOf(DocumentError);
    expect(readdirSync(join(dir, 'out'))).toEqual(['ledger.json']);
  });

  it('exports a never-enabled service with options null', async () => {
    const { state } = await instance();
    const ledger = new Ledger(state);
    const failed: RunResult = {
      runId: 'r-failed',
      mode: 'apply',
      steps: [],
      recap: { ok: 0, changed: 0, failed: 1, skipped: 3 },
      artifacts: [],
      facts: {},
    };
    await ledger.beginRun('r-failed', 'container-registry', 'enable', { source: 'go' });
    await ledger.finishRun('container-registry', 'enable', failed, { source: 'go' });
    const doc = await exportDocument(state, NOW);
    expect(doc.services).toEqual([
      { name: 'container-registry', state: 'disabled', options: null, facts: {}, artifacts: [] },
    ]);
    expect(() => validateDocument(JSON.parse(serializeDocument(doc)))).not.toThrow();
  });
});

describe('ledger export on an installed host', () => {
  it("leaves out OpenCloud's own deployment (made per host by `opencloud install`), and still validates", async () => {
    const { state } = await instance();
    await enabled(state);
    const ledger = new Ledger(state);
    const install: RunResult = {
      runId: 'r-install',
      mode: 'apply',
      steps: [],
      recap: { ok: 5, changed: 7, failed: 0, skipped: 0 },
      artifacts: [{ kind: 'user', name: 'opencloud' }],
      facts: {},
    };
    const options = { listen: '127.0.0.1:5000', dataDir: '/var/lib/opencloud', user: 'opencloud' };
    await ledger.beginRun('r-install', 'opencloud', 'enable', options);
    await ledger.finishRun('opencloud', 'enable', install, options);
    const doc = await exportDocument(state, NOW);
    expect(doc.services.map((s) => s.name)).toEqual(['container-registry']);
    expect(() => validateDocument(JSON.parse(serializeDocument(doc)))).not.toThrow();
  });
});

describe('ledger diff', () => {
  it('finds nothing between a document and the instance it came from', async () => {
    const { state } = await instance();
    await enabled(state);
    await tagged(state, 'demo/app', '1', digest('1'));
    const doc = await exportDocument(state, NOW);
    expect(compareDocuments(doc, await exportDocument(state))).toEqual([]);
  });

  it('finds a state change, an option change, and missing or moved repositories and tags', async () => {
    const source = await instance();
    await enabled(source.state, { source: 'release', sha256: 'e'.repeat(64) });
    await tagged(source.state, 'demo/app', '1', digest('1'));
    await tagged(source.state, 'demo/app', '2', digest('2'));
    await tagged(source.state, 'other/app', 'latest', digest('3'));
    const doc = await exportDocument(source.state, NOW);

    const target = await instance();
    const fresh = await exportDocument(target.state);
    expect(compareDocuments(doc, fresh).map(describeDifference)).toEqual([
      'service container-registry: state disabled → enabled',
      'registry: repository demo/app missing (tags: 2)',
      'registry: repository other/app missing (tags: 1)',
    ]);

    await enabled(target.state); // source go, no sha256
    await tagged(target.state, 'demo/app', '1', digest('f'));
    await tagged(target.state, 'other/app', 'latest', digest('3'));
    await tagged(target.state, 'only/here', 'x', digest('4')); // extra content is not a difference
    const diffs = compareDocuments(doc, await exportDocument(target.state));
    expect(diffs.map(describeDifference)).toEqual([
      'service container-registry: option source go → release',
      `service container-registry: option sha256 (none) → ${'e'.repeat(64)}`,
      `registry: demo/app:1 digest ${digest('f')} → ${digest('1')}`,
      `registry: demo/app:2 missing (${digest('2')})`,
    ]);
    expect(diffs[0]).toEqual({
      kind: 'service-option',
      service: 'container-registry',
      option: 'source',
      from: 'go',
      to: 'release',
    });
  });

  it('finds a service the document has disabled, and ignores one it does not name', async () => {
    const { state } = await instance();
    await enabled(state);
    const doc = await exportDocument(state, NOW);
    const off: LedgerDocument = { ...doc, services: [{ ...doc.services[0]!, state: 'disabled' }] };
    expect(compareDocuments(off, doc).map(describeDifference)).toEqual([
      'service container-registry: state enabled → disabled',
    ]);
    expect(compareDocuments({ ...doc, services: [] }, doc)).toEqual([]);
    // Options of a service that stays disabled do not matter.
    const offHere: LedgerDocument = { ...off, services: [{ ...off.services[0]!, options: null }] };
    expect(compareDocuments(off, offHere)).toEqual([]);
  });
});
