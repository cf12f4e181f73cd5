// Accept lanes on real servers: they open once the server holds enough connections, the
// connections they accept are served by the server as its own (plain HTTP and TLS), and closing
// them frees the port.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { makeCa, makeServerCert } from '../../test/support/certs.js';
import { AcceptLanes } from './accept-lanes.js';

const logger = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'opencloud-lanes-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const answer: http.RequestListener = (req, res) => {
  res.setHeader('x-remote-port', String(req.socket.remotePort));
  res.end(`hello ${req.url}`);
};

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

/** Opens connections that stay open (nothing sent) until `release` is called. */
async function holdConnections(port: number, n: number): Promise<{ release(): void }> {
  const sockets = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(port, '127.0.0.1', () => resolve(s));
          s.once('error', reject);
        }),
    ),
  );
  return { release: () => sockets.forEach((s) => s.destroy()) };
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** `n` requests, each on a new connection, all at once. */
async function requests(get: (path: string) => Promise<string>, n: number): Promise<string[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => get(`/r${i}`)));
}

/** GET on a new connection each time, plain or TLS, resolving to the body. */
function getter(port: number, tls?: https.RequestOptions) {
  return (path: string) =>
    new Promise<string>((resolve, reject) => {
      const options = { host: '127.0.0.1', port, path, agent: false, ...tls };
      (tls ? https : http)
        .get(options, (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve(body));
        })
        .once('error', reject);
    });
}

describe('AcceptLanes', () => {
  it('opens once the server holds `openAt` connections, and its connections are served', async () => {
    const server = http.createServer(answer);
    const port = await listen(server);
    const lanes = new AcceptLanes(server, { count: 4, openAt: 3 }, logger);
    try {
      expect(lanes.watchers).toBe(1);
      const held = await holdConnections(port, 2);
      // Two connections are below the mark: the helper is not started.
      await new Promise((r) => setTimeout(r, 300));
      expect(lanes.watchers).toBe(1);
      const more = await holdConnections(port, 1);
      await until(() => lanes.watchers === 4, 'the lanes to open');
      held.release();
      more.release();

      const bodies = await requests(getter(port), 200);
      expect(bodies).toEqual(Array.from({ length: 200 }, (_, i) => `hello /r${i}`));
      // Four watchers share the socket: the lanes took part of the 200.
      expect(lanes.handedOver).toBeGreaterThan(0);
    } finally {
      lanes.close();
      await new Promise((r) => server.close(r));
    }
  });

  it('hands TLS connections to an HTTPS server, which does the handshake', async () => {
    const ca = makeCa(join(dir, 'ca'));
    const cert = makeServerCert(ca, dir, 'lanes', 0x4242);
    const server = https.createServer({ cert: readFileSync(cert.cert), key: readFileSync(cert.key) }, answer);
    const port = await listen(server);
    const lanes = new AcceptLanes(server, { count: 3, openAt: 1 }, logger);
    const held = await holdConnections(port, 1);
    try {
      await until(() => lanes.watchers === 3, 'the lanes to open');
      held.release();
      const get = getter(port, { ca: readFileSync(ca.cert), servername: 'localhost' });
      const bodies = await requests(get, 60);
      expect(bodies).toEqual(Array.from({ length: 60 }, (_, i) => `hello /r${i}`));
      expect(lanes.handedOver).toBeGreaterThan(0);
    } finally {
      lanes.close();
      await new Promise((r) => server.close(r));
    }
  });

  it('loses no connection while the lanes open: every request during the opening is answered', async () => {
    const server = http.createServer(answer);
    const port = await listen(server);
    const lanes = new AcceptLanes(server, { count: 8, openAt: 1 }, logger);
    try {
      // New connections keep arriving from before the helper starts until after the lanes are open.
      const get = getter(port);
      const results: Promise<string>[] = [];
      const started = Date.now();
      while (lanes.watchers < 8 || results.length < 400) {
        results.push(...Array.from({ length: 20 }, (_, i) => get(`/w${results.length + i}`)));
        await new Promise((r) => setTimeout(r, 5));
        if (Date.now() - started > 10_000) throw new Error('the lanes did not open');
      }
      const bodies = await Promise.all(results);
      expect(bodies).toEqual(bodies.map((_, i) => `hello /w${i}`));
    } finally {
      lanes.close();
      await new Promise((r) => server.close(r));
    }
  });

  it('frees the port when closed: no lane keeps the socket listening', async () => {
    const server = http.createServer(answer);
    const port = await listen(server);
    const lanes = new AcceptLanes(server, { count: 5, openAt: 1 }, logger);
    const held = await holdConnections(port, 1);
    await until(() => lanes.watchers === 5, 'the lanes to open');
    held.release();
    lanes.close();
    await new Promise((r) => server.close(r));
    // A listening descriptor left open anywhere would make this bind fail with EADDRINUSE.
    const again = http.createServer(answer);
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.listen(port, '127.0.0.1', resolve);
    });
    await new Promise((r) => again.close(r));
  });

  it('does nothing with one watcher asked for', async () => {
    const server = http.createServer(answer);
    const port = await listen(server);
    const lanes = new AcceptLanes(server, { count: 1, openAt: 1 }, logger);
    const held = await holdConnections(port, 3);
    await new Promise((r) => setTimeout(r, 300));
    expect(lanes.watchers).toBe(1);
    held.release();
    lanes.close();
    await new Promise((r) => server.close(r));
  });
});
