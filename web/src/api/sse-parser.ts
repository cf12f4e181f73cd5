// A Server-Sent Events parser (the WHATWG "event stream interpretation"), fed text as it
// arrives: lines end in CRLF, LF or CR (a CR may end one chunk and its LF start the next),
// `data` lines join with "\n", comments (`: ping`) are skipped, `id` persists as the last
// event id, and an event is dispatched at a blank line only when it has data.
export interface SseEvent {
  /** `message` when the stream named none. */
  event: string;
  data: string;
  /** The last event id seen so far (what a reconnect sends as Last-Event-ID). */
  id: string;
}

export class SseParser {
  private buffer = '';
  private skipLf = false;
  private first = true;
  private data: string[] = [];
  private event = '';
  lastEventId = '';
  /** Reconnection delay the server asked for, in ms. */
  retry: number | undefined;

  /** Takes the next piece of text; returns the events it completed. */
  push(text: string): SseEvent[] {
    if (this.first && text.length > 0) {
      this.first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.skipLf && text.startsWith('\n')) text = text.slice(1);
    this.skipLf = false;
    this.buffer += text;
    const out: SseEvent[] = [];
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const c = this.buffer[i];
      if (c !== '\n' && c !== '\r') continue;
      const line = this.buffer.slice(start, i);
      if (c === '\r') {
        if (i + 1 === this.buffer.length) this.skipLf = true;
        else if (this.buffer[i + 1] === '\n') i++;
      }
      start = i + 1;
      const e = this.line(line);
      if (e) out.push(e);
    }
    this.buffer = this.buffer.slice(start);
    return out;
  }

  private line(line: string): SseEvent | undefined {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.lastEventId = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.retry = Number(value);
    return undefined;
  }

  private dispatch(): SseEvent | undefined {
    const e =
      this.data.length > 0
        ? { event: this.event || 'message', data: this.data.join('\n'), id: this.lastEventId }
        : undefined;
    this.data = [];
    this.event = '';
    return e;
  }
}
