// GET /api/v1/openapi.json: an OpenAPI 3.1 description of the JSON API, generated from the
// routes Fastify actually registered (an onRoute hook, installed before any route) and their
// JSON schemas. Nothing here is written by hand per route: a route without a schema still
// appears, saying so in its description.
import type { FastifyInstance, FastifyPluginAsync, FastifySchema, RouteOptions } from 'fastify';
import { CSRF_HEADER, SESSION_COOKIE } from '../auth/sessions.js';
import { PACKAGE_VERSION } from '../paths.js';
import { ANYONE, describeAccess, type Access } from '../http/access.js';

export const API_PREFIX = '/api/v1';
export const OPENAPI_PATH = `${API_PREFIX}/openapi.json`;

/** What the document needs of a registered route. */
export interface RouteRecord {
  method: string;
  url: string;
  schema?: FastifySchema;
  access: Access;
}

type Json = Record<string, unknown>;

/**
 * Records every route registered on `app` (and its child plugins) from now on. Call it before
 * the first route: Fastify tells onRoute hooks only about routes registered after them.
 */
export function collectRoutes(app: FastifyInstance): RouteRecord[] {
  const routes: RouteRecord[] = [];
  app.addHook('onRoute', (r: RouteOptions) => {
    // requireAccessDeclarations (installed first) has refused any route without a declaration.
    const access = (r.config as { access: Access }).access;
    for (const method of [r.method].flat()) routes.push({ method, url: r.url, schema: r.schema, access });
  });
  return routes;
}

const isApi = (url: string) => url === API_PREFIX || url.startsWith(`${API_PREFIX}/`);

/** `/builds/:id/events` -> `/builds/{id}/events` (regex constraints dropped, `*` named `wildcard`). */
export function openapiPath(url: string): { path: string; params: string[] } {
  const params: string[] = [];
  const path = url
    .replace(/:([A-Za-z0-9_]+)(\([^/]*\))?/g, (_m, name: string) => {
      params.push(name);
      return `{${name}}`;
    })
    .replace(/\*/g, () => {
      params.push('wildcard');
      return '{wildcard}';
    });
  return { path, params };
}

function propertiesOf(schema: unknown): { props: Record<string, Json>; required: string[] } {
  const s = (schema ?? {}) as { properties?: Record<string, Json>; required?: string[] };
  return { props: s.properties ?? {}, required: s.required ?? [] };
}

function parameters(where: 'path' | 'query' | 'header', schema: unknown, extra: string[] = []): Json[] {
  const { props, required } = propertiesOf(schema);
  const out: Json[] = Object.entries(props).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || required.includes(name),
    ...(typeof s.description === 'string' ? { description: s.description } : {}),
    schema: s,
  }));
  for (const name of extra)
    if (!(name in props)) out.push({ name, in: where, required: true, schema: { type: 'string' } });
  return out;
}

/** A Fastify body or response schema: either one JSON schema or `{content: {type: {schema}}}`. */
function content(schema: unknown): Json {
  const s = schema as { content?: Record<string, { schema?: unknown }> };
  if (s && typeof s === 'object' && s.content && typeof s.content === 'object') {
    return Object.fromEntries(
      Object.entries(s.content).map(([type, c]) => [type, { schema: c.schema ?? {} }]),
    );
  }
  return { 'application/json': { schema } };
}

const ERROR_RESPONSE = {
  description: 'An error: {error: {code, message, detail?}}',
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
};

function operation(route: RouteRecord, path: string, params: string[]): Json {
  const schema = (route.schema ?? {}) as FastifySchema & {
    query?: unknown;
    summary?: string;
    description?: string;
  };
  const op: Json = {
    operationId: `${route.method.toLowerCase()}${path
      .slice(API_PREFIX.length)
      .replace(/[{}]/g, '')
      .split(/[^A-Za-z0-9]+/)
      .filter(Boolean)
      .map((w) => w[0]!.toUpperCase() + w.slice(1))
      .join('')}`,
    tags: [path.slice(API_PREFIX.length).split('/')[1]?.replace(/[{}]/g, '') || 'api'],
  };
  if (typeof schema.summary === 'string') op.summary = schema.summary;
  op['x-access'] = describeAccess(route.access);
  if (route.access === 'public') op.security = [];
  const notes: string[] = [`Who may call it: ${describeAccess(route.access)}.`];
  if (typeof schema.description === 'string') notes.push(schema.description);
  if (!route.schema)
    notes.push('This route declares no JSON schema: its input and output are not described.');
  else if (!schema.response) notes.push('This route declares no response schema.');
  if (notes.length > 0) op.description = notes.join('\n\n');

  const ps = [
    ...parameters('path', schema.params, params),
    ...parameters('query', schema.querystring ?? schema.query),
    ...parameters('header', schema.headers),
  ];
  if (ps.length > 0) op.parameters = ps;
  if (schema.body) {
    const types = content(schema.body) as Record<string, { schema: unknown }>;
    // Required when a schema requires some property (an absent body could not have it).
    const required = Object.values(types).some((t) => propertiesOf(t.schema).required.length > 0);
    op.requestBody = { required, content: types };
  }
  const responses: Json = {};
  for (const [code, s] of Object.entries((schema.response ?? {}) as Record<string, Json>)) {
    const description = typeof s?.description === 'string' ? s.description : `${code} response`;
    responses[code] = { description, content: content(s) };
  }
  if (!Object.keys(responses).some((c) => /^2/.test(c)))
    responses['2XX'] = { description: 'Success (not described by a schema)' };
  responses.default = ERROR_RESPONSE;
  op.responses = responses;
  return op;
}

/** The OpenAPI 3.1 document of the `/api/v1/` routes among `routes`. */
export function openapiDocument(routes: readonly RouteRecord[]): Json {
  const paths: Record<string, Json> = {};
  const sorted = routes
    .filter((r) => isApi(r.url) && r.method !== 'HEAD')
    .sort((a, b) => a.url.localeCompare(b.url) || a.method.localeCompare(b.method));
  for (const route of sorted) {
    const { path, params } = openapiPath(route.url);
    const item = (paths[path] ??= {});
    item[route.method.toLowerCase()] = operation(route, path, params);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'OpenCloud Container Registry API',
      version: PACKAGE_VERSION,
      description:
        'The JSON API under /api/v1/, generated from the routes this server registered. Once a user ' +
        'exists, requests authenticate with Basic credentials (a password or an API token), an API ' +
        `token as Bearer, or the web session cookie (changes then also need the ${CSRF_HEADER} header). ` +
        'The registry itself is the OCI distribution API under /v2/ and is not described here.',
    },
    servers: [{ url: '/' }],
    security: [{ basic: [] }, { bearer: [] }, { session: [] }],
    paths,
    components: {
      securitySchemes: {
        basic: {
          type: 'http',
          scheme: 'basic',
          description: 'A user name with its password or one of its API tokens (oc_…).',
        },
        bearer: { type: 'http', scheme: 'bearer', description: 'An API token (oc_…).' },
        session: {
          type: 'apiKey',
          in: 'cookie',
          name: SESSION_COOKIE,
          description: `The web session (POST /api/v1/session); changes also need the ${CSRF_HEADER} header.`,
        },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: { code: { type: 'string' }, message: { type: 'string' }, detail: {} },
            },
          },
        },
      },
    },
  };
}

/** Serves the document; `routes` comes from collectRoutes(), called before any route. */
export const openapi: FastifyPluginAsync<{ routes: RouteRecord[] }> = async (app, { routes }) => {
  let doc: string | undefined;
  const document = () => (doc ??= JSON.stringify(openapiDocument(routes)));
  // Built on the first request, when every route is known (not at start-up: ~10 ms of it).
  app.get(OPENAPI_PATH, ANYONE, async (_req, reply) =>
    reply.type('application/json; charset=utf-8').send(document()),
  );
};
