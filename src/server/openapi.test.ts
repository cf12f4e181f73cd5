import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { collectRoutes, openapi, openapiPath } from './openapi.js';

describe('openapi', () => {
  it('turns Fastify paths into OpenAPI paths', () => {
    expect(openapiPath('/api/v1/builds/:id/events')).toEqual({
      path: '/api/v1/builds/{id}/events',
      params: ['id'],
    });
    expect(openapiPath('/api/v1/x/:n(^\\d+)/*')).toEqual({
      path: '/api/v1/x/{n}/{wildcard}',
      params: ['n', 'wildcard'],
    });
  });

  it('documents the API routes registered after collectRoutes, with their schemas', async () => {
    const app = Fastify();
    const routes = collectRoutes(app);
    app.get('/healthz', { config: { access: 'public' } }, async () => 'ok');
    await app.register(
      async (api) => {
        api.get('/', { config: { access: 'signed-in' } }, async () => ({}));
        api.post(
          '/things/:name',
          {
            config: { access: 'admin' },
            schema: {
              params: { type: 'object', properties: { name: { type: 'string', minLength: 1 } } },
              querystring: { type: 'object', properties: { dry: { type: 'boolean' } } },
              body: { content: { 'application/json': { schema: { type: 'object', required: ['a'] } } } },
              response: { 201: { type: 'object', properties: { id: { type: 'string' } } } },
            },
          },
          async () => ({ id: 'x' }),
        );
      },
      { prefix: '/api/v1' },
    );
    await app.register(openapi, { routes });
    const res = await app.inject('/api/v1/openapi.json');
    expect(res.statusCode).toBe(200);
    const doc = res.json<{ paths: Record<string, Record<string, Record<string, unknown>>> }>();
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/api/v1',
      '/api/v1/openapi.json',
      '/api/v1/things/{name}',
    ]);
    const post = doc.paths['/api/v1/things/{name}']?.post;
    expect(post?.parameters).toEqual([
      { name: 'name', in: 'path', required: true, schema: { type: 'string', minLength: 1 } },
      { name: 'dry', in: 'query', required: false, schema: { type: 'boolean' } },
    ]);
    expect(post?.requestBody).toEqual({
      required: true,
      content: { 'application/json': { schema: { type: 'object', required: ['a'] } } },
    });
    expect(post?.responses).toMatchObject({
      201: { content: { 'application/json': { schema: { type: 'object' } } } },
    });
    expect(doc.paths['/api/v1']?.get?.description).toMatch(/no JSON schema/);
    // Each operation says who may call it; a public one needs no credentials.
    expect(post?.['x-access']).toBe('admin');
    expect(doc.paths['/api/v1']?.get?.['x-access']).toBe('signed-in');
    expect(doc.paths['/api/v1/openapi.json']?.get?.security).toEqual([]);
    await app.close();
  });
});
