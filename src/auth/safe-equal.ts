// Comparing secrets (CSRF tokens, anything a caller guesses at) in constant time. Both sides are
// hashed first, so the comparison always runs over 32 bytes: neither the position of the first
// differing character nor the length of the expected value shows in the time it takes.
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Whether `given` equals `expected`, in time independent of where (or whether) they differ.
 *  A missing or repeated header (undefined, an array) never equals anything. */
export function safeEqual(given: string | string[] | undefined, expected: string): boolean {
  if (typeof given !== 'string') return false;
  return timingSafeEqual(digest(given), digest(expected));
}
