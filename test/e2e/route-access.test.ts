// Every route the router holds, tried as an attacker: the test walks the server's own route table
// (each method and path registered, with its access declaration) and calls each route as an
// anonymous caller and as a signed-in user with no grants, at its canonical path and at every
// other spelling of it (test/support/path-variants.ts), on a raw socket. Routes not declared
// public must refuse both (401/403/404), except 'signed-in' ones, which may answer the user but
// must not show anything of the objects an admin and another user made (canaries); and no
// spelling may ever get more than the canonical path. The server runs in this process on a real
// socket, so the table is the router's own.
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthStore } from '../../src/auth/store.js';
import { BuildRecords } from '../../src/build/records.js';
import { loadConfig } from '../../src/config/load.js';
import { describeAccess } from '../../src/http/access.js';
import { createLogger } from '../../src/logger.js';
import type { RouteRecord } from '../../src/server/openapi.js';
import { startServer, type RunningServer } from '../../src/server/lifecycle.js';
import { openSqliteState } from '../../src/state/sqlite.js';
import { pathVariants } from '../support/path-variants.js';
import { rawRequest, type RawAnswer } from '../support/raw-http.js';

const PW = { admin: 'admin-password-1', nobody: 'nobody-password-1', dev: 'dev-password-1' };
const NPM_TOKEN = 'npm_canary_secret_value';

interface Caller {
  name: string;
  headers: (method: string) => Record<string, string>;
}
interface Instance {
  route: RouteRecord;
  method: string;
  path: string;
  body?: string;
  contentType?: string;
}

let server: RunningServer;
let port: number;
let dataDir: string;
const ids = { build: randomUUID(), token: '', webhook: '', delivery: '', run: '', upload: '' };
const image = { blob: '', manifest: '' };
let uiPage: string;
let anonymous: Caller;
let nobody: Caller;
let admin: Caller;

async function signIn(user: string, password: string): Promise<Caller> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: user, password }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0] as string;
  const { csrfToken } = (await res.json()) as { csrfToken: string };
  return {
    name: user,
    headers: (method) => ({
      cookie,
      ...(['GET', 'HEAD'].includes(method) ? {} : { 'x-csrf-token': csrfToken }),
    }),
  };
}

/** The admin's own calls while setting up (fetch: canonical paths only). */
async function asAdmin(method: string, path: string, body?: unknown, type = 'application/json') {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: {
      ...admin.headers(method),
      ...(body === undefined ? {} : { 'content-type': type }),
    },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return { res, text };
}

const sha256 = async (text: string) =>
  `sha256:${Buffer.from(await crypto.subtle.digest('SHA-256', Buffer.from(text))).toString('hex')}`;

/** Objects nobody may see: their ids and names must never appear in an answer nobody gets. */
const canaries = () => [
  'canary/app',
  'canary-dev',
  ids.build,
  ids.token,
  ids.webhook,
  ids.run,
  NPM_TOKEN,
  'canary-hook',
  dataDir,
];

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'opencloud-route-access-'));
  const state = await openSqliteState(dataDir);
  const users = new AuthStore(state);
  await users.addUser('admin', PW.admin, true);
  await users.addUser('nobody', PW.nobody, false);
  await users.addUser('canary-dev', PW.dev, false);
  await users.grant('canary-dev', 'canary/**', ['pull', 'push', 'build']);
  ids.token = (await users.createToken('admin', 'canary token', null, null)).id;
  const records = new BuildRecords(state);
  const definition = {
    dockerfile: 'FROM scratch\n',
    files: {},
    repository: 'canary/app',
    tags: ['1'],
    buildArgs: { NPM_TOKEN },
    noCache: false,
    labels: {},
  };
  await records.insert(ids.build, definition, ['127.0.0.1/canary/app:1'], 'canary-dev');
  await records.finished(ids.build, { state: 'succeeded', log: `token ${NPM_TOKEN}\n`, events: [] });
  await state.close();

  const { config } = loadConfig({
    env: {},
    flags: { dataDir, listen: '127.0.0.1:0', 'webhooks.allowedHosts': '127.0.0.1' },
  });
  server = await startServer(config, createLogger('silent'));
  port = Number(new URL(server.url).port);
  anonymous = { name: 'anonymous', headers: () => ({}) };
  uiPage = (await rawRequest(port, { method: 'GET', target: '/some/page' })).body;
  expect(uiPage).toMatch(/<html|UI_NOT_BUILT/);
  admin = await signIn('admin', PW.admin);
  nobody = await signIn('nobody', PW.nobody);

  // A pushed image, an open upload, a webhook with a delivery and an install plan run.
  const config1 = '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}';
  image.blob = await sha256(config1);
  await asAdmin(
    'POST',
    `/v2/canary/app/blobs/uploads/?digest=${image.blob}`,
    config1,
    'application/octet-stream',
  );
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: image.blob,
      size: config1.length,
    },
    layers: [],
  });
  image.manifest = await sha256(manifest);
  await asAdmin('PUT', '/v2/canary/app/manifests/1', manifest, 'application/vnd.oci.image.manifest.v1+json');
  const upload = await asAdmin('POST', '/v2/canary/app/blobs/uploads/');
  ids.upload = (upload.res.headers.get('location') ?? '').split('/').pop()?.split('?')[0] as string;
  const hook = JSON.parse(
    (await asAdmin('POST', '/api/v1/webhooks', { url: 'http://127.0.0.1:9/canary-hook', events: ['push'] }))
      .text,
  ) as { id: string };
  ids.webhook = hook.id;
  ids.delivery = (
    JSON.parse((await asAdmin('POST', `/api/v1/webhooks/${hook.id}/ping`)).text) as { deliveryId: string }
  ).deliveryId;
  ids.run = (
    JSON.parse((await asAdmin('POST', '/api/v1/services/container-registry/plan', {})).text) as {
      runId: string;
    }
  ).runId;
}, 60_000);

afterAll(async () => {
  await server?.stop('test done');
});

/** Concrete requests for a route: its parameters filled with the objects above. */
function instances(route: RouteRecord): Instance[] {
  const { url, method } = route;
  const one = (path: string, body?: unknown, contentType = 'application/json'): Instance => ({
    route,
    method,
    path,
    ...(body === undefined
      ? {}
      : { body: typeof body === 'string' ? body : JSON.stringify(body), contentType }),
  });
  if (url === '/v2/*') return registryInstances(route);
  if (url === '/*') return [one('/some/page')];
  const id = url.startsWith('/api/v1/builds')
    ? ids.build
    : url.startsWith('/api/v1/webhooks')
      ? ids.webhook
      : url.startsWith('/api/v1/runs')
        ? ids.run
        : ids.token;
  const name = url.startsWith('/api/v1/users') ? 'admin' : 'container-registry';
  const path = url.replace(':deliveryId', ids.delivery).replace(':id', id).replace(':name', name);
  // Bodies that pass validation, so a refusal is the access rule's and not the schema's.
  const bodies: Record<string, unknown> = {
    'POST /api/v1/builds': { dockerfile: 'FROM scratch\n', repository: 'canary/app' },
    'POST /build-image': { dockerfile: 'FROM scratch\n', imageName: 'canary/app:2' },
    'POST /api/v1/users': { name: 'evil', password: 'evilpass123', admin: true },
    'POST /api/v1/users/:name/tokens': { name: 'evil' },
    'PUT /api/v1/users/:name/grants': { pattern: '**', actions: ['pull', 'push', 'delete', 'build'] },
    'PUT /api/v1/system/log-level': { level: 'debug' },
    'PUT /api/v1/policies/immutable-tags': { rules: [{ repositories: '**', tags: '.*' }] },
    'PUT /api/v1/policies/retention': { rules: [{ repositories: '**', keepLast: 0 }] },
    'PUT /api/v1/policies/quotas': { rules: [{ repositories: '**', bytes: 1 }] },
    // A guess at nobody's password: refused, and after five guesses refused as too many.
    'PUT /api/v1/account/password': { currentPassword: 'a-guess-1', newPassword: 'evil-password-1' },
    'POST /api/v1/webhooks': { url: 'http://127.0.0.1:9/evil', events: ['push'] },
    'PATCH /api/v1/webhooks/:id': { url: 'http://127.0.0.1:9/evil' },
    'POST /api/v1/registry/gc': { dryRun: true },
    'POST /api/v1/builder/prune': { all: true },
    'POST /enable-service': { service: 'container-registry' },
    'POST /enable-service-stream': { service: 'container-registry' },
  };
  const key = `${method} ${url}`;
  if (key in bodies) return [one(path, bodies[key])];
  if (['POST', 'PUT', 'PATCH'].includes(method)) return [one(path, {})];
  if (url === '/get-service-status') return [one(`${path}?service=container-registry`)];
  if (url === '/api/v1/registry/tags') return [one(`${path}?repository=canary/app`)];
  if (url === '/api/v1/policies/immutable-tags/preview')
    return [one(`${path}?repositories=canary/**&tags=.*`)];
  if (url === '/api/v1/policies/retention/preview') return [one(`${path}?repositories=canary/**&keepLast=0`)];
  return [one(path)];
}

function registryInstances(route: RouteRecord): Instance[] {
  const r = (path: string, body?: string): Instance => ({
    route,
    method: route.method,
    path,
    ...(body === undefined ? {} : { body, contentType: 'application/octet-stream' }),
  });
  const repo = '/v2/canary/app';
  switch (route.method) {
    case 'GET':
      return [
        r('/v2/_catalog'),
        r(`${repo}/tags/list`),
        r(`${repo}/manifests/1`),
        r(`${repo}/blobs/${image.blob}`),
        r(`${repo}/referrers/${image.manifest}`),
        r(`${repo}/blobs/uploads/${ids.upload}`),
      ];
    case 'HEAD':
      return [r(`${repo}/manifests/1`), r(`${repo}/blobs/${image.blob}`)];
    case 'POST':
      return [r(`${repo}/blobs/uploads/`), r(`${repo}/blobs/uploads/?mount=${image.blob}&from=canary/app`)];
    case 'PATCH':
      return [r(`${repo}/blobs/uploads/${ids.upload}`, 'x')];
    case 'PUT':
      return [
        r(`${repo}/manifests/evil`, '{}'),
        r(`${repo}/blobs/uploads/${ids.upload}?digest=${image.blob}`),
      ];
    case 'DELETE':
      return [
        r(`${repo}/manifests/${image.manifest}`),
        r(`${repo}/blobs/${image.blob}`),
        r(`${repo}/blobs/uploads/${ids.upload}`),
      ];
  }
  return [];
}

async function call(caller: Caller, i: Instance, path = i.path): Promise<RawAnswer> {
  return rawRequest(port, {
    method: i.method,
    target: path,
    headers: {
      ...caller.headers(i.method),
      ...(i.contentType ? { 'content-type': i.contentType } : {}),
      accept: 'application/vnd.oci.image.manifest.v1+json, application/json;q=0.9, */*;q=0.8',
    },
    ...(i.body === undefined ? {} : { body: i.body }),
  });
}

// 429: a route that checks a password (the account's) refuses guesses after a few.
const REFUSED = [401, 403, 404, 429];

/** What went wrong with one answer to `caller`, or undefined when it gave nothing away. */
function problem(
  caller: Caller,
  i: Instance,
  canonical: RawAnswer,
  a: RawAnswer,
  path: string,
): string | undefined {
  const where = `${caller.name} ${i.method} ${path} (route ${i.route.url}, access ${describeAccess(i.route.access)})`;
  if (a.status >= 500) return `${where}: ${a.status} ${a.body.slice(0, 200)}`;
  // The web UI's page (its catch-all answers any page path) holds no data: it asks the API.
  const html = (a.headers['content-type'] ?? '').startsWith('text/html');
  if (a.status < 300 && html && (a.body === uiPage || (i.method === 'HEAD' && a.body === '')))
    return undefined;
  if (a.status < 400) {
    if (REFUSED.includes(canonical.status) || canonical.status >= 400)
      return `${where}: ${a.status} where the canonical path was refused with ${canonical.status}`;
    const leaked = canaries().find((c) => c && a.body.includes(c));
    if (leaked) return `${where}: the answer shows ${JSON.stringify(leaked)}: ${a.body.slice(0, 200)}`;
  }
  return undefined;
}

/** Runs `fn` over `items`, a few at a time. */
async function eachLimited<T>(items: T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

describe('every route declares its access, and no spelling of a path gets more', () => {
  it('the route table holds every route with a declaration', () => {
    const table = server.app.routeTable;
    expect(table.length).toBeGreaterThan(50);
    for (const r of table) expect(describeAccess(r.access), `${r.method} ${r.url}`).toMatch(/\S/);
    // The routes an attacker wants most are among them, with the declaration they need.
    const of = (method: string, url: string) =>
      table.find((r) => r.method === method && r.url === url)?.access;
    expect(of('POST', '/api/v1/users')).toBe('admin');
    expect(of('GET', '/api/v1/webhooks')).toBe('admin');
    expect(of('POST', '/api/v1/services/:name/enable')).toBe('admin');
    expect(of('GET', '/healthz')).toBe('public');
  });

  for (const who of ['anonymous', 'nobody'] as const) {
    it(`${who}: refused on every route not declared public, at every spelling`, async () => {
      const caller = who === 'anonymous' ? anonymous : nobody;
      const routes = server.app.routeTable.filter((r) => r.access !== 'public');
      const problems: string[] = [];
      let calls = 0;
      await eachLimited(routes.flatMap(instances), 4, async (i) => {
        const canonical = await call(caller, i);
        calls++;
        const signedInOnly = i.route.access === 'signed-in' || typeof i.route.access === 'object';
        if (
          !REFUSED.includes(canonical.status) &&
          !(who === 'nobody' && signedInOnly && canonical.status < 300)
        )
          problems.push(
            `${who} ${i.method} ${i.path} (access ${describeAccess(i.route.access)}): ${canonical.status} ${canonical.body.slice(0, 160)}`,
          );
        const p0 = problem(caller, i, { ...canonical, status: 200 }, canonical, i.path);
        if (canonical.status < 300 && p0) problems.push(p0);
        const [path, query] = i.path.split('?') as [string, string | undefined];
        for (const v of pathVariants(path)) {
          const target = query === undefined ? v : `${v}?${query}`;
          const a = await call(caller, i, target);
          calls++;
          const p = problem(caller, i, canonical, a, target);
          if (p) problems.push(p);
        }
      });
      expect(problems, problems.slice(0, 30).join('\n')).toEqual([]);
      expect(calls).toBeGreaterThan(1000);
    }, 600_000);
  }

  it("the admin's canonical calls reach each GET route (the paths above are real)", async () => {
    const gets = server.app.routeTable.filter(
      (r) =>
        r.method === 'GET' && r.access !== 'public' && !/disk-usage|images|doctor|workers|events/.test(r.url),
    );
    for (const i of gets.flatMap(instances)) {
      const a = await call(admin, i);
      expect(a.status, `${i.method} ${i.path}: ${a.body.slice(0, 200)}`).toBeLessThan(300);
    }
  });

  it('the objects the attacks aimed at are untouched', async () => {
    const users = JSON.parse((await asAdmin('GET', '/api/v1/users')).text) as { users: { name: string }[] };
    expect(users.users.map((u) => u.name).sort()).toEqual(['admin', 'canary-dev', 'nobody']);
    await asAdmin('GET', `/v2/canary/app/manifests/1`);
    const tokens = JSON.parse((await asAdmin('GET', '/api/v1/users/admin/tokens')).text) as {
      tokens: { id: string; revokedAt: string | null }[];
    };
    expect(tokens.tokens.find((t) => t.id === ids.token)?.revokedAt).toBeNull();
    const level = JSON.parse((await asAdmin('GET', '/api/v1/system/log-level')).text) as { level: string };
    expect(level.level).toBe('silent');
    const policies = JSON.parse((await asAdmin('GET', '/api/v1/policies')).text) as {
      immutableTags: unknown[];
    };
    expect(policies.immutableTags).toEqual([]);
    // Nobody's password is still theirs (read from the store: the guesses locked their name out).
    const state = await openSqliteState(dataDir);
    try {
      expect(await new AuthStore(state).checkPassword('nobody', PW.nobody)).toMatchObject({ name: 'nobody' });
      expect(await new AuthStore(state).checkPassword('nobody', 'evil-password-1')).toBeUndefined();
    } finally {
      await state.close();
    }
  });

  it('anonymous callers learn versions from /api/v1/system/info, not host paths', async () => {
    const a = await rawRequest(port, { method: 'GET', target: '/api/v1/system/info' });
    expect(a.status).toBe(200);
    expect(a.body).not.toContain(dataDir);
    expect(JSON.parse(a.body)).toMatchObject({ version: expect.any(String) });
    const asAdminInfo = JSON.parse((await asAdmin('GET', '/api/v1/system/info')).text) as { dataDir: string };
    expect(asAdminInfo.dataDir).toBe(dataDir);
  });
});
