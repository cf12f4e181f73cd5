// GET /api/v1/openapi.json against the routes in the source: every '/api/v1/…' route string in
// src/server/*.ts and in a feature's own src/<feature>/routes.ts must be documented, every documented path must come from the source, and every
// documented GET answers with something other than the server's "no route" 404.
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCli, startServe, type ServeHandle } from '../support/cli.js';

interface Operation {
  operationId: string;
  description?: string;
  parameters?: { name: string; in: string }[];
  requestBody?: { content: Record<string, { schema: unknown }> };
  responses: Record<string, unknown>;
}
interface Document {
  openapi: string;
  info: { version: string };
  servers: { url: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes: Record<string, Record<string, string>> };
}

const SERVER = join(ROOT, 'src/server');
const PREFIX = '/api/v1';

/** The files that register routes: src/server/*.ts, and each feature's src/<feature>/routes.ts. */
function routeFiles(): string[] {
  const server = readdirSync(SERVER)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => join(SERVER, f));
  const src = join(ROOT, 'src');
  const features = readdirSync(src, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(src, d.name, 'routes.ts')))
    .map((d) => join(src, d.name, 'routes.ts'));
  return [...server, ...features];
}

/** The '/api/v1/…' route strings of the route files, plus api.ts's routes (registered under the prefix). */
function sourceRoutes(): string[] {
  const found = new Set<string>();
  for (const file of routeFiles()) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/['`]((?:\/api\/v1|\$\{API(?:_PREFIX)?\})(?:\/[^'`\s]*)?)['`]/g))
      found.add((m[1] as string).replace(/^\$\{API(?:_PREFIX)?\}/, PREFIX));
  }
  const app = readFileSync(join(SERVER, 'app.ts'), 'utf8');
  expect(app, "api.ts's routes are registered under /api/v1").toMatch(
    /register\(apiRoutes, \{\s*prefix: '\/api\/v1'/,
  );
  const api = readFileSync(join(SERVER, 'api.ts'), 'utf8');
  for (const m of api.matchAll(/app\.(?:get|post|put|delete|patch)(?:<[\s\S]*?>)?\(\s*'([^']+)'/g))
    found.add(PREFIX + (m[1] === '/' ? '' : (m[1] as string)));
  // '/api/v1/' and '/api/v1' are one route (the prefix's root); Fastify reports it without the slash.
  return [...found].map((r) => (r.length > 1 ? r.replace(/\/$/, '') : r)).sort();
}

/** A source route string as a pattern over OpenAPI paths: ':id' is '{…}', '${expr}' any one segment. */
function pattern(route: string): RegExp {
  const parts = route.split(/(:[A-Za-z0-9_]+|\$\{[^}]+\})/).map((p) => {
    if (p.startsWith(':')) return '\\{[^/}]+\\}';
    if (p.startsWith('${')) return '[^/]+';
    return p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  });
  return new RegExp(`^${parts.join('')}$`);
}

const dataDir = mkdtempSync(join(tmpdir(), 'opencloud-openapi-'));
let s: ServeHandle;
let doc: Document;

beforeAll(async () => {
  s = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir], {
    // No daemons needed: routes that reach them answer an error quickly instead of waiting.
    env: {
      OPENCLOUD_CONTAINERD_SOCKET: join(dataDir, 'no-containerd.sock'),
      OPENCLOUD_BUILDKIT_SOCKET: join(dataDir, 'no-buildkitd.sock'),
    },
  });
  const res = await fetch(`${s.url}/api/v1/openapi.json`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  doc = (await res.json()) as Document;
});

afterAll(async () => {
  s?.child.kill('SIGTERM');
  await s?.exited;
});

describe('GET /api/v1/openapi.json', () => {
  it('is an OpenAPI 3.1 document with the version, server and security schemes', async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.version).toBe(pkg.version);
    expect(doc.servers).toEqual([{ url: '/' }]);
    expect(doc.components.securitySchemes).toMatchObject({
      basic: { type: 'http', scheme: 'basic' },
      bearer: { type: 'http', scheme: 'bearer' },
      session: { type: 'apiKey', in: 'cookie', name: 'oc_session' },
    });
    for (const path of Object.keys(doc.paths)) {
      expect(path).toMatch(/^\/api\/v1(\/|$)/);
      expect(path, 'OpenAPI {param} syntax').not.toMatch(/:|\*/);
    }
  });

  it('documents every /api/v1/ route in the source', () => {
    const documented = Object.keys(doc.paths);
    const missing = sourceRoutes().filter((r) => !documented.some((p) => pattern(r).test(p)));
    expect(missing, 'routes in src/server missing from openapi.json').toEqual([]);
  });

  it('documents every method of every route registration in the source', () => {
    const missing: string[] = [];
    for (const file of readdirSync(SERVER).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))) {
      const text = readFileSync(join(SERVER, file), 'utf8');
      const calls = /app\.(get|post|put|delete|patch)(?:<[\s\S]*?>)?\(\s*(['`])([^'`]+)\2/g;
      for (const [, method, , raw] of text.matchAll(calls)) {
        let route = (raw as string).replace(/^\$\{API(?:_PREFIX)?\}/, PREFIX);
        if (file === 'api.ts') route = PREFIX + (route === '/' ? '' : route);
        if (!route.startsWith(PREFIX)) continue;
        const ops = Object.entries(doc.paths).filter(([p]) => pattern(route).test(p));
        if (!ops.some(([, item]) => item[method as string])) missing.push(`${method} ${route} (${file})`);
      }
    }
    expect(missing, 'route registrations missing from openapi.json').toEqual([]);
  });

  it('documents only paths that come from the source', () => {
    const routes = sourceRoutes().map(pattern);
    const unknown = Object.keys(doc.paths).filter((p) => !routes.some((r) => r.test(p)));
    expect(unknown, 'documented paths with no route string in src/server').toEqual([]);
  });

  it('describes schemas where routes declare them, and says so where they do not', () => {
    const list = doc.paths['/api/v1/builds']?.get;
    expect(list?.parameters?.map((p) => `${p.in}:${p.name}`)).toEqual([
      'query:limit',
      'query:before',
      'query:state',
      'query:repository',
    ]);
    const create = doc.paths['/api/v1/builds']?.post;
    expect(Object.keys(create?.requestBody?.content ?? {})).toContain('application/json');
    const events = doc.paths['/api/v1/builds/{id}/events']?.get;
    expect(events?.parameters).toContainEqual(expect.objectContaining({ name: 'id', in: 'path' }));
    expect(events?.description).toMatch(/no JSON schema/);
    const ids = Object.values(doc.paths).flatMap((item) => Object.values(item).map((o) => o.operationId));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('answers every documented GET with something other than "no route"', async () => {
    const gets = Object.entries(doc.paths).filter(([, item]) => item.get);
    expect(gets.length).toBeGreaterThan(10);
    for (const [path] of gets) {
      const url = path.replace(/\{[^}]+\}/g, 'no-such-id');
      const ctl = new AbortController();
      // Event streams of unknown ids end at once; a live one would be cut here.
      const timer = setTimeout(() => ctl.abort(), 10_000);
      try {
        const res = await fetch(`${s.url}${url}`, { signal: ctl.signal });
        const text = await res.text();
        if (!path.includes('{')) expect(res.status, `GET ${path}`).not.toBe(404);
        expect(text, `GET ${url}`).not.toContain('no route for');
      } finally {
        clearTimeout(timer);
      }
    }
  });
});

describe('opencloud --version', () => {
  it('prints the program, the commit, Node and BuildKit, one per line (also as -V)', async () => {
    const long = await runCli(['--version']);
    expect(long.code).toBe(0);
    expect(long.stdout).toMatch(/^opencloud \d+\.\d+\.\d+\ncommit ([0-9a-f]{7}|unknown)\nnode v\d+\./);
    expect(long.stdout).toContain(`node ${process.version}\nbuildkit v0.16.0\n`);
    expect((await runCli(['-V'])).stdout).toBe(long.stdout);
  });
});
