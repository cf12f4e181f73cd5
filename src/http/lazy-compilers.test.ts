import AjvCompiler from '@fastify/ajv-compiler';
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { lazySerializers, lazyValidators } from './lazy-compilers.js';

/**
 * `eager` as a factory the lazy compilers load: `seen` counts the loads and names each route
 * compiled (`label`), so a test sees what happened at start-up and what on first use.
 */
function counting<X, O, R, C>(
  eager: (externals: X, options: O) => (route: R) => C,
  label: (route: R) => string,
) {
  const seen = { compiled: [] as string[], loads: 0 };
  const factory = (externals: X, options: O) => {
    const compile = eager(externals, options);
    return (route: R) => {
      seen.compiled.push(label(route));
      return compile(route);
    };
  };
  return {
    seen,
    load: () => {
      seen.loads++;
      return factory as typeof eager;
    },
  };
}

describe('lazyValidators', () => {
  it('compiles a schema on its first use, then validates and reports like the eager compiler', async () => {
    const { seen, load } = counting(AjvCompiler(), (route) => `${route.url} ${route.httpPart}`);
    const app = Fastify({ schemaController: { compilersFactory: { buildValidator: lazyValidators(load) } } });
    const schema = { body: { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } } };
    app.post('/a', { schema }, async (req) => req.body);
    app.post('/b', { schema }, async (req) => req.body);
    await app.ready();
    expect([seen.compiled, seen.loads]).toEqual([[], 0]); // nothing loaded or compiled at start-up

    const ok = await app.inject({ method: 'POST', url: '/a', payload: { n: '5' } });
    expect(ok.json()).toEqual({ n: 5 }); // coerced, as with Fastify's default options
    const bad = await app.inject({ method: 'POST', url: '/a', payload: { n: 'x' } });
    expect([bad.statusCode, bad.json().message]).toEqual([400, 'body/n must be integer']);
    const missing = await app.inject({ method: 'POST', url: '/a', payload: {} });
    expect(missing.json().message).toBe("body must have required property 'n'");
    expect(seen.compiled).toEqual(['/a body']); // once, on the first request of /a; /b never called
    expect(seen.loads).toBe(1);
  });
});

describe('lazySerializers', () => {
  it('compiles a response schema on its first answer, then serializes like the eager compiler', async () => {
    const { seen, load } = counting(SerializerSelector(), (route) => `${route.url} ${route.httpStatus}`);
    const app = Fastify({
      schemaController: { compilersFactory: { buildSerializer: lazySerializers(load) } },
    });
    const schema = {
      response: { 200: { type: 'object', properties: { n: { type: 'integer' }, name: { type: 'string' } } } },
    };
    app.get('/a', { schema }, async () => ({ n: '7', name: 'x', secret: 'not in the schema' }));
    app.get('/b', { schema }, async () => ({ n: 1 }));
    await app.ready();
    expect([seen.compiled, seen.loads]).toEqual([[], 0]); // nothing loaded or compiled at start-up

    const first = await app.inject({ method: 'GET', url: '/a' });
    // Serialized by the schema: the number coerced, the property it does not name left out.
    expect(first.body).toBe('{"n":7,"name":"x"}');
    expect((await app.inject({ method: 'GET', url: '/a' })).body).toBe('{"n":7,"name":"x"}');
    expect(seen.compiled).toEqual(['/a 200']); // once, on the first answer of /a; /b never called
    expect(seen.loads).toBe(1);
  });
});

describe("Fastify's own compilers, loaded on first use", () => {
  it('validate and serialize as Fastify does', async () => {
    const app = Fastify({
      schemaController: {
        compilersFactory: { buildValidator: lazyValidators(), buildSerializer: lazySerializers() },
      },
    });
    const schema = {
      body: { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } },
      response: { 200: { type: 'object', properties: { n: { type: 'integer' } } } },
    };
    app.post('/a', { schema }, async (req) => ({ ...(req.body as object), extra: 'left out' }));
    const ok = await app.inject({ method: 'POST', url: '/a', payload: { n: '5' } });
    expect(ok.body).toBe('{"n":5}');
    const bad = await app.inject({ method: 'POST', url: '/a', payload: { n: 'x' } });
    expect([bad.statusCode, bad.json().message]).toEqual([400, 'body/n must be integer']);
  });
});
