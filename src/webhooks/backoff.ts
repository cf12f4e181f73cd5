// When a failed delivery is tried again: exponential backoff from a base delay (1 s, 2 s, 4 s …
// by default), capped, and no retry once the attempts are used up.

/** The longest wait between two attempts, whatever the base. */
export const MAX_RETRY_DELAY_MS = 3_600_000;

/**
 * Milliseconds to wait after attempt `attempt` (1-based) failed, or undefined when it was the
 * last one allowed.
 */
export function retryDelayMs(attempt: number, baseMs: number, maxAttempts: number): number | undefined {
  if (attempt >= maxAttempts) return undefined;
  return Math.min(baseMs * 2 ** (attempt - 1), MAX_RETRY_DELAY_MS);
}
