import AjvCompiler from '@fastify/ajv-compiler';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { lazyValidators } from './lazy-validators.js';

describe('lazyValidators', () => {
  it('compiles a schema on its first use, then validates and reports like the eager compiler', async () => {
    const compiled: string[] = [];
    const eager = AjvCompiler();
    const counting: typeof eager = (externals, options) => {
      const compile = eager(externals, options);
      return (route) => {
        compiled.push(`${route.url} ${route.httpPart}`);
        return compile(route);
      };
    };
    const app = Fastify({
      schemaController: { compilersFactory: { buildValidator: lazyValidators(counting) } },
    });
    const schema = { body: { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } } };
    app.post('/a', { schema }, async (req) => req.body);
    app.post('/b', { schema }, async (req) => req.body);
    await app.ready();
    expect(compiled).toEqual([]); // nothing compiled at start-up

    const ok = await app.inject({ method: 'POST', url: '/a', payload: { n: '5' } });
    expect(ok.json()).toEqual({ n: 5 }); // coerced, as with Fastify's default options
    const bad = await app.inject({ method: 'POST', url: '/a', payload: { n: 'x' } });
    expect([bad.statusCode, bad.json().message]).toEqual([400, 'body/n must be integer']);
    const missing = await app.inject({ method: 'POST', url: '/a', payload: {} });
    expect(missing.json().message).toBe("body must have required property 'n'");
    expect(compiled).toEqual(['/a body']); // once, on the first request of /a; /b never called
  });
});
