// Follows a Server-Sent Events endpoint with fetch() and a stream reader instead of
// EventSource: the same request() as every other call (the session cookie, a 401 bringing the
// sign-in form back, error answers as ApiError). A dropped connection is resumed with
// Last-Event-ID until the caller says the stream is complete; 204 means there is nothing (more)
// to send.
import { request } from './client';
import { SseParser, type SseEvent } from './sse-parser';

export interface FollowOptions {
  onEvent(e: SseEvent): void;
  /** True once the stream has delivered what the caller waits for (a final state, a recap). */
  complete?(): boolean;
  signal?: AbortSignal;
  /** Reconnects in a row without a new event before giving up. */
  maxRetries?: number;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

/** Reads one connection to its end: how many events arrived, -1 for "204, nothing more". */
async function readOnce(url: string, parser: SseParser, opts: FollowOptions): Promise<number> {
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (parser.lastEventId) headers['last-event-id'] = parser.lastEventId;
  const res = await request(url, { headers, signal: opts.signal, cache: 'no-store' });
  if (res.status === 204 || !res.body) return -1;
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let got = 0;
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) return got;
      for (const e of parser.push(value)) {
        got++;
        opts.onEvent(e);
      }
    }
  } finally {
    reader.releaseLock();
  }
}

/** Follows `url` until the server ends the stream with `complete()` true, or `signal` aborts. */
export async function followEvents(url: string, opts: FollowOptions): Promise<void> {
  const parser = new SseParser();
  const maxRetries = opts.maxRetries ?? 5;
  let retries = 0;
  while (!opts.signal?.aborted) {
    let got = 0;
    try {
      got = await readOnce(url, parser, opts);
    } catch (err) {
      if (opts.signal?.aborted) return;
      // A server that answered with an error (404, 403…) would answer the same again.
      if ((err as { status?: number }).status !== undefined) throw err;
    }
    if (got < 0 || !opts.complete || opts.complete()) return;
    retries = got > 0 ? 0 : retries + 1;
    if (retries > maxRetries) throw new Error(`the event stream ${url} keeps ending early`);
    await sleep(parser.retry ?? 1000, opts.signal);
  }
}
