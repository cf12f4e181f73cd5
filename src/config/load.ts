// Builds the effective configuration once at start: defaults < config file < OPENCLOUD_* env
// < command-line flags. Every problem is collected and reported together, naming the key, the
// offending value, where it came from and what is allowed.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../errors.js';
import { IS_CHECKOUT, PACKAGE_ROOT } from '../paths.js';
import { envName, FIELDS, type Config } from './schema.js';

export const DEFAULT_CONFIG_FILE = '/etc/opencloud/config.yaml';

export interface ConfigInput {
  /** --config; when given the file must exist. */
  configFile?: string | undefined;
  /** Values from command-line flags, keyed like the schema ("listen", "dataDir", ...). */
  flags?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface LoadedConfig {
  config: Config;
  /** The config file that was read, if any. */
  file: string | undefined;
  /** For each key, where its value came from: "default", a file path, an env var or "--flag". */
  sources: Record<string, string>;
}

const PATH_KEYS = new Set(['dataDir', 'containerd.socket', 'buildkit.socket']);

export function loadConfig(input: ConfigInput = {}): LoadedConfig {
  const env = input.env ?? process.env;
  const cwd = input.cwd ?? process.cwd();
  const problems: string[] = [];
  const raw = new Map<string, { value: unknown; source: string; base: string }>();

  const file = pickConfigFile(input.configFile ?? env.OPENCLOUD_CONFIG, cwd);
  if (file) {
    for (const [key, value] of Object.entries(readConfigFile(file, problems))) {
      raw.set(key, { value, source: file, base: dirname(file) });
    }
  }
  for (const field of FIELDS) {
    const name = envName(field.key);
    const value = env[name];
    if (value !== undefined && value !== '') raw.set(field.key, { value, source: name, base: cwd });
  }
  for (const [key, value] of Object.entries(input.flags ?? {})) {
    if (value !== undefined) raw.set(key, { value, source: `--${kebab(key)}`, base: cwd });
  }

  const ctx = { checkout: IS_CHECKOUT, root: PACKAGE_ROOT };
  const flat: Record<string, unknown> = {};
  const sources: Record<string, string> = {};
  for (const field of FIELDS) {
    const given = raw.get(field.key);
    if (!given) {
      flat[field.key] = field.default(ctx);
      sources[field.key] = 'default';
      continue;
    }
    let value = given.value;
    // Relative paths are taken relative to where they were written (the file's folder or the cwd).
    if (PATH_KEYS.has(field.key) && typeof value === 'string' && value !== '' && !isAbsolute(value)) {
      value = resolve(given.base, value);
    }
    const parsed = field.parse(value);
    if (parsed.ok) {
      flat[field.key] = parsed.value;
      sources[field.key] = given.source;
    } else {
      problems.push(
        `${field.key} = ${JSON.stringify(given.value)} (from ${given.source}) is not valid: allowed is ${parsed.allowed}`,
      );
    }
  }
  // Keys that only work together: one alone is a mistake worth stopping for. HTTPS needs both
  // files (one alone is not plain HTTP); S3 credentials are both given or both left to the SDK.
  const together: [string, string, string][] = [
    [
      'tls.cert',
      'tls.key',
      'HTTPS needs both the certificate (tls.cert) and its key (tls.key), or neither for plain HTTP',
    ],
    [
      'storage.s3.accessKeyId',
      'storage.s3.secretAccessKey',
      "give both, or neither to use the AWS SDK's own credentials",
    ],
  ];
  for (const [a, b, why] of together) {
    for (const [given, lacking] of [
      [a, b],
      [b, a],
    ]) {
      if (raw.has(given as string) && !raw.has(lacking as string)) {
        problems.push(
          `${given} is set (from ${raw.get(given as string)?.source}) but ${lacking} is not: ${why}`,
        );
      }
    }
  }
  // TCP workers are reached with mutual TLS only: all three files, given before any tcp:// worker.
  const tcpWorkers = ((flat['buildkit.workers'] as string[] | undefined) ?? []).some((w) =>
    w.startsWith('tcp://'),
  );
  const tlsKeys = ['buildkit.tls.ca', 'buildkit.tls.cert', 'buildkit.tls.key'];
  const tlsGiven = tlsKeys.filter((k) => raw.has(k));
  if ((tcpWorkers || tlsGiven.length > 0) && tlsGiven.length !== tlsKeys.length) {
    problems.push(
      `buildkit.workers over TCP use mutual TLS: set all of ${tlsKeys.join(', ')} (missing: ${tlsKeys.filter((k) => !raw.has(k)).join(', ')})`,
    );
  }
  // S3 settings without a bucket would be silently ignored (blobs staying on the filesystem).
  const s3Given = [...raw.keys()].filter((k) => k.startsWith('storage.s3.') && k !== 'storage.s3.bucket');
  if (s3Given.length > 0 && !raw.has('storage.s3.bucket')) {
    problems.push(
      `${s3Given.join(', ')} set (from ${raw.get(s3Given[0] as string)?.source}) but storage.s3.bucket is not: name the bucket to keep blobs in S3, or remove these keys`,
    );
  }
  if (problems.length > 0) {
    throw new ConfigError(`invalid configuration:\n  - ${problems.join('\n  - ')}`, {
      hint: 'fix the values above; `opencloud serve --help` lists the flags and docs list every key',
    });
  }
  return { config: unflatten(flat) as unknown as Config, file, sources };
}

function pickConfigFile(explicit: string | undefined, cwd: string): string | undefined {
  if (explicit) {
    const path = resolve(cwd, explicit);
    if (!existsSync(path)) throw new ConfigError(`config file ${path} does not exist`);
    return path;
  }
  return existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined;
}

/** Reads YAML and flattens it into dotted keys; unknown keys and non-mappings are problems. */
function readConfigFile(file: string, problems: string[]): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`config file ${file} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError(`config file ${file} must be a YAML mapping of keys to values`);
  }
  const known = new Set(FIELDS.map((f) => f.key));
  // Every proper prefix of a key is a group ("storage" and "storage.s3" for "storage.s3.bucket").
  const groups = new Set(
    FIELDS.flatMap((f) =>
      f.key
        .split('.')
        .slice(0, -1)
        .map((_, i, parts) => parts.slice(0, i + 1).join('.')),
    ),
  );
  const out: Record<string, unknown> = {};
  const walk = (obj: Record<string, unknown>, prefix: string) => {
    for (const [k, v] of Object.entries(obj)) {
      const key = prefix + k;
      if (known.has(key)) out[key] = v;
      else if (groups.has(key) && v && typeof v === 'object' && !Array.isArray(v)) {
        walk(v as Record<string, unknown>, key + '.');
      } else {
        problems.push(`${key} (in ${file}) is not a known key; known keys: ${[...known].join(', ')}`);
      }
    }
  };
  walk(doc as Record<string, unknown>, '');
  return out;
}

function unflatten(flat: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(flat)) {
    const parts = key.split('.');
    let node = out;
    for (const part of parts.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>;
    node[parts[parts.length - 1] as string] = value;
  }
  return out;
}

function kebab(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/\./g, '-')
    .toLowerCase();
}
