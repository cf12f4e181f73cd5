// Server-Sent Events over a Fastify reply, for any feature that streams progress (install runs
// now, builds later). A stream takes the raw response over, keeps proxies from buffering it,
// sends a `: ping` comment every 15 s so idle connections stay open, and cleans up when the
// client goes away or the server shuts down.
import type { FastifyInstance, FastifyReply } from 'fastify';

export interface SseMessage {
  id?: number | string;
  event?: string;
  /** Strings are sent as they are (one `data:` line per line); anything else as JSON. */
  data: unknown;
}

export interface SseStream {
  send(message: SseMessage): void;
  /** Ends the response; idempotent. */
  close(): void;
  readonly closed: boolean;
  /** Runs once when the stream ends, whoever ended it. */
  onClose(fn: () => void): void;
}

export interface SseOptions {
  heartbeatMs?: number;
}

export const SSE_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
} as const;

export function formatSse({ id, event, data }: SseMessage): string {
  const text = typeof data === 'string' ? data : JSON.stringify(data);
  let out = '';
  if (id !== undefined) out += `id: ${id}\n`;
  if (event !== undefined) out += `event: ${event}\n`;
  for (const line of text.split(/\r\n|\r|\n/)) out += `data: ${line}\n`;
  return out + '\n';
}

/**
 * Returns a function that turns a reply into an event stream. Streams still open when the
 * server begins to close are ended first, so they do not hold the shutdown up.
 */
export function sseOpener(app: FastifyInstance, opts: SseOptions = {}) {
  const heartbeatMs = opts.heartbeatMs ?? 15_000;
  const open = new Set<SseStream>();
  app.addHook('preClose', async () => {
    for (const s of open) s.close();
  });

  return (reply: FastifyReply): SseStream => {
    reply.hijack();
    const res = reply.raw;
    const started = Date.now();
    res.writeHead(200, SSE_HEADERS);
    res.flushHeaders();
    const listeners: (() => void)[] = [];
    let closed = false;
    const write = (chunk: string) => {
      if (!closed && !res.destroyed && !res.writableEnded) res.write(chunk);
    };
    const heartbeat = setInterval(() => write(': ping\n\n'), heartbeatMs);
    const finish = () => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      open.delete(stream);
      if (!res.writableEnded) res.end();
      // Hijacked replies skip Fastify's "request completed" line; this one stands in for it.
      reply.log.info({ durationMs: Date.now() - started }, 'event stream closed');
      for (const fn of listeners.splice(0)) fn();
    };
    res.once('close', finish);
    const stream: SseStream = {
      send: (message) => write(formatSse(message)),
      close: finish,
      get closed() {
        return closed;
      },
      onClose(fn) {
        if (closed) fn();
        else listeners.push(fn);
      },
    };
    open.add(stream);
    return stream;
  };
}
