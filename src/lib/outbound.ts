// Requests the server makes on a user's behalf (webhook deliveries; next, git URLs and upstream
// registries) must not reach the host's own services or its private networks: a URL naming
// 127.0.0.1, the cloud metadata address or a name that resolves to either would otherwise let a
// caller read what only the server can reach. This module resolves a URL's host once, refuses it
// when any of its addresses is internal (unless an allow list opens it on purpose), and sends the
// request to exactly the addresses it checked: no second DNS lookup, so an answer that changes
// between the check and the connection (DNS rebinding) changes nothing. Redirects are never
// followed (a 3xx is the answer).
import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { classify, inCidr, parseCidr, parseIp, unmapped, type Cidr } from './ip-address.js';

/** What opens internal addresses: exact host names and address ranges. */
export interface AllowList {
  /** Lower case, without a trailing dot. */
  hosts: ReadonlySet<string>;
  ranges: readonly Cidr[];
}

const HOST_NAME =
  /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

const canonicalHost = (name: string) => name.toLowerCase().replace(/\.$/, '');

/** An entry meant as an address or range (a host name has a letter and no "/" or ":"). */
const meantAsAddress = (entry: string) => /[/:]/.test(entry) || /^[\d.]+$/.test(entry);

/** What is wrong with one allow-list entry (a host name, an address or a CIDR); undefined: nothing. */
export function allowEntryProblem(entry: unknown): string | undefined {
  if (typeof entry !== 'string' || entry.trim() === '') return `${JSON.stringify(entry)} is not a string`;
  if (meantAsAddress(entry)) {
    const cidr = parseCidr(entry);
    return typeof cidr === 'string' ? cidr : undefined;
  }
  if (!HOST_NAME.test(canonicalHost(entry)))
    return `"${entry}" is not a host name (letters, digits, "-", "_" and dots; international names in their xn-- form)`;
  return undefined;
}

/** The allow list from validated entries (config validation reports bad ones first). */
export function parseAllowList(entries: readonly string[]): AllowList {
  const hosts = new Set<string>();
  const ranges: Cidr[] = [];
  for (const entry of entries) {
    const problem = allowEntryProblem(entry);
    if (problem) throw new Error(`allow list: ${problem}`);
    if (meantAsAddress(entry)) ranges.push(parseCidr(entry) as Cidr);
    else hosts.add(canonicalHost(entry));
  }
  return { hosts, ranges };
}

export type RefusalReason = 'scheme' | 'unresolved' | 'internal';

/** A URL this server will not send to; the message names the URL's origin, never its path. */
export class OutboundRefused extends Error {
  constructor(
    message: string,
    readonly reason: RefusalReason,
    /** The refused address and its class (reason `internal`). */
    readonly address?: string,
    readonly addressClass?: string,
  ) {
    super(message);
    this.name = 'OutboundRefused';
  }
}

/** A URL whose addresses were checked: requests go to these and nowhere else. */
export interface OutboundTarget {
  url: URL;
  /** The URL's host without IPv6 brackets. */
  hostname: string;
  addresses: LookupAddress[];
}

export type ResolveAll = (hostname: string) => Promise<LookupAddress[]>;

const systemResolver: ResolveAll = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

export interface OutboundPolicy {
  allow: AllowList;
  /** Appended to a refusal: how to open internal addresses (the config key). */
  hint: string;
  /** The resolver (default: the system's, as every other program on the host resolves). */
  resolve?: ResolveAll;
}

const article = (word: string) => (/^[aeiou]/.test(word) ? 'an' : 'a');

/** Resolves and checks a URL: http(s) only, and every address public or opened by the allow list. */
export async function checkOutbound(rawUrl: string | URL, policy: OutboundPolicy): Promise<OutboundTarget> {
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new OutboundRefused('not a URL', 'scheme');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new OutboundRefused(`only http:// and https:// URLs are sent to, not ${url.protocol}`, 'scheme');
  const origin = url.origin;
  // WHATWG parsing already turned 2130706433, 0x7f.1 and 0177.0.0.1 into 127.0.0.1.
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: LookupAddress[];
  if (isIP(hostname)) {
    addresses = [{ address: hostname, family: isIP(hostname) }];
  } else {
    try {
      addresses = await (policy.resolve ?? systemResolver)(hostname);
    } catch (err) {
      const code = (err as { code?: string }).code ?? (err as Error).message;
      throw new OutboundRefused(
        `${origin}: the host name ${hostname} does not resolve (${code})`,
        'unresolved',
      );
    }
    if (addresses.length === 0)
      throw new OutboundRefused(`${origin}: the host name ${hostname} has no addresses`, 'unresolved');
  }
  if (policy.allow.hosts.has(canonicalHost(hostname))) return { url, hostname, addresses };
  for (const { address } of addresses) {
    const ip = parseIp(address);
    if (!ip) throw new OutboundRefused(`${origin} resolves to ${address}, not an IP address`, 'unresolved');
    const c = classify(ip);
    if (!c) continue;
    const plain = unmapped(ip);
    if (policy.allow.ranges.some((r) => inCidr(plain, r) || inCidr(ip, r))) continue;
    const what = c.carried ? `${c.carried.form} ${c.cls} address (${c.carried.address})` : `${c.cls} address`;
    const also = addresses.length > 1 ? ` (one of ${addresses.map((a) => a.address).join(', ')})` : '';
    throw new OutboundRefused(
      `${origin} resolves to ${address}${also}, ${article(what)} ${what}; ${policy.hint}`,
      'internal',
      address,
      c.cls,
    );
  }
  return { url, hostname, addresses };
}

export interface OutboundRequest {
  method: string;
  headers: OutgoingHttpHeaders;
  body?: string | Buffer;
  signal?: AbortSignal;
  /** PEM CA certificates trusted for https instead of the system's (a private receiver's CA). */
  ca?: string | Buffer;
}

/**
 * Sends one request to a checked target and resolves to the answer (its body unread). The socket
 * connects to the checked addresses only; the Host header and TLS server name stay the URL's host.
 * No connection is reused across requests (a pooled socket would outlive the check).
 */
export function sendOutbound(target: OutboundTarget, req: OutboundRequest): Promise<IncomingMessage> {
  const { url, hostname, addresses } = target;
  const first = addresses[0] as LookupAddress;
  const lookup: LookupFunction = (_name, options, callback) => {
    if (options.all) callback(null, addresses);
    else callback(null, first.address, first.family);
  };
  const tls = url.protocol === 'https:';
  const send = tls ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const r = send({
      hostname,
      port: url.port === '' ? (tls ? 443 : 80) : Number(url.port),
      path: `${url.pathname}${url.search}`,
      method: req.method,
      headers: { ...req.headers, host: url.host },
      lookup,
      agent: false,
      ...(tls && !isIP(hostname) ? { servername: hostname } : {}),
      ...(tls && req.ca ? { ca: req.ca } : {}),
      ...(req.signal ? { signal: req.signal } : {}),
    });
    r.once('response', resolve);
    r.once('error', reject);
    r.end(req.body);
  });
}
