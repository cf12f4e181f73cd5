import AjvCompiler from '@fastify/ajv-compiler';
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { lazySerializers, lazyValidators } from './lazy-compilers.js';

describe('lazyValidators', () => {
  it('compiles a schema on its first use, then validates and reports like the eager compiler', async () => {
    const compiled: string[] = [];
    let loads = 0;
    const eager = AjvCompiler();
    const counting: typeof eager = (externals, options) => {
      const compile = eager(externals, options);
      return (route) => {
        compiled.push(`${route.url} ${route.httpPart}`);
        return compile(route);
      };
    };
    const app = Fastify({
      schemaController: {
        compilersFactory: {
          buildValidator: lazyValidators(() => {
            loads++;
            return counting;
          }),
        },
      },
    });
    const schema = { body: { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } } };
    app.post('/a', { schema }, async (req) => req.body);
    app.post('/b', { schema }, async (req) => req.body);
    await app.ready();
    expect([compiled, loads]).toEqual([[], 0]); // nothing loaded or compiled at start-up

    const ok = await app.inject({ method: 'POST', url: '/a', payload: { n: '5' } });
    expect(ok.json()).toEqual({ n: 5 }); // coerced, as with Fastify's default options
    const bad = await app.inject({ method: 'POST', url: '/a', payload: { n: 'x' } });
    expect([bad.statusCode, bad.json().message]).toEqual([400, 'body/n must be integer']);
    const missing = await app.inject({ method: 'POST', url: '/a', payload: {} });
    expect(missing.json().message).toBe("body must have required property 'n'");
    expect(compiled).toEqual(['/a body']); // once, on the first request of /a; /b never called
    expect(loads).toBe(1);
  });
});

describe('lazySerializers', () => {
  it('compiles a response schema on its first answer, then serializes like the eager compiler', async () => {
    const compiled: string[] = [];
    let loads = 0;
    const eager = SerializerSelector();
    const counting: typeof eager = (externals, options) => {
      const compile = eager(externals, options);
      return (route) => {
        compiled.push(`${route.url} ${route.httpStatus}`);
        return compile(route);
      };
    };
    const app = Fastify({
      schemaController: {
        compilersFactory: {
          buildSerializer: lazySerializers(() => {
            loads++;
            return counting;
          }),
        },
      },
    });
    const schema = {
      response: { 200: { type: 'object', properties: { n: { type: 'integer' }, name: { type: 'string' } } } },
    };
    app.get('/a', { schema }, async () => ({ n: '7', name: 'x', secret: 'not in the schema' }));
    app.get('/b', { schema }, async () => ({ n: 1 }));
    await app.ready();
    expect([compiled, loads]).toEqual([[], 0]); // nothing loaded or compiled at start-up

    const first = await app.inject({ method: 'GET', url: '/a' });
    // Serialized by the schema: the number coerced, the property it does not name left out.
    expect(first.body).toBe('{"n":7,"name":"x"}');
    expect((await app.inject({ method: 'GET', url: '/a' })).body).toBe('{"n":7,"name":"x"}');
    expect(compiled).toEqual(['/a 200']); // once, on the first answer of /a; /b never called
    expect(loads).toBe(1);
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
