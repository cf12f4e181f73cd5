// Webhook signatures: HMAC-SHA256 with the webhook's secret over the exact bytes of the body,
// sent as `X-OpenCloud-Signature: sha256=<hex>`. A receiver recomputes it over the raw body it
// read (before any JSON parsing) and compares in constant time.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-opencloud-signature';
export const DELIVERY_HEADER = 'x-opencloud-delivery';
export const EVENT_HEADER = 'x-opencloud-event';
export const ATTEMPT_HEADER = 'x-opencloud-attempt';

/** `sha256=<hex>` of HMAC-SHA256(secret, body). */
export function sign(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Whether `header` is the signature of `body` under `secret` (constant-time comparison). */
export function verify(secret: string, body: string | Buffer, header: string | undefined): boolean {
  if (typeof header !== 'string') return false;
  const expected = Buffer.from(sign(secret, body));
  const given = Buffer.from(header.trim());
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** A fresh secret: 32 random bytes, base64url (43 characters). */
export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}
