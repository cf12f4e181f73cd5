// The outbound guard against real sockets and the system resolver (localhost from /etc/hosts):
// every refused address class, the odd spellings the URL parser turns into 127.0.0.1, IPv4
// carried in IPv6, the allow list, and requests that go to the checked address (plain HTTP and
// TLS verified against the URL's host name), never following a redirect. A resolver is injected
// only to give names this host cannot resolve (a rebinding answer, a mixed answer).
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeCa, makeServerCert } from '../../test/support/certs.js';
import {
  allowEntryProblem,
  checkOutbound,
  OutboundRefused,
  parseAllowList,
  sendOutbound,
  type OutboundPolicy,
  type ResolveAll,
} from './outbound.js';

const HINT = 'test.allowedHosts opens internal receivers';
const policy = (allow: string[] = [], resolve?: ResolveAll): OutboundPolicy => ({
  allow: parseAllowList(allow),
  hint: HINT,
  ...(resolve ? { resolve } : {}),
});

/** The refusal for a URL (fails the test when the URL is accepted). */
async function refusal(url: string, p = policy()): Promise<OutboundRefused> {
  const err = await checkOutbound(url, p).then(
    (t) => new Error(`accepted ${url}: ${JSON.stringify(t.addresses)}`),
    (e: unknown) => e,
  );
  if (!(err instanceof OutboundRefused)) throw err;
  return err;
}

/** A resolver for names only this test knows; `answers` are used one per call, the last one kept. */
function resolver(answers: Record<string, string[][]>) {
  const calls: string[] = [];
  const resolve: ResolveAll = async (name) => {
    calls.push(name);
    const list = answers[name];
    if (!list) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
    const addrs = (list.length > 1 ? list.shift() : list[0]) as string[];
    return addrs.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return { resolve, calls };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return (server.address() as AddressInfo).port;
}

async function receiver(answer: (req: IncomingMessage, res: import('node:http').ServerResponse) => void) {
  const got: IncomingMessage[] = [];
  const server = createHttpServer((req, res) => {
    got.push(req);
    req.resume();
    req.on('end', () => answer(req, res));
  });
  return { port: await listen(server), got };
}

const text = async (res: IncomingMessage) => {
  let s = '';
  for await (const c of res) s += String(c);
  return s;
};

describe('checkOutbound refuses internal addresses', () => {
  it.each([
    ['http://127.0.0.1:8080/x', '127.0.0.1', 'loopback'],
    ['http://127.255.255.254/', '127.255.255.254', 'loopback'],
    ['http://[::1]:8080/', '::1', 'loopback'],
    ['http://169.254.169.254/latest/meta-data/', '169.254.169.254', 'link-local'],
    ['http://[fe80::1]/', 'fe80::1', 'link-local'],
    ['http://[febf:ffff::1]/', 'febf:ffff::1', 'link-local'],
    ['http://10.1.2.3/', '10.1.2.3', 'private'],
    ['http://172.16.0.1/', '172.16.0.1', 'private'],
    ['http://172.31.255.255/', '172.31.255.255', 'private'],
    ['http://192.168.1.1/', '192.168.1.1', 'private'],
    ['http://[fd12:3456::1]/', 'fd12:3456::1', 'unique-local'],
    ['http://[fc00::1]/', 'fc00::1', 'unique-local'],
    ['http://[fec0::1]/', 'fec0::1', 'site-local'],
    ['http://100.64.0.1/', '100.64.0.1', 'shared (carrier-grade NAT)'],
    ['http://100.127.255.255/', '100.127.255.255', 'shared (carrier-grade NAT)'],
    ['http://0.0.0.0/', '0.0.0.0', 'unspecified'],
    ['http://0.1.2.3/', '0.1.2.3', 'unspecified'],
    ['http://[::]/', '::', 'unspecified'],
    ['http://224.0.0.1/', '224.0.0.1', 'multicast'],
    ['http://239.255.255.250:1900/', '239.255.255.250', 'multicast'],
    ['http://[ff02::1]/', 'ff02::1', 'multicast'],
    ['http://255.255.255.255/', '255.255.255.255', 'broadcast'],
    ['http://240.0.0.1/', '240.0.0.1', 'reserved'],
    ['http://[::7f00:1]/', '::7f00:1', 'reserved'], // IPv4-compatible (deprecated)
  ])('%s: %s is %s', async (url, address, cls) => {
    const err = await refusal(url);
    expect(err).toMatchObject({ reason: 'internal', address, addressClass: cls });
    const origin = new URL(url).origin;
    const an = /^[aeiou]/.test(cls) ? 'an' : 'a';
    expect(err.message).toBe(`${origin} resolves to ${address}, ${an} ${cls} address; ${HINT}`);
  });

  it.each([
    // The URL parser turns these into 127.0.0.1 before anything else sees them.
    ['http://2130706433/', '127.0.0.1'],
    ['http://0x7f.1/', '127.0.0.1'],
    ['http://0x7f000001/', '127.0.0.1'],
    ['http://0177.0.0.1/', '127.0.0.1'],
    ['http://127.1/', '127.0.0.1'],
    ['http://%31%32%37.0.0.1/', '127.0.0.1'],
    ['http://0xa9.0xfe.0xa9.0xfe/', '169.254.169.254'],
  ])('an odd spelling %s is %s and refused', async (url, address) => {
    const err = await refusal(url);
    expect(err.address).toBe(address);
    expect(err.reason).toBe('internal');
  });

  it.each([
    ['http://[::ffff:127.0.0.1]/', '::ffff:7f00:1', 'loopback', 'IPv4-mapped loopback address (127.0.0.1)'],
    ['http://[::ffff:7f00:1]/', '::ffff:7f00:1', 'loopback', 'IPv4-mapped loopback address (127.0.0.1)'],
    ['http://[0:0:0:0:0:ffff:7f00:1]/', '::ffff:7f00:1', 'loopback', 'IPv4-mapped'],
    ['http://[::ffff:a9fe:a9fe]/', '::ffff:a9fe:a9fe', 'link-local', '(169.254.169.254)'],
    ['http://[::ffff:10.0.0.1]/', '::ffff:a00:1', 'private', 'IPv4-mapped private address (10.0.0.1)'],
    ['http://[::ffff:0.0.0.0]/', '::ffff:0:0', 'unspecified', 'IPv4-mapped unspecified address (0.0.0.0)'],
    ['http://[64:ff9b::7f00:1]/', '64:ff9b::7f00:1', 'loopback', 'NAT64 loopback address (127.0.0.1)'],
    ['http://[2002:a9fe:a9fe::]/', '2002:a9fe:a9fe::', 'link-local', '6to4 link-local address'],
  ])('IPv4 carried in IPv6: %s', async (url, address, cls, phrase) => {
    const err = await refusal(url);
    expect(err).toMatchObject({ address, addressClass: cls });
    expect(err.message).toContain(phrase);
  });

  it('refuses a host name that resolves to loopback (localhost, from /etc/hosts)', async () => {
    const err = await refusal('http://localhost:9/hook?token=secret');
    expect(err.reason).toBe('internal');
    expect(err.addressClass).toBe('loopback');
    expect(err.message).toMatch(/^http:\/\/localhost:9 resolves to (127\.0\.0\.1|::1)/);
    // The origin only: a path or query may carry a receiver's secret.
    expect(err.message).not.toContain('token');
    expect(err.message).not.toContain('/hook');
  });

  it('refuses a name when any one of its addresses is internal', async () => {
    const { resolve } = resolver({ 'mixed.test': [['93.184.216.34', '10.0.0.5']] });
    const err = await refusal('https://mixed.test/', policy([], resolve));
    expect(err.message).toBe(
      `https://mixed.test resolves to 10.0.0.5 (one of 93.184.216.34, 10.0.0.5), a private address; ${HINT}`,
    );
  });

  it('refuses names that do not resolve, and schemes other than http and https', async () => {
    const err = await refusal('http://nothing-here.invalid/');
    expect(err.reason).toBe('unresolved');
    expect(err.message).toMatch(
      /^http:\/\/nothing-here\.invalid: the host name nothing-here\.invalid does not resolve \(E[A-Z_]+\)$/,
    );
    for (const url of ['ftp://93.184.216.34/', 'file:///etc/passwd', 'gopher://127.0.0.1/'])
      expect((await refusal(url)).reason).toBe('scheme');
  });
});

describe('checkOutbound accepts public addresses', () => {
  it.each([
    'http://93.184.216.34/',
    'https://8.8.8.8:8443/x',
    'http://[2606:4700:4700::1111]/',
    'http://[::ffff:8.8.8.8]/',
    // Just outside the refused ranges.
    'http://172.32.0.1/',
    'http://100.128.0.1/',
    'http://169.253.255.255/',
    'http://11.0.0.1/',
    'http://192.169.0.1/',
    'http://223.255.255.255/',
    'http://[fbff::1]/',
    'http://[fe00::1]/',
  ])('%s', async (url) => {
    const t = await checkOutbound(url, policy());
    expect(t.addresses).toHaveLength(1);
  });

  it('a public name is accepted with every address it resolved to', async () => {
    const { resolve } = resolver({ 'hooks.example': [['93.184.216.34', '2606:2800:220:1::1']] });
    const t = await checkOutbound('https://HOOKS.example/x', policy([], resolve));
    expect(t.hostname).toBe('hooks.example');
    expect(t.addresses.map((a) => a.address)).toEqual(['93.184.216.34', '2606:2800:220:1::1']);
  });
});

describe('the allow list', () => {
  it('a CIDR opens the addresses inside it, in every spelling, and nothing else', async () => {
    const p = policy(['127.0.0.0/8', 'fd00::/8', '10.0.5.7']);
    for (const url of [
      'http://127.0.0.1:8080/',
      'http://127.9.9.9/',
      'http://2130706433/',
      'http://[::ffff:127.0.0.1]/',
      'http://[fd12::1]/',
      'http://10.0.5.7/',
    ])
      await expect(checkOutbound(url, p), url).resolves.toBeDefined();
    for (const [url, address] of [
      ['http://[::1]/', '::1'],
      ['http://[fc00::1]/', 'fc00::1'],
      ['http://10.0.5.8/', '10.0.5.8'],
      ['http://169.254.169.254/', '169.254.169.254'],
    ])
      expect((await refusal(url as string, p)).address).toBe(address);
  });

  it('a host name opens that exact host, whatever case or trailing dot, and no other', async () => {
    await expect(checkOutbound('http://LOCALHOST:9/', policy(['LocalHost']))).resolves.toBeDefined();
    const internal = resolver({ 'hooks.internal': [['10.0.0.9']], 'hooks.internal.': [['10.0.0.9']] });
    const p = policy(['Hooks.Internal'], internal.resolve);
    await expect(checkOutbound('http://HOOKS.internal/', p)).resolves.toBeDefined();
    await expect(checkOutbound('http://hooks.internal./', p)).resolves.toBeDefined();
    // The name is no CIDR: the address it resolves to stays refused under any other name.
    expect((await refusal('http://10.0.0.9/', p)).addressClass).toBe('private');
    expect((await refusal('http://127.0.0.1:9/', policy(['localhost']))).addressClass).toBe('loopback');
    const { resolve } = resolver({
      'evil.localhost': [['127.0.0.1']],
      'localhost.evil.test': [['127.0.0.1']],
    });
    for (const url of ['http://evil.localhost/', 'http://localhost.evil.test/'])
      expect((await refusal(url, policy(['localhost'], resolve))).reason).toBe('internal');
  });

  it.each([
    ['10.0.0.0/33', '"10.0.0.0/33": the prefix length of an IPv4 range is 0 to 32'],
    ['fd00::/129', '"fd00::/129": the prefix length of an IPv6 range is 0 to 128'],
    ['10.1.0.0/8', '"10.1.0.0/8" has bits set after the first 8: the range is 10.0.0.0/8'],
    ['fd00::1/8', '"fd00::1/8" has bits set after the first 8: the range is fd00::/8'],
    ['300.1.1.1', '"300.1.1.1" is not an IPv4 or IPv6 address or CIDR'],
    ['10.0.0/8', '"10.0.0/8" is not an IPv4 or IPv6 address or CIDR'],
    ['10.0.0.0/', '"10.0.0.0/": the prefix length of an IPv4 range is 0 to 32'],
    ['fe80::1%eth0', '"fe80::1%eth0" is not an IPv4 or IPv6 address or CIDR'],
    ['bad host!', '"bad host!" is not a host name'],
    ['', '"" is not a string'],
  ])('refuses the entry %j', (entry, problem) => {
    expect(allowEntryProblem(entry)).toContain(problem);
    expect(() => parseAllowList([entry])).toThrow(problem);
  });

  it.each([
    'hooks.internal',
    'receiver_1',
    '10.0.0.0/8',
    '127.0.0.1',
    '::1',
    'fd00::/8',
    '0.0.0.0/0',
    '::/0',
  ])('accepts the entry %j', (entry) => expect(allowEntryProblem(entry)).toBeUndefined());
});

describe('sendOutbound', () => {
  it('connects to the checked address with the URL host in Host, resolving once', async () => {
    const rx = await receiver((_req, res) => res.end('pong'));
    const { resolve, calls } = resolver({ 'receiver.test': [['127.0.0.1'], ['10.9.9.9']] });
    const target = await checkOutbound(
      `http://receiver.test:${rx.port}/hook?x=1`,
      policy(['receiver.test'], resolve),
    );
    const res = await sendOutbound(target, { method: 'POST', headers: { 'x-a': 'b' }, body: 'hi' });
    expect(res.statusCode).toBe(200);
    expect(await text(res)).toBe('pong');
    // This host cannot resolve receiver.test: the socket went where the check said.
    expect(calls).toEqual(['receiver.test']);
    expect(rx.got[0]!.headers.host).toBe(`receiver.test:${rx.port}`);
    expect(rx.got[0]!.url).toBe('/hook?x=1');
    expect(rx.got[0]!.method).toBe('POST');
  });

  it('a name that resolves to a public address, then to loopback, is refused at the next check', async () => {
    const { resolve } = resolver({ 'rebind.test': [['93.184.216.34'], ['127.0.0.1']] });
    const p = policy([], resolve);
    await expect(checkOutbound('http://rebind.test/', p)).resolves.toBeDefined();
    const err = await refusal('http://rebind.test/', p);
    expect(err).toMatchObject({ reason: 'internal', address: '127.0.0.1' });
  });

  it('does not follow redirects', async () => {
    const other = await receiver((_req, res) => res.end('secret inside'));
    const rx = await receiver((_req, res) => {
      res.writeHead(302, { location: `http://127.0.0.1:${other.port}/` });
      res.end();
    });
    const target = await checkOutbound(`http://127.0.0.1:${rx.port}/`, policy(['127.0.0.1']));
    const res = await sendOutbound(target, { method: 'GET', headers: {} });
    expect(res.statusCode).toBe(302);
    await text(res);
    expect(other.got).toHaveLength(0);
  });

  it('https: verifies the certificate for the URL host name, not for the address it connects to', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opencloud-outbound-'));
    const ca = makeCa(join(dir, 'ca'));
    // SANs: 127.0.0.1, ::1 and localhost.
    const cert = makeServerCert(ca, join(dir, 'server'), 'server', 1);
    const names: (string | undefined)[] = [];
    const server = createHttpsServer(
      { cert: readFileSync(cert.cert), key: readFileSync(cert.key) },
      (req, res) => res.end(`hello ${req.headers.host}`),
    );
    server.on('secureConnection', (sock: TLSSocket) =>
      names.push((sock as TLSSocket & { servername?: string | false }).servername || undefined),
    );
    const port = await listen(server);
    const { resolve } = resolver({ localhost: [['127.0.0.1']], 'hooks.test': [['127.0.0.1']] });
    const p = policy(['localhost', 'hooks.test'], resolve);
    const caPem = readFileSync(ca.cert);

    const ok = await sendOutbound(await checkOutbound(`https://localhost:${port}/`, p), {
      method: 'GET',
      headers: {},
      ca: caPem,
    });
    expect(await text(ok)).toBe(`hello localhost:${port}`);
    expect(names).toEqual(['localhost']);
    // The certificate names 127.0.0.1, where the socket goes; hooks.test is what is checked.
    await expect(
      sendOutbound(await checkOutbound(`https://hooks.test:${port}/`, p), {
        method: 'GET',
        headers: {},
        ca: caPem,
      }),
    ).rejects.toThrow(/hooks\.test/);
    // Without the private CA the system's trust applies.
    await expect(
      sendOutbound(await checkOutbound(`https://localhost:${port}/`, p), { method: 'GET', headers: {} }),
    ).rejects.toThrow(/certificate/);
  });

  it('an abort signal cuts a request that gets no answer', async () => {
    const rx = await receiver(() => undefined);
    const target = await checkOutbound(`http://127.0.0.1:${rx.port}/`, policy(['127.0.0.1/32']));
    const t0 = Date.now();
    await expect(
      sendOutbound(target, { method: 'POST', headers: {}, body: 'x', signal: AbortSignal.timeout(200) }),
    ).rejects.toThrow(/abort/i);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(rx.got).toHaveLength(1);
  });
});
