// The ledger document's validator: a well-formed document passes untouched, and each kind of bad
// input is refused with the exact path of the offending value.
import { describe, expect, it } from 'vitest';
import { SERVICE } from '../installer/container-registry.js';
import { DocumentError, KNOWN_SERVICES, type LedgerDocument } from './document.js';
import { documentProblems, parseDocument, validateDocument } from './validate.js';

/** A parsed document, edited freely by the cases below. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>;

const DIGEST_A = `sha256:${'a'.repeat(64)}`;

function sample(): LedgerDocument {
  return {
    kind: 'opencloud-ledger',
    version: 1,
    exportedAt: '2026-01-02T03:04:05.678Z',
    services: [
      {
        name: 'container-registry',
        state: 'enabled',
        options: { source: 'go', init: 'direct', readyTimeout: 60, lockTimeout: 120 },
        facts: { 'buildkit.source': 'go:v0.16.0', 'buildkit.binaries': { buildkitd: 'abc' } },
        artifacts: [{ kind: 'process', name: 'buildkitd', pidFile: '/run/opencloud/buildkitd.pid' }],
      },
    ],
    registry: { repositories: [{ name: 'demo/app', tags: [{ name: '1', digest: DIGEST_A }], manifests: 2 }] },
  };
}

/** The sample with one change made by `edit` (on a parsed copy, so anything goes). */
function broken(edit: (doc: Loose) => void): unknown {
  const doc = JSON.parse(JSON.stringify(sample())) as Loose;
  edit(doc);
  return doc;
}

describe('the ledger document validator', () => {
  it('accepts a well-formed document and returns it as is', () => {
    const doc = sample();
    expect(documentProblems(doc)).toEqual([]);
    expect(validateDocument(doc)).toBe(doc);
  });

  it('accepts optional options, a disabled service without options, and empty lists', () => {
    const doc = broken((d) => {
      d.services[0].options = {
        source: 'release',
        sha256: 'f'.repeat(64),
        mirror: 'https://mirror.example/buildkit',
        init: 'systemd',
        readyTimeout: 1.5,
        lockTimeout: 1,
      };
      d.services.push({
        name: 'container-registry',
        state: 'disabled',
        options: null,
        facts: {},
        artifacts: [],
      });
      d.services.splice(0, 1);
      d.registry.repositories[0].tags = [];
    });
    expect(documentProblems(doc)).toEqual([]);
  });

  it('knows the installer service', () => {
    expect(KNOWN_SERVICES).toContain(SERVICE);
  });

  const cases: [string, (d: Loose) => void, string[]][] = [
    [
      'wrong kind',
      (d) => (d.kind = 'docker-compose'),
      ['kind must be "opencloud-ledger", got "docker-compose"'],
    ],
    ['wrong version', (d) => (d.version = 2), ['version must be 1, got 2']],
    ['version as a string', (d) => (d.version = '1'), ['version must be 1, got "1"']],
    [
      'an unknown top-level key',
      (d) => (d.extra = true),
      ['extra is not a known key (known: kind, version, exportedAt, services, registry, policies)'],
    ],
    ['a missing key', (d) => delete d.registry, ['registry is required']],
    [
      'policies with a bad rule of each kind',
      (d) =>
        (d.policies = {
          retention: [{ repositories: 'team/**', keepLast: -1 }],
          immutableTags: [
            { repositories: 'Team/**', tags: '^v' },
            { repositories: 'a/*', tags: '(' },
            { repositories: 'b/*', tags: '^v', extra: 1 },
          ],
          quotas: [
            { repositories: 'q/**', bytes: 0 },
            { repositories: 'q/**', bytes: 10 },
          ],
        }),
      [
        'policies.immutableTags[0]: "Team/**" is not a repository pattern (a repository name, with * or ** as wildcards)',
        'policies.immutableTags[1]: tags "(" is not a regular expression: Invalid regular expression: /(/: Unterminated group',
        'policies.immutableTags[2].extra is not a known key (known: repositories, tags)',
        'policies.retention[0]: keepLast must be a whole number from 0 to 1000000',
        'policies.quotas[0]: bytes must be a whole number above 0',
        'policies.quotas[1].repositories: "q/**" has two quotas rules',
      ],
    ],
    [
      'policies without a kind',
      (d) => (d.policies = { immutableTags: [] }),
      ['policies.retention is required', 'policies.quotas is required'],
    ],
    [
      'exportedAt not a time',
      (d) => (d.exportedAt = 'yesterday'),
      ['exportedAt must be an ISO 8601 UTC time, got "yesterday"'],
    ],
    ['services not an array', (d) => (d.services = {}), ['services must be an array, got an object']],
    [
      'a state that is not enabled/disabled',
      (d) => (d.services[0].state = 'on'),
      ['services[0].state must be "enabled" or "disabled", got "on"'],
    ],
    [
      'an unknown service',
      (d) => (d.services[0].name = 'postgres'),
      ['services[0].name must be "container-registry", got "postgres"'],
    ],
    [
      'an unknown key in a service',
      (d) => (d.services[0].enabled = true),
      ['services[0].enabled is not a known key (known: name, state, options, facts, artifacts)'],
    ],
    [
      'an unknown option',
      (d) => (d.services[0].options.purge = false),
      [
        'services[0].options.purge is not a known key (known: source, init, readyTimeout, lockTimeout, tarball, sha256, mirror)',
      ],
    ],
    [
      'a wrong option value',
      (d) => (d.services[0].options.source = 'apt'),
      ['services[0].options.source must be one of "release", "tarball", "go", got "apt"'],
    ],
    [
      'init auto (options are recorded resolved)',
      (d) => (d.services[0].options.init = 'auto'),
      ['services[0].options.init must be "systemd" or "direct", got "auto"'],
    ],
    [
      'a timeout as a string',
      (d) => (d.services[0].options.readyTimeout = '60'),
      ['services[0].options.readyTimeout must be a positive number, got "60"'],
    ],
    [
      'a tarball source without its tarball',
      (d) => (d.services[0].options.source = 'tarball'),
      ['services[0].options.tarball is required when source is "tarball"'],
    ],
    [
      'an uppercase sha256',
      (d) => (d.services[0].options.sha256 = 'F'.repeat(64)),
      [`services[0].options.sha256 must be 64 lowercase hex digits, got "${'F'.repeat(64)}"`],
    ],
    [
      'enabled without options',
      (d) => (d.services[0].options = null),
      ['services[0].options must be an object when state is "enabled"'],
    ],
    [
      'facts not an object',
      (d) => (d.services[0].facts = []),
      ['services[0].facts must be an object, got an array'],
    ],
    [
      'an artifact without a kind',
      (d) => (d.services[0].artifacts = [{ path: '/x' }]),
      ['services[0].artifacts[0].kind must be a string, got nothing'],
    ],
    [
      'a service twice',
      (d) => d.services.push(d.services[0]),
      ['services[1].name: service "container-registry" appears twice'],
    ],
    [
      'a bad digest',
      (d) => (d.registry.repositories[0].tags[0].digest = 'latest'),
      ['registry.repositories[0].tags[0].digest must be a digest (algorithm:hex), got "latest"'],
    ],
    [
      'a negative manifest count',
      (d) => (d.registry.repositories[0].manifests = -1),
      ['registry.repositories[0].manifests must be a whole number of 0 or more, got -1'],
    ],
    [
      'an unknown key in a tag',
      (d) => (d.registry.repositories[0].tags[0].size = 1),
      ['registry.repositories[0].tags[0].size is not a known key (known: name, digest)'],
    ],
    [
      'a repository twice',
      (d) => d.registry.repositories.push(d.registry.repositories[0]),
      ['registry.repositories[1].name: repository "demo/app" appears twice'],
    ],
    [
      'two problems at once',
      (d) => {
        d.services[0].state = 'on';
        d.registry.repositories[0].name = '';
      },
      [
        'services[0].state must be "enabled" or "disabled", got "on"',
        'registry.repositories[0].name must be a non-empty string, got ""',
      ],
    ],
  ];

  it.each(cases)('refuses %s with the path of the problem', (_title, edit, problems) => {
    const doc = broken(edit);
    expect(documentProblems(doc)).toEqual(problems);
    expect(() => validateDocument(doc, 'doc.json')).toThrow(
      `doc.json is not a valid ledger document: ${problems.join('; ')}`,
    );
  });

  it('refuses what is not an object, or not JSON, as a data error (exit 65)', () => {
    expect(documentProblems([])).toEqual(['the document must be an object, got an array']);
    const err = (() => {
      try {
        parseDocument('{"kind": ', 'doc.json');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(DocumentError);
    expect((err as DocumentError).exitCode).toBe(65);
    expect((err as Error).message).toMatch(/^doc\.json is not JSON: /);
  });

  it('parses a serialized document back to the same value', () => {
    expect(parseDocument(JSON.stringify(sample()), 'doc.json')).toEqual(sample());
  });
});
