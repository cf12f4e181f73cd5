// HTTPS with real clients: `opencloud serve` with tls.cert/tls.key answers over TLS with a
// certificate from a throwaway CA (made with openssl), the registry's token realm is https and
// skopeo pushes through the token flow verifying the certificate; SIGHUP swaps in a renewed
// certificate for new connections while open ones carry on, a bad replacement is refused and
// logged, and a start with a bad pair exits 78. Behind a proxy, trustProxy makes the realm follow
// X-Forwarded-Proto/-Host.
import { execFile, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBaseImage } from '../support/base-image.js';
import { makeCa, makeServerCert, type ServerCert, type TestCa } from '../support/certs.js';
import { BIN, runCli, startServe, type ServeHandle } from '../support/cli.js';
import { missing, testEnv } from '../support/env.js';

const exec = promisify(execFile);

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** One request on a fresh connection, verifying the server against `ca`. */
function httpsFetch(
  url: string,
  ca: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { ca, agent: false, method: init.method ?? 'GET', headers: init.headers },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}

/** A verified TLS connection (the certificate must chain to `ca` and name 127.0.0.1). */
function tlsConnect(port: number, ca: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** GET /healthz over an open connection, keeping it open. */
function healthOver(socket: TLSSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (d: Buffer) => {
      text += d.toString();
      if (/\r\n\r\n[\s\S]*\}/.test(text)) {
        socket.off('data', onData);
        resolve(text.split('\r\n')[0] as string);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n');
  });
}

async function servedSerial(port: number, ca: string): Promise<{ serial: string; subject: string }> {
  const socket = await tlsConnect(port, ca);
  const cert = socket.getPeerX509Certificate();
  socket.destroy();
  if (!cert) throw new Error('no peer certificate');
  return { serial: cert.serialNumber, subject: cert.subject };
}

/** `opencloud users add NAME --admin --password-stdin` against a data dir. */
function addUser(dataDir: string, name: string, password: string): void {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OPENCLOUD_')) env[k] = v;
  const r = spawnSync(
    process.execPath,
    [BIN, 'users', 'add', name, '--admin', '--password-stdin', '--data-dir', dataDir],
    { input: `${password}\n`, env, encoding: 'utf8' },
  );
  expect(r.status, r.stderr).toBe(0);
}

/** Server log lines (pino JSON) from now on, and a way to wait for one. */
function watchLogs(server: ServeHandle) {
  let text = '';
  server.child.stdout?.on('data', (d: Buffer) => (text += d.toString()));
  return {
    mark: () => text.length,
    async waitFor(re: RegExp, from: number, timeoutMs = 10_000): Promise<Record<string, unknown>> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const line = text
          .slice(from)
          .split('\n')
          .find((l) => re.test(l));
        if (line) return JSON.parse(line) as Record<string, unknown>;
        if (Date.now() > deadline)
          throw new Error(`no log line matching ${re} within ${timeoutMs} ms:\n${text.slice(from)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    all: () => text,
  };
}

const realmOf = (a: Answer) => /realm="([^"]+)"/.exec(String(a.headers['www-authenticate']))?.[1];

describe('HTTPS (tls.cert, tls.key)', () => {
  let dir: string;
  let ca: TestCa;
  let one: ServerCert;
  let two: ServerCert;
  let three: ServerCert;
  let caPem: string;
  let served: { cert: string; key: string };
  let dataDir: string;
  let server: ServeHandle;
  let logs: ReturnType<typeof watchLogs>;
  let port: number;
  const password = 'correct horse battery staple';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'opencloud-tls-'));
    ca = makeCa(join(dir, 'ca'));
    caPem = readFileSync(ca.cert, 'utf8');
    one = makeServerCert(ca, join(dir, 'certs'), 'one', 0x1001);
    two = makeServerCert(ca, join(dir, 'certs'), 'two', 0x2002);
    three = makeServerCert(ca, join(dir, 'certs'), 'three', 0x3003);
    // The files the server is pointed at; tests replace their content, as a renewal would.
    mkdirSync(join(dir, 'served'));
    served = { cert: join(dir, 'served/tls.crt'), key: join(dir, 'served/tls.key') };
    copyFileSync(one.cert, served.cert);
    copyFileSync(one.key, served.key);
    dataDir = join(dir, 'data');
    addUser(dataDir, 'alice', password);
    server = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir], {
      env: { OPENCLOUD_TLS_CERT: served.cert, OPENCLOUD_TLS_KEY: served.key },
    });
    logs = watchLogs(server);
    port = Number(new URL(server.url).port);
  }, 60_000);

  afterAll(async () => {
    server?.child.kill('SIGTERM');
    await server?.exited;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('answers over HTTPS with the CA, and the registry challenge names an https realm', async () => {
    expect(server.url).toBe(`https://127.0.0.1:${port}`);
    const health = await httpsFetch(`${server.url}/healthz`, caPem);
    expect(health.status).toBe(200);
    const v2 = await httpsFetch(`${server.url}/v2/`, caPem);
    expect(v2.status).toBe(401);
    expect(v2.headers['www-authenticate']).toBe(
      `Bearer realm="https://127.0.0.1:${port}/auth/token",service="opencloud-registry"`,
    );
    // Without trustProxy, forwarded headers from a client change nothing.
    const forged = await httpsFetch(`${server.url}/v2/`, caPem, {
      headers: { 'x-forwarded-proto': 'http', 'x-forwarded-host': 'evil.example' },
    });
    expect(realmOf(forged)).toBe(`https://127.0.0.1:${port}/auth/token`);
    // The certificate really is verified: without the CA the handshake fails.
    await expect(httpsFetch(`${server.url}/healthz`, '')).rejects.toThrow(/certificate/i);
  });

  it('signs in to the UI with a Secure session cookie', async () => {
    const res = await httpsFetch(`${server.url}/api/v1/session`, caPem, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password }),
    });
    expect(res.status, res.text).toBe(200);
    const cookie = String(res.headers['set-cookie']);
    expect(cookie).toMatch(/^oc_session=[^;]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+; Secure$/);
  });

  const skopeoWhy = missing('skopeo');
  it.skipIf(skopeoWhy)(
    `skopeo pushes over verified TLS through the token flow${skopeoWhy ? ` [skipped: ${skopeoWhy}]` : ''}`,
    async () => {
      const base = ensureBaseImage(testEnv!.cacheDir);
      const certDir = join(dir, 'skopeo-certs');
      mkdirSync(certDir);
      copyFileSync(ca.cert, join(certDir, 'ca.crt'));
      const host = `127.0.0.1:${port}`;
      const from = logs.mark();
      await exec('skopeo', [
        'copy',
        '--preserve-digests',
        '--dest-cert-dir',
        certDir,
        '--dest-creds',
        `alice:${password}`,
        `oci:${base.layout}:${base.tag}`,
        `docker://${host}/tls/app:1`,
      ]);
      // skopeo got its bearer token from the https realm (a plain-http realm cannot reach a TLS port).
      await logs.waitFor(/"url":"\/auth\/token\?/, from);
      const seen = JSON.parse(
        (
          await exec('skopeo', [
            'inspect',
            '--cert-dir',
            certDir,
            '--creds',
            `alice:${password}`,
            `docker://${host}/tls/app:1`,
          ])
        ).stdout,
      ) as { Digest: string };
      expect(seen.Digest).toBe(base.digest);
      // Without the CA, skopeo refuses the certificate.
      const empty = join(dir, 'no-certs');
      mkdirSync(empty);
      await expect(
        exec('skopeo', [
          'inspect',
          '--cert-dir',
          empty,
          '--creds',
          `alice:${password}`,
          `docker://${host}/tls/app:1`,
        ]),
      ).rejects.toThrow(/certificate signed by unknown authority|x509/);
    },
    120_000,
  );

  it('SIGHUP swaps in a renewed certificate for new connections; open ones carry on', async () => {
    expect((await servedSerial(port, caPem)).serial).toBe(one.serial);
    const open = await tlsConnect(port, caPem);
    expect(await healthOver(open)).toBe('HTTP/1.1 200 OK');

    copyFileSync(two.key, served.key);
    copyFileSync(two.cert, served.cert);
    const from = logs.mark();
    server.child.kill('SIGHUP');
    const line = await logs.waitFor(/TLS certificate reloaded/, from);
    const tls = line.tls as { subject: string; serial: string; notAfter: string };
    expect(tls.subject).toBe(`O=OpenCloud tests, CN=${two.commonName}`);
    expect(tls.serial).toBe(two.serial);
    expect(Date.parse(tls.notAfter)).toBeGreaterThan(Date.now());
    expect(line.msg).toContain(`CN=${two.commonName}, valid until ${tls.notAfter}`);

    const now = await servedSerial(port, caPem);
    expect(now.serial).toBe(two.serial);
    expect(now.subject).toContain(`CN=${two.commonName}`);
    // The connection opened before the reload still works, with the certificate it started with.
    expect(await healthOver(open)).toBe('HTTP/1.1 200 OK');
    expect(open.getPeerX509Certificate()?.serialNumber).toBe(one.serial);
    open.destroy();
    expect(server.child.exitCode).toBeNull();
    expect((await httpsFetch(`${server.url}/readyz`, caPem)).status).toBe(200);
  });

  it('a bad replacement is logged and the certificate in use stays', async () => {
    // A new certificate whose key was not replaced with it.
    copyFileSync(three.cert, served.cert);
    let from = logs.mark();
    server.child.kill('SIGHUP');
    let line = await logs.waitFor(/TLS reload failed/, from);
    expect(line.level).toBe(50); // pino's "error"
    expect(line.msg).toContain(
      `tls.key ${served.key} does not match the certificate in tls.cert ${served.cert}`,
    );
    expect(line.msg).toContain(
      `still serving the previous certificate (O=OpenCloud tests, CN=${two.commonName}`,
    );
    expect((await servedSerial(port, caPem)).serial).toBe(two.serial);

    // The key file gone.
    unlinkSync(served.key);
    from = logs.mark();
    server.child.kill('SIGHUP');
    line = await logs.waitFor(/TLS reload failed/, from);
    expect(line.msg).toContain(`tls.key ${served.key} cannot be read: ENOENT`);
    expect((await servedSerial(port, caPem)).serial).toBe(two.serial);
    expect((await httpsFetch(`${server.url}/healthz`, caPem)).status).toBe(200);
    expect(server.child.exitCode).toBeNull();
  });

  it('refuses to start (exit 78) with a key that does not match the certificate, or half a pair', async () => {
    const data = join(dir, 'data-bad');
    const serve = (env: Record<string, string>) =>
      runCli(['serve', '--listen', '127.0.0.1:0', '--data-dir', data], { env });
    const mismatch = await serve({ OPENCLOUD_TLS_CERT: one.cert, OPENCLOUD_TLS_KEY: two.key });
    expect(mismatch.code).toBe(78);
    expect(mismatch.stderr).toContain(
      `opencloud: cannot serve HTTPS: tls.key ${two.key} does not match the certificate in tls.cert ${one.cert}`,
    );
    const missingKey = await serve({
      OPENCLOUD_TLS_CERT: one.cert,
      OPENCLOUD_TLS_KEY: join(dir, 'nope.key'),
    });
    expect(missingKey.code).toBe(78);
    expect(missingKey.stderr).toContain(`tls.key ${join(dir, 'nope.key')} cannot be read: ENOENT`);
    const half = await serve({ OPENCLOUD_TLS_CERT: one.cert });
    expect(half.code).toBe(78);
    expect(half.stderr).toContain('tls.cert is set (from OPENCLOUD_TLS_CERT) but tls.key is not');
  });
});

describe('behind a reverse proxy (trustProxy)', () => {
  let dir: string;
  let server: ServeHandle;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'opencloud-proxy-'));
    addUser(join(dir, 'data'), 'alice', 'proxy-password');
    server = await startServe(['--listen', '127.0.0.1:0', '--data-dir', join(dir, 'data')], {
      env: { OPENCLOUD_TRUST_PROXY: 'true' },
    });
  }, 60_000);

  afterAll(async () => {
    server?.child.kill('SIGTERM');
    await server?.exited;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('takes the token realm and Secure cookies from X-Forwarded-Proto/-Host', async () => {
    const direct = await fetch(`${server.url}/v2/`);
    expect(direct.headers.get('www-authenticate')).toContain(`realm="${server.url}/auth/token"`);
    const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'registry.example.com' };
    const proxied = await fetch(`${server.url}/v2/`, { headers: forwarded });
    expect(proxied.status).toBe(401);
    expect(proxied.headers.get('www-authenticate')).toBe(
      'Bearer realm="https://registry.example.com/auth/token",service="opencloud-registry"',
    );
    const signIn = await fetch(`${server.url}/api/v1/session`, {
      method: 'POST',
      headers: { ...forwarded, 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: 'proxy-password' }),
    });
    expect(signIn.status).toBe(200);
    expect(signIn.headers.get('set-cookie')).toMatch(/; Secure$/);
    const plain = await fetch(`${server.url}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: 'proxy-password' }),
    });
    expect(plain.headers.get('set-cookie')).not.toContain('Secure');
  });

  it('SIGHUP without TLS keeps the server running', async () => {
    const logs = watchLogs(server);
    server.child.kill('SIGHUP');
    await logs.waitFor(/TLS is not configured .*nothing to reload/, 0);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect(server.child.exitCode).toBeNull();
  });
});
