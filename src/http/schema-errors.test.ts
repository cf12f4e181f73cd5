import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { schemaError } from './schema-errors.js';

describe('schema error messages', () => {
  const app = Fastify({
    ajv: { customOptions: { removeAdditional: false } },
    schemaErrorFormatter: schemaError,
  });
  app.post(
    '/',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name'],
          properties: {
            name: { type: 'string' },
            inner: { type: 'object', additionalProperties: false, properties: { a: { type: 'number' } } },
          },
        },
      },
    },
    async () => ({ ok: true }),
  );
  const post = async (payload: unknown) => {
    const r = await app.inject({ method: 'POST', url: '/', payload: payload as object });
    return { status: r.statusCode, message: (r.json() as { message: string }).message };
  };

  it('names an unknown property, at the top and nested', async () => {
    expect(await post({ name: 'x', tag: '1' })).toEqual({
      status: 400,
      message: 'body has an unknown property "tag"',
    });
    expect(await post({ name: 'x', inner: { b: 1 } })).toEqual({
      status: 400,
      message: 'body/inner has an unknown property "b"',
    });
  });

  it("keeps Ajv's wording for every other failure", async () => {
    expect(await post({})).toEqual({ status: 400, message: "body must have required property 'name'" });
    expect(await post({ name: 'x', inner: { a: 'nope' } })).toEqual({
      status: 400,
      message: 'body/inner/a must be number',
    });
  });

  it('accepts a valid body', async () => {
    expect((await app.inject({ method: 'POST', url: '/', payload: { name: 'x' } })).statusCode).toBe(200);
  });
});
