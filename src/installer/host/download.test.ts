// Serves bytes from a local HTTP server and checks downloadVerified's result, progress reports,
// redirect handling, error messages, and that no partial file survives a failure.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadVerified, sha256File } from './download.js';

const body = randomBytes(3 * 1024 * 1024 + 13);
const bodySha = createHash('sha256').update(body).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let server: Server;
let base: string;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'opencloud-download-'));
  server = createServer((req, res) => {
    const route = req.url ?? '';
    if (route === '/file') {
      res.writeHead(200, { 'content-length': body.length }).end(body);
    } else if (route === '/slow') {
      // 10 chunks over ~500 ms: progress must be throttled, not reported per chunk
      res.writeHead(200, { 'content-length': body.length });
      void (async () => {
        const step = Math.ceil(body.length / 10);
        for (let off = 0; off < body.length; off += step) {
          res.write(body.subarray(off, off + step));
          await sleep(50);
        }
        res.end();
      })();
    } else if (route.startsWith('/hop/')) {
      const n = Number(route.slice(5));
      res.writeHead(302, { location: n > 1 ? `/hop/${n - 1}` : `${base}/file` }).end();
    } else if (route === '/loop') {
      res.writeHead(301, { location: '/loop' }).end();
    } else if (route === '/short') {
      res.writeHead(200, { 'content-length': 1000 });
      res.write(body.subarray(0, 100), () => res.socket?.destroy());
    } else if (route === '/stall') {
      res.writeHead(200, { 'content-length': 1000 }).write(body.subarray(0, 10));
    } else if (route === '/hang') {
      // never answers
    } else {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
const dest = () => join(dir, `dl-${++n}`);

describe('downloadVerified', () => {
  it('streams the body into dest with its sha256, mode 0600 and a final progress report', async () => {
    const to = dest();
    const progress: [number, number][] = [];
    const got = await downloadVerified({
      url: `${base}/file`,
      dest: to,
      expectedSha256: bodySha.toUpperCase(),
      onProgress: (done, total) => progress.push([done, total]),
    });
    expect(got).toEqual({ sha256: bodySha, bytes: body.length });
    expect(readFileSync(to).equals(body)).toBe(true);
    expect(statSync(to).mode & 0o777).toBe(0o600);
    expect(await sha256File(to)).toBe(bodySha);
    expect(progress.at(-1)).toEqual([body.length, body.length]);
    expect(progress.every(([, total]) => total === body.length)).toBe(true);
  });

  it('reports progress at most about ten times a second', async () => {
    const progress: number[] = [];
    const started = Date.now();
    await downloadVerified({ url: `${base}/slow`, dest: dest(), onProgress: (done) => progress.push(done) });
    const allowed = Math.ceil((Date.now() - started) / 100) + 2;
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.length).toBeLessThanOrEqual(allowed);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(progress.at(-1)).toBe(body.length);
  });

  it('follows redirects, relative and absolute, up to five', async () => {
    const got = await downloadVerified({ url: `${base}/hop/5`, dest: dest(), expectedSha256: bodySha });
    expect(got.bytes).toBe(body.length);
    const to = dest();
    await expect(downloadVerified({ url: `${base}/loop`, dest: to })).rejects.toThrow(
      `${base}/loop redirected more than 5 times`,
    );
    expect(existsSync(to)).toBe(false);
  });

  it('removes dest when the checksum does not match', async () => {
    const to = dest();
    const wrong = '0'.repeat(64);
    await expect(downloadVerified({ url: `${base}/file`, dest: to, expectedSha256: wrong })).rejects.toThrow(
      `checksum mismatch for ${base}/file: expected sha256 ${wrong}, got ${bodySha}`,
    );
    expect(existsSync(to)).toBe(false);
  });

  it('reports an HTTP error status', async () => {
    const to = dest();
    await expect(downloadVerified({ url: `${base}/nothing`, dest: to })).rejects.toThrow(
      `${base}/nothing answered HTTP 404`,
    );
    expect(existsSync(to)).toBe(false);
  });

  it('reports a refused connection', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/x`;
    await new Promise((resolve) => closed.close(resolve));
    await expect(downloadVerified({ url, dest: dest() })).rejects.toThrow(
      `cannot reach ${url}: ECONNREFUSED`,
    );
  });

  it('times out a server that never answers', async () => {
    await expect(downloadVerified({ url: `${base}/hang`, dest: dest(), timeoutMs: 200 })).rejects.toThrow(
      `cannot reach ${base}/hang: timeout`,
    );
  });

  it('reports a body shorter than its Content-Length and removes dest', async () => {
    const to = dest();
    await expect(downloadVerified({ url: `${base}/short`, dest: to })).rejects.toThrow(
      `download of ${base}/short was cut short: 100 of 1000 bytes`,
    );
    expect(existsSync(to)).toBe(false);
  });

  it('times out a body that stalls', async () => {
    const to = dest();
    await expect(downloadVerified({ url: `${base}/stall`, dest: to, timeoutMs: 200 })).rejects.toThrow(
      `download of ${base}/stall was cut short: 10 of 1000 bytes (timeout)`,
    );
    expect(existsSync(to)).toBe(false);
  });
});
