// Registry bearer tokens: compact JWTs signed with HMAC-SHA256 by a key only this server (and
// the nodes sharing its data dir) holds. Clients treat them as opaque; we verify signature,
// expiry and audience on every /v2/ request.
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface RegistryClaims {
  iss: string;
  sub: string;
  aud: string;
  iat: number;
  exp: number;
  /** Docker token access entries: what this token allows. */
  access: { type: string; name: string; actions: string[] }[];
  /** Issued for a scoped API token: nothing beyond `access` may be inferred from `sub`. */
  scoped?: boolean;
  /** The scoped API token's repository patterns: the catalog lists only what they cover. */
  patterns?: { pattern: string; actions: string[] }[];
  /** Issued for an API token: the token's id, checked on every use (revocation ends it at once). */
  tid?: string;
}

const b64 = (x: Buffer | string) => Buffer.from(x).toString('base64url');

export function signToken(claims: RegistryClaims, key: Buffer): string {
  const head = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64(JSON.stringify(claims));
  const sig = createHmac('sha256', key).update(`${head}.${body}`).digest();
  return `${head}.${body}.${b64(sig)}`;
}

/** The claims of a valid, unexpired token for `audience`; undefined otherwise. */
export function verifyToken(
  token: string,
  key: Buffer,
  audience: string,
  now = Date.now(),
): RegistryClaims | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const [head, body, sig] = parts as [string, string, string];
  const expected = createHmac('sha256', key).update(`${head}.${body}`).digest();
  const given = Buffer.from(sig, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  try {
    const header = JSON.parse(Buffer.from(head, 'base64url').toString('utf8')) as { alg?: string };
    if (header.alg !== 'HS256') return undefined;
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as RegistryClaims;
    if (claims.aud !== audience || typeof claims.exp !== 'number' || claims.exp * 1000 <= now)
      return undefined;
    return claims;
  } catch {
    return undefined;
  }
}
