// Authentication-on phase (ours only: the target is against our own figure without it). A fresh
// instance of our server gets the small image, then its first user (which turns authentication
// on); every request then carries a bearer token from the token flow (`GET /auth/token` with the
// user's password, scope `repository:bench/small:pull`), as Docker clients send it. HEAD blob and
// GET manifest run as in the small phase (same connections, warm-up and count), and the same two
// run on the same instance without a token first, so the ratio compares like with like; GET
// manifest also with wrk, and each with the server's CPU per request (the node client competes
// with the server for the CPUs, and spends more on a request carrying a token).
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { cfg } from './config.js';
import { fmt, say } from './format.js';
import { exchange, expectStatus } from './http-client.js';
import { nodeLoad, wrkLoad, type LoadResult } from './load-generators.js';
import { add, row, type MetricSection } from './metrics.js';
import { OCI_MANIFEST, pushSmallImage } from './phase-small.js';
import { envWithout, startServer, stopServer, waitReady, type Server } from './servers.js';
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

/**
 * Turns authentication on (the first user, an admin: its registry tokens are checked like
 * anyone's, with no grants to set up) or off (that user deleted), and waits until a request
 * without a token shows it (the server looks at its user count every 2 s).
 */
async function switchAuthentication(server: Server, manifest: string, on: boolean): Promise<void> {
  const r = on
    ? await exchange(server, 'POST', '/api/v1/users', {
        body: Buffer.from(JSON.stringify({ name: USER, password: PASSWORD, admin: true })),
        headers: { 'content-type': 'application/json' },
      })
    : undefined;
  if (r) expectStatus(r, 201, `${server.label} POST /api/v1/users`);
  // An admin cannot delete itself through the API: the CLI does it beside the server, on its data dir.
  else
    execFileSync(
      process.execPath,
      [cfg.opencloudBin, 'users', 'delete', USER, '--data-dir', server.dataDir],
      {
        env: envWithout('OPENCLOUD_'),
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
  const deadline = Date.now() + 10_000;
  for (;;) {
    const probe = await exchange(server, 'GET', manifest, { headers: { accept: OCI_MANIFEST } });
    if (probe.status === (on ? 401 : 200)) return;
    if (Date.now() > deadline)
      throw new Error(`${server.label}: authentication still ${on ? 'off' : 'on'} after 10 s`);
    await sleep(200);
  }
}

export async function measureAuth(servers: Server[]): Promise<MetricSection> {
  const title = `our server with authentication on: a bearer token on every request (${cfg.concurrency} connections)`;
  if (!servers.some((s) => s.key === 'ours'))
    return { title, rows: [], skipped: 'our server is not measured' };
  const kinds = [
    { name: 'HEAD blob', method: 'HEAD' as const, accept: {} },
    { name: 'GET manifest', method: 'GET' as const, accept: { accept: OCI_MANIFEST } },
  ];
  const rowsOf = (name: string) => ({
    off: row(`${name}, no token (authentication off)`, 'req/s', 'higher', 0),
    on: row(`${name}, bearer token`, 'req/s', 'higher', 0),
    share: row(`${name}, bearer token as a share of no token`, 'x', 'higher', 2),
    cpuOff: row(`${name}, server CPU per request, no token`, 'µs', 'lower', 1),
    cpuOn: row(`${name}, server CPU per request, bearer token`, 'µs', 'lower', 1),
  });
  // The node client shares the 2 CPUs with the server and spends more of them on a request with a
  // 600-character header; wrk (C) and the server's own CPU per request show the server's part.
  const measured = [
    ...kinds.map((k) => ({ kind: k, client: 'node' as const, rows: rowsOf(k.name) })),
    ...(cfg.wrk ? [{ kind: kinds[1]!, client: 'wrk' as const, rows: rowsOf('GET manifest (wrk)') }] : []),
  ];
  const rows = measured.flatMap((m) => Object.values(m.rows));
  for (const r of rows) r.notes = { distribution: 'ours only', distribution3: 'ours only' };
  const server = await startServer('ours', 'ours-auth');
  await waitReady(server);
  try {
    const t = await pushSmallImage(server);
    const load = (m: (typeof measured)[number], authorization?: string) => {
      const path = m.kind.method === 'HEAD' ? t.head : t.manifest;
      if (m.client === 'wrk') {
        wrkLoad(server, 1, path, OCI_MANIFEST, 2, authorization); // warm-up
        return Promise.resolve(wrkLoad(server, 1, path, OCI_MANIFEST, cfg.wrkSeconds, authorization));
      }
      const headers = { ...m.kind.accept, ...(authorization ? { authorization } : {}) };
      return nodeLoad(server, 1, m.kind.method, path, headers, cfg.smallWarmup).then(() =>
        nodeLoad(server, 1, m.kind.method, path, headers, cfg.authRequests),
      );
    };
    // Every kind warmed up before any is measured: the first one measured on a fresh instance
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
    // Off and on alternate, run after run (the user is deleted again after each on-round), so
    // the machine's drift and the process's own warming weigh on both alike.
    for (let run = 1; run <= cfg.runs; run++) {
      const off: LoadResult[] = [];
      for (const m of measured) {
        await settle();
        const r = await load(m);
        off.push(r);
        add(m.rows.off, 'ours', r.rps);
        add(m.rows.cpuOff, 'ours', (r.serverCpuS / r.requests) * 1e6);
      }
      await switchAuthentication(server, t.manifest, true);
      for (const [i, m] of measured.entries()) {
        const authorization = `Bearer ${await bearerToken(server)}`;
        await settle();
        const r = await load(m, authorization);
        if (r.errors > 0)
          throw new Error(`${server.label}: ${r.errors} ${m.kind.name} requests with a token failed`);
        const before = off[i]!;
        add(m.rows.on, 'ours', r.rps);
        add(m.rows.share, 'ours', r.rps / before.rps);
        add(m.rows.cpuOn, 'ours', (r.serverCpuS / r.requests) * 1e6);
        say(
          `auth ${m.kind.name} (${m.client}), run ${run}: ${fmt(r.rps, 0)} req/s with a token, ` +
            `${fmt(before.rps, 0)} without; server CPU ${fmt((r.serverCpuS / r.requests) * 1e6, 1)} vs ` +
            `${fmt((before.serverCpuS / before.requests) * 1e6, 1)} µs per request`,
        );
      }
      await switchAuthentication(server, t.manifest, false);
    }
  } finally {
    await stopServer(server);
  }
  return { title, rows };
}
