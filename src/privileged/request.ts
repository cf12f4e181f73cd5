// Parses and validates the privileged helper's one request (the format is in protocol.ts).
// Pure: no filesystem, no environment. Anything not exactly as allowed is refused with a
// one-line reason; checks that need the host (a tarball's ownership, the ledger's artifacts)
// are in guard.ts.
import { isIP } from 'node:net';
import type { InstallOptions, RawInstallOptions } from '../installer/options.js';
import { untrustedMessage, untrustedSha256 } from '../installer/request-policy.js';
import type { LedgerDocument } from '../ledger/document.js';
import { validateDocument } from '../ledger/validate.js';
import { MAX_REQUEST_BYTES, SERVICE_OPS, type HelperOp, type ServiceOp } from './protocol.js';

/** The service options a request may carry: the HTTP API's run options. */
export interface RequestOptions {
  source: 'release' | 'tarball' | 'go';
  tarball?: string;
  sha256?: string;
  mirror?: string;
  init: 'auto' | 'systemd' | 'direct';
  purge: boolean;
  readyTimeout: number;
  lockTimeout: number;
}

interface Common {
  runId: string;
  actor: string;
  address: string;
}

export interface ServiceRequest extends Common {
  op: ServiceOp;
  service: 'container-registry';
  options: RequestOptions;
}

export interface ApplyRequest extends Common {
  op: 'ledger.apply';
  document: LedgerDocument;
}

export type PrivilegedRequest = ServiceRequest | ApplyRequest;

export type ParsedRequest =
  | { ok: true; request: PrivilegedRequest }
  /** `actor` and `op` as far as they could be read, for the audit entry of the refusal. */
  | { ok: false; reason: string; actor: string; address: string | undefined; op: string | undefined };

export const SERVICES = ['container-registry'] as const;
export const OPTION_KEYS = [
  'source',
  'tarball',
  'sha256',
  'mirror',
  'init',
  'purge',
  'readyTimeout',
  'lockTimeout',
] as const;
/** Longest timeout accepted through the helper (seconds): a run must not hold the lock for days. */
export const MAX_TIMEOUT = 3600;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const HEX64 = /^[0-9a-fA-F]{64}$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

class Refused extends Error {}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** A value as a refusal shows it: short, one line. */
function shown(v: unknown): string {
  const text = v === undefined ? 'nothing' : (JSON.stringify(v) ?? String(v));
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function exactKeys(path: string, obj: Record<string, unknown>, required: string[], optional: string[] = []) {
  const known = [...required, ...optional];
  for (const k of Object.keys(obj)) {
    if (!known.includes(k)) throw new Refused(`${path}${k} is not a known key (known: ${known.join(', ')})`);
  }
  for (const k of required) if (!(k in obj)) throw new Refused(`${path}${k} is required`);
}

function text(path: string, v: unknown, max: number): string {
  if (typeof v !== 'string' || v === '')
    throw new Refused(`${path} must be a non-empty string, got ${shown(v)}`);
  if (v.length > max) throw new Refused(`${path} must be at most ${max} characters`);
  if (CONTROL.test(v)) throw new Refused(`${path} must not contain control characters`);
  return v;
}

function oneOf<T extends string>(path: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v))
    throw new Refused(`${path} must be one of ${allowed.join(', ')}, got ${shown(v)}`);
  return v as T;
}

function seconds(path: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > MAX_TIMEOUT)
    throw new Refused(
      `${path} must be a number of seconds above 0 and at most ${MAX_TIMEOUT}, got ${shown(v)}`,
    );
  return v;
}

/** An absolute path, passed on as one argv element or opened directly (never through a shell). */
function absolutePath(path: string, v: unknown): string {
  const p = text(path, v, 4096);
  if (!p.startsWith('/')) throw new Refused(`${path} must be an absolute path, got ${shown(p)}`);
  return p;
}

function sha256Hex(path: string, v: unknown): string {
  const s = text(path, v, 64);
  if (!HEX64.test(s)) throw new Refused(`${path} must be 64 hex digits, got ${shown(s)}`);
  return s.toLowerCase();
}

/** Where the helper reads the checksums root trusts, as its refusals name it. */
export const TRUSTED_IN = 'installer.trustedSha256 of /etc/opencloud/config.yaml';

/**
 * Why a request names a checksum that is neither pinned nor trusted by the root-owned config
 * (`installer.trustedSha256`), or undefined: any other would let the caller choose the binary
 * root runs as a daemon. The rule is the installer's request policy; `note` says why the trusted
 * list could not be used, when it could not.
 */
export function untrustedChecksum(
  req: PrivilegedRequest,
  trusted: readonly string[],
  note?: string,
): string | undefined {
  const given =
    req.op === 'ledger.apply'
      ? req.document.services.map((s) => s.options?.sha256).filter((x): x is string => typeof x === 'string')
      : req.options.sha256 !== undefined
        ? [req.options.sha256]
        : [];
  const bad = untrustedSha256(given, trusted);
  if (bad === undefined) return undefined;
  return untrustedMessage(bad, TRUSTED_IN) + (note ? ` (${note})` : '');
}

function mirrorUrl(path: string, v: unknown): string {
  const s = text(path, v, 2048);
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    throw new Refused(`${path} must be an http:// or https:// URL, got ${shown(s)}`);
  }
  if (!/^https?:\/\/[^/]/.test(s) || (url.protocol !== 'http:' && url.protocol !== 'https:'))
    throw new Refused(`${path} must be an http:// or https:// URL, got ${shown(s)}`);
  return s;
}

/** The run options: the HTTP API's, with its defaults, narrowed as protocol.ts says. */
export function parseOptions(v: unknown, path = 'options.'): RequestOptions {
  if (!isObject(v)) throw new Refused(`${path.slice(0, -1)} must be an object, got ${shown(v)}`);
  exactKeys(path, v, [], [...OPTION_KEYS]);
  const o: RequestOptions = {
    source:
      v.source === undefined ? 'release' : oneOf(`${path}source`, v.source, ['release', 'tarball', 'go']),
    init: v.init === undefined ? 'auto' : oneOf(`${path}init`, v.init, ['auto', 'systemd', 'direct']),
    purge: false,
    readyTimeout: v.readyTimeout === undefined ? 60 : seconds(`${path}readyTimeout`, v.readyTimeout),
    lockTimeout: v.lockTimeout === undefined ? 120 : seconds(`${path}lockTimeout`, v.lockTimeout),
  };
  if (v.purge !== undefined) {
    if (typeof v.purge !== 'boolean')
      throw new Refused(`${path}purge must be true or false, got ${shown(v.purge)}`);
    o.purge = v.purge;
  }
  if (v.tarball !== undefined) o.tarball = absolutePath(`${path}tarball`, v.tarball);
  if (v.sha256 !== undefined) o.sha256 = sha256Hex(`${path}sha256`, v.sha256);
  if (v.mirror !== undefined) o.mirror = mirrorUrl(`${path}mirror`, v.mirror);
  if (o.source === 'tarball' && o.tarball === undefined)
    throw new Refused(`${path}tarball is required when source is tarball`);
  return o;
}

/** A ledger document, valid as `opencloud ledger apply` wants it, narrowed as run options are. */
function parseDocument(v: unknown): LedgerDocument {
  let doc: LedgerDocument;
  try {
    doc = validateDocument(v, 'document');
  } catch (err) {
    throw new Refused((err as Error).message);
  }
  doc.services.forEach((s, i) => {
    if (!s.options) return;
    const path = `document.services[${i}].options.`;
    if (s.options.tarball !== undefined) absolutePath(`${path}tarball`, s.options.tarball);
    if (s.options.sha256 !== undefined) sha256Hex(`${path}sha256`, s.options.sha256);
    if (s.options.mirror !== undefined) mirrorUrl(`${path}mirror`, s.options.mirror);
    if (s.options.readyTimeout !== undefined) seconds(`${path}readyTimeout`, s.options.readyTimeout);
    if (s.options.lockTimeout !== undefined) seconds(`${path}lockTimeout`, s.options.lockTimeout);
  });
  return doc;
}

/** Who asked, as the audit trail records it (a refusal keeps what it could read). */
function actorOf(v: Record<string, unknown>): string {
  if (typeof v.actor !== 'string' || v.actor === '') return 'unknown';
  // eslint-disable-next-line no-control-regex
  return v.actor.replace(/[\u0000-\u001f\u007f]/g, '?').slice(0, 128);
}

export function parseRequest(input: string): ParsedRequest {
  let value: unknown;
  let op: string | undefined;
  let actor = 'unknown';
  let address: string | undefined;
  try {
    if (Buffer.byteLength(input) > MAX_REQUEST_BYTES)
      throw new Refused(`the request is larger than ${MAX_REQUEST_BYTES} bytes`);
    if (input.trim() === '') throw new Refused('no request on stdin (expected one JSON object)');
    try {
      value = JSON.parse(input);
    } catch (err) {
      throw new Refused(`the request is not JSON: ${(err as Error).message}`);
    }
    if (!isObject(value)) throw new Refused(`the request must be a JSON object, got ${shown(value)}`);
    actor = actorOf(value);
    if (typeof value.address === 'string' && isIP(value.address)) address = value.address;
    if (typeof value.op === 'string') op = value.op.slice(0, 64);
    const kind = oneOf('op', value.op, [...SERVICE_OPS, 'ledger.apply'] as HelperOp[]);
    const common: Common = {
      runId: '',
      actor: text('actor', value.actor, 128),
      address: text('address', value.address, 64),
    };
    if (!isIP(common.address))
      throw new Refused(`address must be an IP address, got ${shown(common.address)}`);
    if (typeof value.runId !== 'string' || !UUID.test(value.runId))
      throw new Refused(`runId must be a lowercase UUID, got ${shown(value.runId)}`);
    common.runId = value.runId;
    if (kind === 'ledger.apply') {
      exactKeys('', value, ['op', 'document', 'runId', 'actor', 'address']);
      return { ok: true, request: { op: kind, ...common, document: parseDocument(value.document) } };
    }
    exactKeys('', value, ['op', 'service', 'runId', 'actor', 'address', 'options']);
    const service = oneOf('service', value.service, SERVICES);
    return { ok: true, request: { op: kind, service, ...common, options: parseOptions(value.options) } };
  } catch (err) {
    if (!(err instanceof Refused)) throw err;
    return { ok: false, reason: err.message, actor, address, op };
  }
}

/** A request's options as the installer's resolver takes them (`auto` init is resolved there). */
export function rawOptions(o: RequestOptions): RawInstallOptions {
  return {
    source: o.source,
    tarball: o.tarball,
    sha256: o.sha256,
    mirror: o.mirror,
    init: o.init,
    readyTimeout: o.readyTimeout,
    lockTimeout: o.lockTimeout,
  };
}

/** The server's resolved options, as a request carries them. */
export function requestOptions(o: InstallOptions & { purge?: boolean }): RequestOptions {
  const out: RequestOptions = {
    source: o.source,
    init: o.init,
    purge: o.purge ?? false,
    readyTimeout: o.readyTimeout,
    lockTimeout: o.lockTimeout,
  };
  if (o.tarball !== undefined) out.tarball = o.tarball;
  if (o.sha256 !== undefined) out.sha256 = o.sha256;
  if (o.mirror !== undefined) out.mirror = o.mirror;
  return out;
}
