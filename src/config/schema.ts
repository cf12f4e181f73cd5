// The configuration schema: one table that drives parsing, validation, environment overrides
// and (later) the generated reference docs. Keys are dotted paths into config.yaml.

import { allowEntryProblem } from '../lib/outbound.js';
import { DEFAULT_CONTEXT_LIMITS } from '../build/context-limits.js';
import { parseWorkerAddress } from '../runtime/endpoint.js';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface Config {
  listen: { host: string; port: number };
  dataDir: string;
  logLevel: LogLevel;
  /** Seconds that in-flight requests get to finish on SIGTERM/SIGINT. */
  shutdownTimeout: number;
  insecureNoAuth: boolean;
  /** PEM files for HTTPS; both or neither (checked in load.ts). */
  tls: { cert: string | undefined; key: string | undefined };
  metrics: { listen: { host: string; port: number } | undefined };
  /** Take the client's protocol, host and address from X-Forwarded-* headers (behind a reverse proxy). */
  trustProxy: boolean;
  containerd: { socket: string; namespaces: string[] };
  buildkit: {
    socket: string;
    /** Empty: the one daemon at `socket`. */
    workers: string[];
    tls: {
      ca: string | undefined;
      cert: string | undefined;
      key: string | undefined;
      serverName: string | undefined;
    };
    healthInterval: number;
  };
  registry: {
    allowSparseManifests: boolean;
    uploadTtl: number;
    /** Open upload sessions allowed per repository; 0: no limit. */
    maxUploadsPerRepository: number;
    /** Open upload sessions allowed per user (per address for anonymous callers); 0: no limit. */
    maxUploadsPerUser: number;
  };
  /** Unset: SQLite in the data dir. */
  state: { postgresUrl: string | undefined };
  /** `bucket` unset: blobs on the filesystem in the data dir. */
  storage: { s3: S3Config };
  gc: { interval: number; gracePeriod: number; deleteUntagged: boolean };
  build: {
    concurrency: number;
    timeout: number;
    contextMaxBytes: number;
    contextMaxFiles: number;
    maxQueuedPerUser: number;
  };
  installer: { trustedSha256: string[] };
  webhooks: {
    concurrency: number;
    timeout: number;
    maxAttempts: number;
    retryBaseMs: number;
    source: string | undefined;
    /** Host names, addresses and CIDRs webhooks may send to although they are internal. */
    allowedHosts: string[];
  };
}

export interface S3Config {
  bucket: string | undefined;
  /** Unset: AWS itself (the region's endpoint). */
  endpoint: string | undefined;
  region: string;
  /** Prepended to every key, e.g. "registry/". */
  prefix: string;
  forcePathStyle: boolean;
  /** Unset: the SDK's own chain (AWS_ACCESS_KEY_ID, instance roles …). */
  accessKeyId: string | undefined;
  secretAccessKey: string | undefined;
  /** Answer blob GETs with a redirect to a presigned URL instead of streaming through us. */
  redirect: boolean;
  /** Bytes per multipart part; a streaming upload holds about two in memory. */
  partSize: number;
}

/** What a raw value (from YAML, an env var or a flag) became, or why it was refused. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; allowed: string };

export interface FieldSpec<T = unknown> {
  key: string; // dotted path, e.g. "buildkit.socket"
  description: string;
  default: (ctx: { checkout: boolean; root: string }) => T;
  parse: (raw: unknown) => Parsed<T>;
}

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const no = (allowed: string): Parsed<never> => ({ ok: false, allowed });

export function parseListen(raw: unknown): Parsed<{ host: string; port: number }> {
  const allowed = 'HOST:PORT with a port from 0 to 65535, e.g. 127.0.0.1:5000 or [::1]:5000';
  if (typeof raw !== 'string') return no(allowed);
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(raw.trim());
  if (!m) return no(allowed);
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port > 65535) return no(allowed);
  return ok({ host: (m[1] ?? m[2]) as string, port });
}

function absolutePath(raw: unknown): Parsed<string> {
  const allowed = 'an absolute path';
  if (typeof raw !== 'string' || !raw.startsWith('/') || raw.includes('\0')) return no(allowed);
  return ok(raw);
}

function boolean(raw: unknown): Parsed<boolean> {
  if (typeof raw === 'boolean') return ok(raw);
  if (typeof raw === 'string' && /^(true|false|1|0|yes|no)$/i.test(raw))
    return ok(/^(true|1|yes)$/i.test(raw));
  return no('true or false');
}

function integerIn(min: number, max: number) {
  return (raw: unknown): Parsed<number> => {
    const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
    if (typeof n === 'number' && Number.isInteger(n) && n >= min && n <= max) return ok(n);
    return no(`an integer from ${min} to ${max}`);
  };
}

function oneOf<T extends string>(values: readonly T[]) {
  return (raw: unknown): Parsed<T> =>
    typeof raw === 'string' && (values as readonly string[]).includes(raw)
      ? ok(raw as T)
      : no(values.join(', '));
}

/** A list as given: a YAML sequence, or "a, b" from an environment variable or a flag. */
const commaList = (raw: unknown): unknown =>
  typeof raw === 'string'
    ? raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : raw;

function sha256List(raw: unknown): Parsed<string[]> {
  const allowed = 'a list of sha256 checksums (64 hex digits each), possibly empty';
  const items = commaList(raw);
  if (!Array.isArray(items) || !items.every((s) => typeof s === 'string' && /^[0-9a-fA-F]{64}$/.test(s)))
    return no(allowed);
  return ok((items as string[]).map((s) => s.toLowerCase()));
}

/** A URL with one of `protocols` (e.g. "http:"), as written. */
function urlWith(protocols: string[], allowed: string) {
  return (raw: unknown): Parsed<string> => {
    if (typeof raw !== 'string' || !URL.canParse(raw)) return no(allowed);
    return protocols.includes(new URL(raw).protocol) ? ok(raw) : no(allowed);
  };
}

const httpUrl = urlWith(['http:', 'https:'], 'an absolute http:// or https:// URL');
const postgresUrl = urlWith(
  ['postgres:', 'postgresql:'],
  'a postgres:// or postgresql:// URL, e.g. postgres://opencloud:secret@db.internal:5432/opencloud',
);

// S3 bucket naming rules (3-63 characters, lower case, digits, dots and hyphens, no leading or
// trailing punctuation).
function bucketName(raw: unknown): Parsed<string> {
  const allowed =
    'an S3 bucket name: 3 to 63 lower-case letters, digits, "." and "-", starting and ending with a letter or digit';
  return typeof raw === 'string' && /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(raw) ? ok(raw) : no(allowed);
}

function keyPrefix(raw: unknown): Parsed<string> {
  const allowed = 'a key prefix without a leading "/", e.g. "registry/"';
  return typeof raw === 'string' && !raw.startsWith('/') && !raw.includes('\0') && raw.length <= 512
    ? ok(raw)
    : no(allowed);
}

function nonEmptyString(raw: unknown): Parsed<string> {
  return typeof raw === 'string' && raw.trim() !== '' ? ok(raw.trim()) : no('a non-empty string');
}

function workerList(raw: unknown): Parsed<string[]> {
  const allowed =
    'a list of BuildKit addresses, unix:///path/to/buildkitd.sock or tcp://host:port (TCP needs buildkit.tls.*), possibly empty';
  const items = commaList(raw);
  if (!Array.isArray(items) || !items.every((s) => typeof s === 'string' && parseWorkerAddress(s)))
    return no(allowed);
  if (new Set(items).size !== items.length) return no(`${allowed}, each address once`);
  return ok(items as string[]);
}

function allowedHostList(raw: unknown): Parsed<string[]> {
  const allowed =
    'a list of host names (hooks.internal), addresses (127.0.0.1, ::1) and CIDRs (10.0.0.0/8, fd00::/8), possibly empty';
  const items = commaList(raw);
  if (!Array.isArray(items)) return no(allowed);
  for (const item of items) {
    const problem = allowEntryProblem(item);
    if (problem) return no(`${allowed}; ${problem}`);
  }
  return ok(items as string[]);
}

function hostName(raw: unknown): Parsed<string> {
  return typeof raw === 'string' && /^[A-Za-z0-9.-]{1,253}$/.test(raw) ? ok(raw) : no('a DNS name');
}

function nameList(raw: unknown): Parsed<string[]> {
  const allowed = 'a list of containerd namespace names (letters, digits, "-", "_", ".")';
  const items = typeof raw === 'string' ? raw.split(',').map((s) => s.trim()) : raw;
  if (!Array.isArray(items) || items.length === 0) return no(allowed);
  if (!items.every((s) => typeof s === 'string' && /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(s)))
    return no(allowed);
  return ok(items as string[]);
}

export const FIELDS: readonly FieldSpec[] = [
  {
    key: 'listen',
    description: 'Address the HTTP server listens on (registry, API and UI).',
    default: () => ({ host: '127.0.0.1', port: 5000 }),
    parse: parseListen,
  },
  {
    key: 'dataDir',
    description: 'Where blobs and state live: ./data in a checkout, /var/lib/opencloud when installed.',
    default: ({ checkout, root }) => (checkout ? `${root}/data` : '/var/lib/opencloud'),
    parse: absolutePath,
  },
  {
    key: 'logLevel',
    description: 'Log level of the structured (pino) logs.',
    default: () => 'info',
    parse: oneOf(LOG_LEVELS),
  },
  {
    key: 'shutdownTimeout',
    description: 'Seconds in-flight requests get to finish after SIGTERM/SIGINT before connections are cut.',
    default: () => 30,
    parse: integerIn(1, 3600),
  },
  {
    key: 'insecureNoAuth',
    description: 'Allow listening beyond loopback without authentication.',
    default: () => false,
    parse: boolean,
  },
  {
    key: 'metrics.listen',
    description:
      'A second address that serves only GET /metrics, without authentication (for a Prometheus on a private network; bind it to one). Unset: /metrics is served on `listen` only, to admins and API tokens once authentication is on.',
    default: () => undefined,
    parse: parseListen,
  },
  {
    key: 'tls.cert',
    description:
      'PEM certificate (the server certificate first, then any intermediates) for serving HTTPS on `listen`; needs `tls.key`. Unset: plain HTTP. Re-read on SIGHUP (`systemctl reload opencloud`).',
    default: () => undefined,
    parse: absolutePath,
  },
  {
    key: 'tls.key',
    description:
      'PEM private key (unencrypted) of `tls.cert`; needs `tls.cert`. Must be readable by the user the server runs as. Re-read on SIGHUP.',
    default: () => undefined,
    parse: absolutePath,
  },
  {
    key: 'trustProxy',
    description:
      'Behind a reverse proxy: take the protocol, host and client address from `X-Forwarded-Proto`, `X-Forwarded-Host` and `X-Forwarded-For` (token realm, Secure cookies, audit and sign-in throttling). Turn it on only when every connection comes through the proxy: clients could otherwise set these headers themselves.',
    default: () => false,
    parse: boolean,
  },
  {
    key: 'containerd.socket',
    description: "containerd's gRPC socket.",
    default: () => '/run/containerd/containerd.sock',
    parse: absolutePath,
  },
  {
    key: 'containerd.namespaces',
    description: 'containerd namespaces whose images are listed (BuildKit stores its images in "buildkit").',
    default: () => ['buildkit', 'default'],
    parse: nameList,
  },
  {
    key: 'buildkit.socket',
    description: "buildkitd's gRPC socket.",
    default: () => '/run/buildkit/buildkitd.sock',
    parse: absolutePath,
  },
  {
    key: 'buildkit.workers',
    description:
      'Several BuildKit daemons to build on: `unix:///path` on this host or `tcp://host:port` with mutual TLS (`buildkit.tls.*`). Each build goes to the healthy daemon running the fewest builds; one that stops answering leaves the rotation until it answers again. Empty: the one daemon at `buildkit.socket`. Remote daemons push to this registry themselves, so they must reach it at the address builds are tagged with.',
    default: () => [],
    parse: workerList,
  },
  {
    key: 'buildkit.tls.ca',
    description: "PEM of the CA that signed the TCP workers' certificates.",
    default: () => undefined,
    parse: absolutePath,
  },
  {
    key: 'buildkit.tls.cert',
    description: 'PEM client certificate this server presents to TCP workers (mutual TLS).',
    default: () => undefined,
    parse: absolutePath,
  },
  {
    key: 'buildkit.tls.key',
    description: 'PEM private key of `buildkit.tls.cert`.',
    default: () => undefined,
    parse: absolutePath,
  },
  {
    key: 'buildkit.tls.serverName',
    description:
      "The name TCP workers' certificates are checked against, when it is not the host in the address.",
    default: () => undefined,
    parse: hostName,
  },
  {
    key: 'buildkit.healthInterval',
    description:
      'Seconds between health checks of the BuildKit workers (a failed build also checks its worker at once).',
    default: () => 10,
    parse: integerIn(1, 3600),
  },
  {
    key: 'registry.allowSparseManifests',
    description:
      'Accept manifests that reference blobs or child manifests the repository does not have (partial mirrors); off, such a push fails with MANIFEST_BLOB_UNKNOWN.',
    default: () => false,
    parse: boolean,
  },
  {
    key: 'registry.uploadTtl',
    description: 'Seconds an upload session may sit idle before garbage collection removes it.',
    default: () => 86400,
    parse: integerIn(60, 30 * 86400),
  },
  {
    key: 'registry.maxUploadsPerRepository',
    description:
      'Upload sessions that may be open at once in one repository, whoever opened them; one more is refused with 429 TOOMANYREQUESTS. A session stops counting when it is completed, cancelled, or older than `registry.uploadTtl`. 0: no limit.',
    default: () => 1000,
    parse: integerIn(0, 1_000_000),
  },
  {
    key: 'registry.maxUploadsPerUser',
    description:
      'Upload sessions one user may have open at once across all repositories (anonymous pushes, and every push when authentication is off, count per client address); one more is refused with 429 TOOMANYREQUESTS. A client pushes a few layers at a time (docker 5, skopeo 6, crane 4) and BuildKit at most one per layer (an image has well under 128), so 200 leaves room for a whole image at once, several pushes in parallel and sessions left behind by interrupted pushes. 0: no limit.',
    default: () => 200,
    parse: integerIn(0, 1_000_000),
  },
  {
    key: 'state.postgresUrl',
    description:
      'Keep the state (repositories, tags, manifests, users, builds, webhooks, the ledger) in this PostgreSQL database instead of SQLite in the data dir; several registry nodes share it. The database must exist; tables are created and migrated at start.',
    default: () => undefined,
    parse: postgresUrl,
  },
  {
    key: 'storage.s3.bucket',
    description:
      'Keep blobs and upload sessions in this S3 bucket instead of the data dir (several registry nodes share it). The bucket must exist.',
    default: () => undefined,
    parse: bucketName,
  },
  {
    key: 'storage.s3.endpoint',
    description:
      'URL of an S3-compatible server (SeaweedFS, Ceph, Garage …). Unset: AWS S3 in `storage.s3.region`.',
    default: () => undefined,
    parse: httpUrl,
  },
  {
    key: 'storage.s3.region',
    description: 'Region the requests are signed for.',
    default: () => 'us-east-1',
    parse: nonEmptyString,
  },
  {
    key: 'storage.s3.prefix',
    description: 'Prefix of every key this registry writes in the bucket, e.g. `registry/`.',
    default: () => '',
    parse: keyPrefix,
  },
  {
    key: 'storage.s3.forcePathStyle',
    description:
      'Address the bucket as `endpoint/bucket/key` instead of `bucket.endpoint/key` (most self-hosted servers need this).',
    default: () => true,
    parse: boolean,
  },
  {
    key: 'storage.s3.accessKeyId',
    description:
      "Access key id. Unset: the AWS SDK's own chain (`AWS_ACCESS_KEY_ID`, shared credentials, instance roles).",
    default: () => undefined,
    parse: nonEmptyString,
  },
  {
    key: 'storage.s3.secretAccessKey',
    description: 'Secret access key of `storage.s3.accessKeyId`; keep the config file unreadable to others.',
    default: () => undefined,
    parse: nonEmptyString,
  },
  {
    key: 'storage.s3.redirect',
    description:
      'Answer blob downloads with a 307 redirect to a presigned URL (valid 20 minutes) so bytes flow from the store to the client directly; the client must reach the endpoint.',
    default: () => false,
    parse: boolean,
  },
  {
    key: 'storage.s3.partSize',
    description:
      'Bytes per multipart part when uploading to S3 (5 MiB to 512 MiB); a streaming upload holds about two parts in memory.',
    default: () => 8 * 1024 * 1024,
    parse: integerIn(5 * 1024 * 1024, 512 * 1024 * 1024),
  },
  {
    key: 'gc.interval',
    description: "Seconds between the server's garbage collection runs; 0 turns the schedule off.",
    default: () => 3600,
    parse: integerIn(0, 30 * 86400),
  },
  {
    key: 'gc.gracePeriod',
    description:
      'Seconds during which newly pushed or linked content is never collected (protects pushes in progress).',
    default: () => 3600,
    parse: integerIn(0, 30 * 86400),
  },
  {
    key: 'build.concurrency',
    description: 'Builds that run at once; more wait in a queue.',
    default: () => 2,
    parse: integerIn(1, 64),
  },
  {
    key: 'build.timeout',
    description: 'Seconds a build may run before it is canceled.',
    default: () => 3600,
    parse: integerIn(10, 7 * 86400),
  },
  {
    key: 'build.contextMaxBytes',
    description:
      "Most bytes of file content one build context may hold, in both forms: what an uploaded tar / tar.gz unpacks to (counted from each member's header as the archive streams in, so nothing over it is written) and the files of a JSON build. Beyond it the build is refused with 413 `CONTEXT_TOO_LARGE`. The default, 512 MiB, is eight times the 64 MiB upload limit (source trees compress about 4-8 times), so any honest upload fits, while a compression bomb (a 61 KB tar.gz of 61 MB of zeros, or far worse) stops at it. Each queued build keeps its extracted context on disk until it runs, so the disk a user can take is about this times `build.maxQueuedPerUser`.",
    default: () => DEFAULT_CONTEXT_LIMITS.maxBytes,
    parse: integerIn(1024 * 1024, 64 * 1024 * 1024 * 1024),
  },
  {
    key: 'build.contextMaxFiles',
    description:
      'Most entries one build context may hold: files, directories and links of an uploaded archive, files (the Dockerfile included) of a JSON build. Beyond it the build is refused with 413 `CONTEXT_TOO_LARGE`. The default, 100000, holds a large monorepo with its dependencies while bounding the inodes and the link checking one upload costs.',
    default: () => DEFAULT_CONTEXT_LIMITS.maxFiles,
    parse: integerIn(1, 10_000_000),
  },
  {
    key: 'build.maxQueuedPerUser',
    description:
      'Builds one user may have queued or running at once; one more is refused with 429 `TOO_MANY_BUILDS` (POST /api/v1/builds in both forms, POST /build-image, repeat) until one ends or is canceled. Admins count like everyone else: a runaway script with an admin token fills the disk just the same (raise the limit instead). With authentication off every build counts as one requester. Counted from the build records, so it holds across registry nodes sharing PostgreSQL.',
    default: () => 10,
    parse: integerIn(1, 10_000),
  },
  {
    key: 'installer.trustedSha256',
    description:
      'BuildKit tarball checksums (64 hex digits each), besides the pinned v0.16.0 release ones, that an install asked for through the API may use (`sha256` with `source: tarball`, or a release from a mirror); any other is refused with 403 `UNTRUSTED_SHA256`, through the privileged helper and in a server running as root alike. Set it in the root-owned /etc/opencloud/config.yaml: the helper reads only that file, and ignores this key while anyone but root could change the file or a directory above it. `opencloud services enable --sha256 …` run by root itself needs no entry here.',
    default: () => [],
    parse: sha256List,
  },
  {
    key: 'gc.deleteUntagged',
    description: 'Scheduled runs also delete manifests no tag reaches (older than the grace period).',
    default: () => false,
    parse: boolean,
  },
  {
    key: 'webhooks.concurrency',
    description: 'Webhook deliveries this server sends at once; more wait in the database queue.',
    default: () => 4,
    parse: integerIn(1, 64),
  },
  {
    key: 'webhooks.timeout',
    description:
      'Seconds one delivery attempt may take (connecting, the answer and its first KiB) before it counts as failed.',
    default: () => 10,
    parse: integerIn(1, 300),
  },
  {
    key: 'webhooks.maxAttempts',
    description: 'Attempts per delivery, the first included, before it is marked failed.',
    default: () => 6,
    parse: integerIn(1, 20),
  },
  {
    key: 'webhooks.retryBaseMs',
    description:
      'Milliseconds before the first retry of a failed delivery; each further retry waits twice as long (1 s, 2 s, 4 s … by default), at most an hour.',
    default: () => 1000,
    parse: integerIn(1, 3_600_000),
  },
  {
    key: 'webhooks.source',
    description:
      "The CloudEvents `source` of every event: this server's URL as receivers know it (behind a reverse proxy, the public one). Unset: the address the server listens on.",
    default: () => undefined,
    parse: httpUrl,
  },
  {
    key: 'webhooks.allowedHosts',
    description:
      "Webhook receivers on internal addresses, opened on purpose (empty: none). A webhook URL whose host is or resolves to a loopback, link-local (169.254.169.254 included), private (10/8, 172.16/12, 192.168/16, fc00::/7), shared (100.64/10), unspecified, multicast, broadcast or reserved address, in any spelling (IPv4-mapped IPv6 included), is refused when it is saved and again at every delivery. An entry is a host name (matches the URL's host exactly, case-insensitive; whatever it resolves to is then allowed), an address, or a CIDR (matches the resolved address): `[hooks.internal, 10.0.5.0/24, fd00:1::/64]` in the file, comma-separated in the environment variable.",

    default: () => [],
    parse: allowedHostList,
  },
];

/** `buildkit.socket` -> `OPENCLOUD_BUILDKIT_SOCKET`, `dataDir` -> `OPENCLOUD_DATA_DIR`. */
export function envName(key: string): string {
  return (
    'OPENCLOUD_' +
    key
      .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
      .replace(/\./g, '_')
      .toUpperCase()
  );
}
