// HTTP/1.1 requests written byte for byte on a socket: the request target goes out exactly as
// given (fetch would resolve `..`, drop `#…` and re-encode), which is what an attacker sends.
import { connect } from 'node:net';

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface RawRequest {
  method: string;
  target: string;
  headers?: Record<string, string>;
  body?: string;
}

/** Sends one request on a fresh connection and reads the answer until the server closes it. */
export function rawRequest(port: number, r: RawRequest, timeoutMs = 10_000): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const body = r.body === undefined ? undefined : Buffer.from(r.body);
    const lines = [`${r.method} ${r.target} HTTP/1.1`, `host: 127.0.0.1:${port}`, 'connection: close'];
    for (const [k, v] of Object.entries(r.headers ?? {})) lines.push(`${k}: ${v}`);
    if (body) lines.push(`content-length: ${body.length}`);
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer to ${r.method} ${r.target} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('connect', () => {
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (body) socket.write(body);
    });
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const head = split < 0 ? text : text.slice(0, split);
      const [statusLine, ...headerLines] = head.split('\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1]);
      if (!status)
        return reject(new Error(`no HTTP answer to ${r.method} ${r.target}: ${text.slice(0, 200)}`));
      const headers: Record<string, string> = {};
      for (const l of headerLines) {
        const colon = l.indexOf(':');
        if (colon > 0) headers[l.slice(0, colon).trim().toLowerCase()] = l.slice(colon + 1).trim();
      }
      let rest = split < 0 ? '' : text.slice(split + 4);
      if (/chunked/i.test(headers['transfer-encoding'] ?? '')) rest = unchunk(rest);
      resolve({ status, headers, body: Buffer.from(rest, 'latin1').toString('utf8') });
    });
  });
}

function unchunk(s: string): string {
  let out = '';
  for (let i = 0; i < s.length;) {
    const eol = s.indexOf('\r\n', i);
    if (eol < 0) break;
    const size = parseInt(s.slice(i, eol), 16);
    if (!size) break;
    out += s.slice(eol + 2, eol + 2 + size);
    i = eol + 2 + size + 2;
  }
  return out;
}
