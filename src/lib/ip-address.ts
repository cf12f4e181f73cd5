// IP addresses as bytes, CIDR ranges, and the special-purpose ranges a request made on a user's
// behalf must not reach (loopback, link-local, private, unspecified, multicast …). Addresses are
// compared as bytes, never as text: the same address has many spellings (`::ffff:7f00:1` is
// 127.0.0.1), and an IPv4-mapped IPv6 address is judged as the IPv4 address it carries.
import { isIPv4, isIPv6 } from 'node:net';

/** An address: 4 bytes (IPv4) or 16 bytes (IPv6). */
export type IpBytes = Uint8Array;

function parseIPv4(text: string): IpBytes | undefined {
  // Node's check: dotted decimal, no leading zeros (`010.0.0.1` is not an address here).
  if (!isIPv4(text)) return undefined;
  return Uint8Array.from(text.split('.').map(Number));
}

function parseIPv6(text: string): IpBytes | undefined {
  const zone = text.indexOf('%');
  const bare = zone === -1 ? text : text.slice(0, zone);
  if (!isIPv6(bare)) return undefined;
  let hex = bare;
  let v4: IpBytes | undefined;
  const lastColon = hex.lastIndexOf(':');
  if (hex.slice(lastColon + 1).includes('.')) {
    v4 = parseIPv4(hex.slice(lastColon + 1));
    if (!v4) return undefined;
    hex = `${hex.slice(0, lastColon + 1)}0:0`;
  }
  const halves = hex.split('::');
  const groups = (part: string | undefined) => (part ? part.split(':') : []);
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  const all = [...head, ...Array<string>(fill).fill('0'), ...tail];
  if (all.length !== 8) return undefined;
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    const n = parseInt(g, 16);
    bytes[i * 2] = n >> 8;
    bytes[i * 2 + 1] = n & 0xff;
  });
  if (v4) bytes.set(v4, 12);
  return bytes;
}

/** The bytes of an IPv4 or IPv6 address (brackets and a zone id allowed); undefined: not one. */
export function parseIp(text: string): IpBytes | undefined {
  const t = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  return parseIPv4(t) ?? parseIPv6(t);
}

const V4_MAPPED_PREFIX = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);

/** `::ffff:a.b.c.d` as the IPv4 address it carries (the kernel connects to that); others as they are. */
export function unmapped(ip: IpBytes): IpBytes {
  if (ip.length === 16 && V4_MAPPED_PREFIX.every((b, i) => ip[i] === b)) return ip.slice(12);
  return ip;
}

export function formatIp(ip: IpBytes): string {
  if (ip.length === 4) return ip.join('.');
  // The URL parser writes the canonical (RFC 5952) form.
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2)
    groups.push((((ip[i] as number) << 8) | (ip[i + 1] as number)).toString(16));
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

export interface Cidr {
  /** The network address (host bits zero). */
  base: IpBytes;
  prefix: number;
  /** As written in the configuration. */
  text: string;
}

/** A CIDR (`10.0.0.0/8`, `fd00::/8`) or a single address (`127.0.0.1`: /32); a string is the problem. */
export function parseCidr(text: string): Cidr | string {
  const slash = text.indexOf('/');
  const addr = slash === -1 ? text : text.slice(0, slash);
  const base = parseIp(addr);
  if (!base || addr.includes('%')) return `"${text}" is not an IPv4 or IPv6 address or CIDR`;
  const max = base.length * 8;
  let prefix = max;
  if (slash !== -1) {
    const len = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(len) || Number(len) > max)
      return `"${text}": the prefix length of an IPv${base.length === 4 ? 4 : 6} range is 0 to ${max}`;
    prefix = Number(len);
  }
  const network = masked(base, prefix);
  if (!network.every((b, i) => b === base[i]))
    return `"${text}" has bits set after the first ${prefix}: the range is ${formatIp(network)}/${prefix}`;
  return { base, prefix, text };
}

function masked(ip: IpBytes, prefix: number): IpBytes {
  return ip.map((b, i) => {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    return b & ((0xff << (8 - bits)) & 0xff);
  });
}

export function inCidr(ip: IpBytes, cidr: Cidr): boolean {
  if (ip.length !== cidr.base.length) return false;
  return masked(ip, cidr.prefix).every((b, i) => b === cidr.base[i]);
}

/** Why an address is not a public one. */
export type AddressClass =
  | 'loopback'
  | 'link-local'
  | 'private'
  | 'unique-local'
  | 'site-local'
  | 'shared (carrier-grade NAT)'
  | 'unspecified'
  | 'multicast'
  | 'broadcast'
  | 'reserved';

const table = (rows: [string, AddressClass][]) =>
  rows.map(([text, cls]) => ({ cidr: parseCidr(text) as Cidr, cls }));

// First match wins (the broadcast address lies inside 240.0.0.0/4).
const V4 = table([
  ['0.0.0.0/8', 'unspecified'], // "this network": Linux connects 0.0.0.0 to the host itself
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'shared (carrier-grade NAT)'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'], // cloud metadata services live here (169.254.169.254)
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'reserved'],
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'reserved'],
  ['224.0.0.0/4', 'multicast'],
  ['255.255.255.255/32', 'broadcast'],
  ['240.0.0.0/4', 'reserved'],
]);

const V6 = table([
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['::/96', 'reserved'], // IPv4-compatible addresses (deprecated)
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'site-local'],
  ['fc00::/7', 'unique-local'],
  ['ff00::/8', 'multicast'],
]);

/** IPv6 ranges that carry an IPv4 address, and where: judged by that address. */
const EMBEDDING = [
  { cidr: parseCidr('64:ff9b::/96') as Cidr, at: 12, what: 'NAT64' },
  { cidr: parseCidr('2002::/16') as Cidr, at: 2, what: '6to4' },
];

export interface Classified {
  cls: AddressClass;
  /** The IPv4 address an IPv6 form carries, when that is what was judged. */
  carried?: { address: string; form: string };
}

/** The special-purpose class of an address; undefined: an ordinary (public) address. */
export function classify(ip: IpBytes): Classified | undefined {
  const v4 = unmapped(ip);
  if (v4.length === 4) {
    const hit = V4.find((r) => inCidr(v4, r.cidr));
    if (!hit) return undefined;
    return ip.length === 16
      ? { cls: hit.cls, carried: { address: formatIp(v4), form: 'IPv4-mapped' } }
      : { cls: hit.cls };
  }
  for (const e of EMBEDDING) {
    if (!inCidr(ip, e.cidr)) continue;
    const inner = ip.slice(e.at, e.at + 4);
    const hit = V4.find((r) => inCidr(inner, r.cidr));
    return hit ? { cls: hit.cls, carried: { address: formatIp(inner), form: e.what } } : undefined;
  }
  const hit = V6.find((r) => inCidr(ip, r.cidr));
  return hit ? { cls: hit.cls } : undefined;
}
