// Counting failed sign-ins, so that guessing is slow. An attempt is reserved before its password
// is checked (scrypt takes tens of milliseconds): attempts under way count against the limit like
// failures, so a burst of parallel guesses gets no more tries than the same guesses one by one.
// Counters live in this process's memory (several nodes each count their own) and are bounded:
// past `maxTracked` keys the least recently failed one is forgotten, so spraying names or
// addresses cannot grow the table without limit.
import { formatIp, parseIp, unmapped } from '../lib/ip-address.js';

interface Counter {
  failures: number;
  /** Attempts reserved and not yet settled. */
  inFlight: number;
  /** When the last failure was counted; failures are forgotten `windowMs` after it. */
  last: number;
}

export class AttemptLimiter {
  private readonly counters = new Map<string, Counter>();

  constructor(
    /** Failures allowed within the window; the next attempt is refused until it passes. */
    readonly limit: number,
    readonly windowMs: number,
    readonly maxTracked = 10_000,
  ) {}

  private current(key: string, now: number): Counter | undefined {
    const c = this.counters.get(key);
    if (c && c.inFlight === 0 && now - c.last >= this.windowMs) {
      this.counters.delete(key);
      return undefined;
    }
    return c;
  }

  private failuresOf(c: Counter | undefined, now: number): number {
    return c && now - c.last < this.windowMs ? c.failures : 0;
  }

  /** Milliseconds until `key` may try again when its failures have reached the limit; 0: not locked. */
  lockedFor(key: string, now = Date.now()): number {
    const c = this.current(key, now);
    return this.failuresOf(c, now) >= this.limit ? (c as Counter).last + this.windowMs - now : 0;
  }

  /** Whether one more attempt would exceed the limit, counting the attempts under way. */
  full(key: string, now = Date.now()): boolean {
    const c = this.current(key, now);
    return this.failuresOf(c, now) + (c?.inFlight ?? 0) >= this.limit;
  }

  /** Counts an attempt as under way (check `full` first, in the same tick). */
  reserve(key: string, now = Date.now()): void {
    const c = this.current(key, now);
    if (c) {
      c.inFlight++;
      return;
    }
    this.makeRoom();
    this.counters.set(key, { failures: 0, inFlight: 1, last: now - this.windowMs });
  }

  /** Ends a reserved attempt; a failure is counted. True when this failure reached the limit. */
  settle(key: string, failed: boolean, now = Date.now()): boolean {
    const c = this.counters.get(key);
    if (!c) return false; // forgotten meanwhile (the table was full)
    c.inFlight = Math.max(0, c.inFlight - 1);
    if (!failed) return false;
    c.failures = this.failuresOf(c, now) + 1;
    c.last = now;
    // Re-inserted: the table's order is the order of last failures, oldest first.
    this.counters.delete(key);
    this.counters.set(key, c);
    return c.failures === this.limit;
  }

  /** Forgets the failures of `key` (a successful sign-in); attempts under way still count. */
  clear(key: string): void {
    const c = this.counters.get(key);
    if (!c) return;
    if (c.inFlight === 0) this.counters.delete(key);
    else c.failures = 0;
  }

  /** Keys tracked now (for tests). */
  get size(): number {
    return this.counters.size;
  }

  private makeRoom(): void {
    if (this.counters.size < this.maxTracked) return;
    for (const [key, c] of this.counters) {
      if (c.inFlight > 0) continue;
      this.counters.delete(key);
      if (this.counters.size < this.maxTracked) return;
    }
  }
}

/**
 * The network a client address stands for when counting failures: an IPv4 address itself
 * (IPv4-mapped IPv6 included), an IPv6 address's /64 (one host usually has the whole /64, and
 * would otherwise get a fresh allowance from each of its addresses).
 */
export function clientNetwork(address: string): string {
  const parsed = parseIp(address);
  if (!parsed) return address;
  const ip = unmapped(parsed);
  if (ip.length === 4) return formatIp(ip);
  const group = (i: number) => (((ip[i] as number) << 8) | (ip[i + 1] as number)).toString(16);
  return `${[0, 2, 4, 6].map(group).join(':')}::/64`;
}
