// The ledger document's schema, checked by hand: every problem is reported with the path to the
// offending value (`services[0].state must be "enabled" or "disabled", got "on"`). Unknown keys
// are refused, except inside the informational `facts` and `artifacts`, which hold what the
// installer recorded and are passed through as any JSON.
import {
  DOCUMENT_KIND,
  DOCUMENT_VERSION,
  DocumentError,
  KNOWN_SERVICES,
  type LedgerDocument,
} from './document.js';
import { checkImmutableRule, PolicyError } from '../policies/immutable-tags.js';
import { checkQuotaRule } from '../policies/quotas.js';
import { checkRetentionRule } from '../policies/retention.js';

type Json = Record<string, unknown>;

const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$/;

/** A value as the messages show it: JSON for data, the type name for containers. */
function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  if (value !== null && typeof value === 'object') return 'an object';
  const text = JSON.stringify(value);
  return text.length > 100 ? `${text.slice(0, 97)}...` : text;
}

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

class Checker {
  readonly problems: string[] = [];

  fail(path: string, what: string, value: unknown): void {
    this.problems.push(`${path} must be ${what}, got ${shown(value)}`);
  }

  /**
   * The object at `path` ('' for the document itself) with exactly the given keys (`optional`
   * ones may be absent); false when it is not an object at all.
   */
  object(path: string, value: unknown, required: string[], optional: string[] = []): value is Json {
    if (!isObject(value)) {
      this.fail(path || 'the document', 'an object', value);
      return false;
    }
    const at = (key: string) => (path ? `${path}.${key}` : key);
    const known = [...required, ...optional];
    for (const key of Object.keys(value)) {
      if (!known.includes(key))
        this.problems.push(`${at(key)} is not a known key (known: ${known.join(', ')})`);
    }
    for (const key of required) if (!(key in value)) this.problems.push(`${at(key)} is required`);
    return true;
  }

  string(path: string, value: unknown, test?: { re: RegExp; what: string }): void {
    if (typeof value !== 'string' || value === '') this.fail(path, test?.what ?? 'a non-empty string', value);
    else if (test && !test.re.test(value)) this.fail(path, test.what, value);
  }

  oneOf(path: string, value: unknown, allowed: readonly string[]): void {
    if (typeof value !== 'string' || !allowed.includes(value)) {
      const list = allowed.map((a) => JSON.stringify(a));
      const what = list.length <= 2 ? list.join(' or ') : `one of ${list.join(', ')}`;
      this.fail(path, what, value);
    }
  }

  positive(path: string, value: unknown): void {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
      this.fail(path, 'a positive number', value);
  }

  count(path: string, value: unknown): void {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0)
      this.fail(path, 'a whole number of 0 or more', value);
  }

  array(path: string, value: unknown): value is unknown[] {
    if (Array.isArray(value)) return true;
    this.fail(path, 'an array', value);
    return false;
  }

  unique(path: string, items: unknown[], what: string): void {
    const seen = new Set<string>();
    items.forEach((item, i) => {
      const name = isObject(item) ? item.name : undefined;
      if (typeof name !== 'string') return;
      if (seen.has(name))
        this.problems.push(`${path}[${i}].name: ${what} ${JSON.stringify(name)} appears twice`);
      seen.add(name);
    });
  }
}

function checkOptions(c: Checker, path: string, o: unknown): void {
  if (!c.object(path, o, ['source', 'init', 'readyTimeout', 'lockTimeout'], ['tarball', 'sha256', 'mirror']))
    return;
  c.oneOf(`${path}.source`, o.source, ['release', 'tarball', 'go']);
  c.oneOf(`${path}.init`, o.init, ['systemd', 'direct']);
  c.positive(`${path}.readyTimeout`, o.readyTimeout);
  c.positive(`${path}.lockTimeout`, o.lockTimeout);
  if (o.tarball !== undefined) c.string(`${path}.tarball`, o.tarball);
  else if (o.source === 'tarball') c.problems.push(`${path}.tarball is required when source is "tarball"`);
  if (o.sha256 !== undefined)
    c.string(`${path}.sha256`, o.sha256, { re: /^[0-9a-f]{64}$/, what: '64 lowercase hex digits' });
  if (o.mirror !== undefined)
    c.string(`${path}.mirror`, o.mirror, { re: /^https?:\/\/[^/]/, what: 'an http:// or https:// URL' });
}

function checkService(c: Checker, path: string, s: unknown): void {
  if (!c.object(path, s, ['name', 'state', 'options', 'facts', 'artifacts'])) return;
  c.oneOf(`${path}.name`, s.name, KNOWN_SERVICES);
  c.oneOf(`${path}.state`, s.state, ['enabled', 'disabled']);
  if (s.options === null) {
    if (s.state === 'enabled') c.problems.push(`${path}.options must be an object when state is "enabled"`);
  } else if ('options' in s) {
    checkOptions(c, `${path}.options`, s.options);
  }
  if ('facts' in s && !isObject(s.facts)) c.fail(`${path}.facts`, 'an object', s.facts);
  if ('artifacts' in s && c.array(`${path}.artifacts`, s.artifacts)) {
    s.artifacts.forEach((a, i) => {
      const p = `${path}.artifacts[${i}]`;
      if (!isObject(a)) c.fail(p, 'an object', a);
      else if (typeof a.kind !== 'string') c.fail(`${p}.kind`, 'a string', a.kind);
    });
  }
}

function checkRepository(c: Checker, path: string, r: unknown): void {
  if (!c.object(path, r, ['name', 'tags', 'manifests'])) return;
  c.string(`${path}.name`, r.name);
  c.count(`${path}.manifests`, r.manifests);
  if (!c.array(`${path}.tags`, r.tags)) return;
  r.tags.forEach((t, i) => {
    const p = `${path}.tags[${i}]`;
    if (!c.object(p, t, ['name', 'digest'])) return;
    c.string(`${p}.name`, t.name);
    c.string(`${p}.digest`, t.digest, { re: DIGEST, what: 'a digest (algorithm:hex)' });
  });
  c.unique(`${path}.tags`, r.tags, 'tag');
}

/** Every kind of policy, each rule checked as the instance would check it. */
function checkPolicies(c: Checker, p: Json): void {
  const rules = (
    key: string,
    required: string[],
    optional: string[],
    each: (path: string, r: Json) => void,
  ) => {
    const list = p[key];
    if (!(key in p) || !c.array(`policies.${key}`, list)) return; // a missing one is already reported
    const seen = new Set<string>();
    list.forEach((r, i) => {
      const path = `policies.${key}[${i}]`;
      if (!c.object(path, r, required, optional)) return;
      c.string(`${path}.repositories`, r.repositories);
      if (typeof r.repositories === 'string') {
        if (seen.has(r.repositories))
          c.problems.push(`${path}.repositories: ${JSON.stringify(r.repositories)} has two ${key} rules`);
        seen.add(r.repositories);
      }
      each(path, r);
    });
  };
  rules('immutableTags', ['repositories', 'tags'], [], (path, r) => {
    try {
      checkImmutableRule({ repositories: r.repositories, tags: r.tags }); // unknown keys: reported above
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err;
      c.problems.push(`${path}: ${err.message}`);
    }
  });
  rules(
    'retention',
    ['repositories'],
    ['keepLast', 'keepTags', 'pulledWithinDays', 'untaggedAfterDays'],
    (path, r) => {
      const { repositories, keepLast, keepTags, pulledWithinDays, untaggedAfterDays } = r;
      const known = { repositories, keepLast, keepTags, pulledWithinDays, untaggedAfterDays };
      try {
        // Unknown keys are reported above; undefined ones are left out.
        checkRetentionRule(JSON.parse(JSON.stringify(known)));
      } catch (err) {
        if (!(err instanceof PolicyError)) throw err;
        c.problems.push(`${path}: ${err.message}`);
      }
    },
  );
  rules('quotas', ['repositories', 'bytes'], [], (path, r) => {
    try {
      checkQuotaRule({ repositories: r.repositories, bytes: r.bytes });
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err;
      c.problems.push(`${path}: ${err.message}`);
    }
  });
}

/** The problems with a parsed document, each with its path; empty when it is valid. */
export function documentProblems(value: unknown): string[] {
  const c = new Checker();
  if (!isObject(value)) {
    c.fail('the document', 'an object', value);
    return c.problems;
  }
  // A different kind or version is a different schema: nothing after it would mean anything.
  if (value.kind !== DOCUMENT_KIND) {
    c.fail('kind', JSON.stringify(DOCUMENT_KIND), value.kind);
    return c.problems;
  }
  if (value.version !== DOCUMENT_VERSION) {
    c.fail('version', String(DOCUMENT_VERSION), value.version);
    return c.problems;
  }
  c.object('', value, ['kind', 'version', 'exportedAt', 'services', 'registry'], ['policies']);
  if ('exportedAt' in value)
    c.string('exportedAt', value.exportedAt, { re: ISO_TIME, what: 'an ISO 8601 UTC time' });
  if ('services' in value && c.array('services', value.services)) {
    value.services.forEach((s, i) => checkService(c, `services[${i}]`, s));
    c.unique('services', value.services, 'service');
  }
  if ('registry' in value && c.object('registry', value.registry, ['repositories'])) {
    const repos = value.registry.repositories;
    if ('repositories' in value.registry && c.array('registry.repositories', repos)) {
      repos.forEach((r, i) => checkRepository(c, `registry.repositories[${i}]`, r));
      c.unique('registry.repositories', repos, 'repository');
    }
  }
  if ('policies' in value && c.object('policies', value.policies, ['retention', 'immutableTags', 'quotas']))
    checkPolicies(c, value.policies);
  return c.problems;
}

/** The document, or a DocumentError naming every problem (`source` says where it came from). */
export function validateDocument(value: unknown, source = 'the ledger document'): LedgerDocument {
  const problems = documentProblems(value);
  if (problems.length > 0) {
    throw new DocumentError(`${source} is not a valid ledger document: ${problems.join('; ')}`, {
      hint: `expected an \`opencloud ledger export\` document (kind "${DOCUMENT_KIND}", version ${DOCUMENT_VERSION})`,
    });
  }
  return value as LedgerDocument;
}

/** Parses and validates the text of a document file. */
export function parseDocument(text: string, source: string): LedgerDocument {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new DocumentError(`${source} is not JSON: ${(err as Error).message}`);
  }
  return validateDocument(value, source);
}
