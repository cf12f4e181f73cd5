// Downloads a release artifact into a file while hashing it, so the installer only installs bytes
// whose sha256 it has checked. Streams with bounded memory, follows redirects (GitHub release URLs
// redirect to a CDN), reports throttled progress, and never leaves a partial file behind: `dest` is
// removed on any failure, and fsynced before success is reported.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StepError } from '../types.js';

export interface DownloadOptions {
  url: string;
  dest: string;
  expectedSha256?: string;
  onProgress?: (done: number, total: number) => void;
  /** idle/connect timeout, default 30000 */
  timeoutMs?: number;
}

const MAX_REDIRECTS = 5;
const PROGRESS_EVERY_MS = 100;

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export async function downloadVerified(opts: DownloadOptions): Promise<{ sha256: string; bytes: number }> {
  await rm(opts.dest, { force: true });
  // Opened before the request, so the body is read as soon as the headers are in: bytes left
  // unread while other I/O runs are dropped if the connection then breaks, and go uncounted.
  const fh = await open(opts.dest, 'wx', 0o600);
  try {
    return await downloadInto(fh, opts);
  } catch (err) {
    await rm(opts.dest, { force: true });
    throw err;
  } finally {
    await fh.close();
  }
}

/**
 * Downloads into an open, empty file (a private one: what is then extracted through the same
 * descriptor is exactly what was hashed here) and checks the sha256.
 */
export async function downloadInto(
  fh: FileHandle,
  opts: Omit<DownloadOptions, 'dest'> & { dest?: string },
): Promise<{ sha256: string; bytes: number }> {
  const full = { ...opts, dest: opts.dest ?? 'a private file' };
  const result = await save(await request(opts.url, opts.timeoutMs ?? 30_000), fh, full);
  const expected = opts.expectedSha256?.toLowerCase();
  if (expected !== undefined && expected !== result.sha256) {
    throw new StepError(
      `checksum mismatch for ${opts.url}: expected sha256 ${expected}, got ${result.sha256}`,
    );
  }
  return result;
}

function code(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ?? e.message;
}

/** One GET; resolves once the headers are in. The idle timeout also covers the body. */
function get(url: URL, timeoutMs: number): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    let response: IncomingMessage | undefined;
    const client = url.protocol === 'https:' ? https : http;
    const req = client.get(url, { agent: false }, (res) => resolve((response = res)));
    req.setTimeout(timeoutMs, () => {
      const err = Object.assign(new Error(`idle for ${timeoutMs} ms`), { code: 'timeout' });
      if (response) response.destroy(err);
      else req.destroy(err);
    });
    req.on('error', reject);
  });
}

/** GETs url, following up to MAX_REDIRECTS redirects, and returns a 2xx response. */
async function request(url: string, timeoutMs: number): Promise<IncomingMessage> {
  let current: URL;
  try {
    current = new URL(url);
  } catch {
    throw new StepError(`cannot download ${url}: not a valid URL`);
  }
  for (let hop = 0; ; hop++) {
    const where = hop === 0 ? url : `${url} (redirected to ${current.origin})`;
    if (current.protocol !== 'http:' && current.protocol !== 'https:') {
      throw new StepError(`cannot download ${where}: only http: and https: are supported`);
    }
    const res = await get(current, timeoutMs).catch((err: unknown) => {
      throw new StepError(`cannot reach ${where}: ${code(err)}`);
    });
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (status >= 300 && status < 400 && location) {
      res.destroy();
      if (hop === MAX_REDIRECTS) throw new StepError(`${url} redirected more than ${MAX_REDIRECTS} times`);
      current = new URL(location, current);
      continue;
    }
    if (status < 200 || status > 299) {
      res.destroy();
      throw new StepError(`${where} answered HTTP ${status}`);
    }
    return res;
  }
}

async function writeAll(fh: FileHandle, buf: Buffer): Promise<void> {
  for (let off = 0; off < buf.length;) off += (await fh.write(buf, off)).bytesWritten;
}

/** Streams the body into fh, hashing and reporting progress on the way. */
async function save(
  res: IncomingMessage,
  fh: FileHandle,
  opts: DownloadOptions,
): Promise<{ sha256: string; bytes: number }> {
  const total = Number(res.headers['content-length']) || 0;
  const hash = createHash('sha256');
  let bytes = 0; // counted on arrival, so a cut-short body reports every byte that came
  let reported = 0;
  const cutShort = (why?: string) =>
    new StepError(
      `download of ${opts.url} was cut short: ${total ? `${bytes} of ${total}` : bytes} bytes` +
        (why ? ` (${why})` : ''),
    );
  res.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    if (opts.onProgress && Date.now() - reported >= PROGRESS_EVERY_MS) {
      reported = Date.now();
      opts.onProgress(bytes, total);
    }
  });
  const file = new Writable({
    write(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      writeAll(fh, chunk).then(
        () => done(),
        (err: unknown) => done(new StepError(`cannot write ${opts.dest}: ${code(err)}`)),
      );
    },
  });
  await pipeline(res, file).catch((err: unknown) => {
    throw err instanceof StepError ? err : cutShort(code(err));
  });
  if (bytes < total) throw cutShort();
  await fh.sync();
  opts.onProgress?.(bytes, total);
  return { sha256: hash.digest('hex'), bytes };
}

/** Read-only reachability check: the URL answers 2xx (after redirects); the body is not read. */
export async function probeUrl(url: string, timeoutMs = 10_000): Promise<void> {
  (await request(url, timeoutMs)).destroy();
}
