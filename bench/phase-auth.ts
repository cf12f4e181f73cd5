// Authentication-on phase (ours only: the target is against our own figure without it). A fresh
// instance of our server gets the small image, then its first user (which turns authentication
// on); every request then carries a bearer token from the token flow (`GET /auth/token` with the
// user's password, scope `repository:bench/small:pull`), as Docker clients send it. HEAD blob and
// GET manifest run as in the small phase (same connections, warm-up and count), and the same two
// run on the same instance without a token first, so the ratio compares like with like.
import { setTimeout as sleep } from 'node:timers/promises';
import { cfg } from './config.js';
import { fmt, say } from './format.js';
import { exchange, expectStatus } from './http-client.js';
import { nodeLoad } from './load-generators.js';
import { add, row, type MetricSection } from './metrics.js';
import { OCI_MANIFEST, pushSmallImage } from './phase-small.js';
import { startServer, stopServer, waitReady, type Server } from './servers.js';
import { settle } from './settle.js';

const USER = 'bench';
const PASSWORD = 'bench-password-1234';

async function bearerToken(server: Server): Promise<string> {
  const basic = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
  const r = await exchange(
    server,
    'GET',
    '/auth/token?service=opencloud-registry&scope=repository:bench/small:pull',
    { headers: { authorization: `Basic ${basic}` } },
  );
  expectStatus(r, 200, `${server.label} GET /auth/token`);
  return (JSON.parse(r.body.toString()) as { token: string }).token;
}

export async function measureAuth(servers: Server[]): Promise<MetricSection> {
  const title = `our server with authentication on: a bearer token on every request (${cfg.concurrency} connections)`;
  if (!servers.some((s) => s.key === 'ours'))
    return { title, rows: [], skipped: 'our server is not measured' };
  const kinds = [
    { name: 'HEAD blob', method: 'HEAD' as const, accept: {} },
    { name: 'GET manifest', method: 'GET' as const, accept: { accept: OCI_MANIFEST } },
  ];
  const rows = kinds.flatMap((k) => [
    row(`${k.name}, no token (authentication off)`, 'req/s', 'higher', 0),
    row(`${k.name}, bearer token`, 'req/s', 'higher', 0),
    row(`${k.name}, bearer token as a share of no token`, 'x', 'higher', 2),
  ]);
  for (const r of rows) r.notes = { distribution: 'ours only', distribution3: 'ours only' };
  const server = await startServer('ours', 'ours-auth');
  await waitReady(server);
  try {
    const t = await pushSmallImage(server);
    // Both kinds warmed up before either is measured: the first kind measured on a fresh instance
    // would otherwise carry the instance's own warm-up (HEAD came out at 0.7 of its token figure).
    for (const k of kinds)
      await nodeLoad(
        server,
        1,
        k.method,
        k.method === 'HEAD' ? t.head : t.manifest,
        k.accept,
        cfg.smallWarmup,
      );
    const off: number[] = [];
    for (const [i, k] of kinds.entries()) {
      const path = k.method === 'HEAD' ? t.head : t.manifest;
      await settle();
      await nodeLoad(server, 1, k.method, path, k.accept, cfg.smallWarmup);
      const r = await nodeLoad(server, 1, k.method, path, k.accept, cfg.smallRequests);
      off.push(r.rps);
      add(rows[3 * i] as (typeof rows)[number], 'ours', r.rps);
    }
    // The first user, an admin: its registry tokens are checked like anyone's (signature, expiry,
    // the user's credentials unchanged since issue, scope), with no grants to set up.
    const made = await exchange(server, 'POST', '/api/v1/users', {
      body: Buffer.from(JSON.stringify({ name: USER, password: PASSWORD, admin: true })),
      headers: { 'content-type': 'application/json' },
    });
    expectStatus(made, 201, `${server.label} POST /api/v1/users`);
    await sleep(2_500); // the server notices its first user within 2 s
    for (const [i, k] of kinds.entries()) {
      const path = k.method === 'HEAD' ? t.head : t.manifest;
      const headers = { ...k.accept, authorization: `Bearer ${await bearerToken(server)}` };
      const refused = await exchange(server, k.method, path, { headers: k.accept });
      expectStatus(refused, 401, `${server.label} ${k.name} without a token`);
      await settle();
      await nodeLoad(server, 1, k.method, path, headers, cfg.smallWarmup);
      const r = await nodeLoad(server, 1, k.method, path, headers, cfg.smallRequests);
      if (r.errors > 0)
        throw new Error(`${server.label}: ${r.errors} ${k.name} requests with a token failed`);
      add(rows[3 * i + 1] as (typeof rows)[number], 'ours', r.rps);
      add(rows[3 * i + 2] as (typeof rows)[number], 'ours', r.rps / (off[i] as number));
      say(`auth ${k.name}: ${fmt(r.rps, 0)} req/s with a token, ${fmt(off[i] as number, 0)} without`);
    }
  } finally {
    await stopServer(server);
  }
  return { title, rows };
}
