// A small Server-Sent Events client for tests: reads a stream to its end (or until `until`
// says stop) and returns each event with the time it arrived.
export interface ReceivedEvent {
  id?: string;
  event?: string;
  data: string;
  /** performance.now() when the event's blank line arrived. */
  at: number;
}

export async function readSse(
  url: string,
  opts: { headers?: Record<string, string>; until?: (e: ReceivedEvent) => boolean; timeoutMs?: number } = {},
): Promise<ReceivedEvent[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), opts.timeoutMs ?? 120_000);
  const events: ReceivedEvent[] = [];
  try {
    const res = await fetch(url, { headers: opts.headers ?? {}, signal: controller.signal });
    if (!res.ok || !res.body) throw new Error(`${url} answered ${res.status}: ${await res.text()}`);
    const decoder = new TextDecoder();
    let buf = '';
    let current: Partial<ReceivedEvent> & { data?: string } = {};
    for await (const chunk of res.body) {
      buf += decoder.decode(chunk as Uint8Array, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line === '') {
          if (current.data !== undefined) {
            const e = { ...current, data: current.data, at: performance.now() } as ReceivedEvent;
            events.push(e);
            if (opts.until?.(e)) return events;
          }
          current = {};
        } else if (line.startsWith(':')) {
          continue;
        } else {
          const colon = line.indexOf(':');
          const field = line.slice(0, colon);
          const value = line.slice(colon + 1).replace(/^ /, '');
          if (field === 'data')
            current.data = current.data === undefined ? value : `${current.data}\n${value}`;
          else if (field === 'id') current.id = value;
          else if (field === 'event') current.event = value;
        }
      }
    }
    return events;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}

/** A build's event stream has reached its end: the state event of a finished build. */
export const buildEnded = (e: ReceivedEvent): boolean =>
  e.event === 'state' && /"state":"(succeeded|failed|canceled)"/.test(e.data);
