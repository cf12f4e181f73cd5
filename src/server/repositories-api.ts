// GET /api/v1/registry/repositories: the repositories a caller may pull, with their tag count,
// bytes stored and last push, sorted (name, size, last push), filtered by a piece of the name and
// paged on the server: the UI's repository list in one request, past the catalog's 1000.
import type { FastifyPluginAsync, FastifySchema } from 'fastify';
import { actionsOf, isAdmin } from '../auth/access.js';
import { ANONYMOUS } from '../auth/store.js';
import { SIGNED_IN } from '../http/access.js';
import type { RepositoryDetail, StateStore } from '../state/store.js';
import type { AuthContext } from './registry-auth.js';

const ORDERS = ['name', 'size', 'pushed'] as const;
type RepositoryOrder = (typeof ORDERS)[number];

interface Query {
  sort?: RepositoryOrder;
  filter?: string;
  limit?: number;
  offset?: number;
}

const byName = (a: RepositoryDetail, b: RepositoryDetail) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
const COMPARE: Record<RepositoryOrder, (a: RepositoryDetail, b: RepositoryDetail) => number> = {
  name: byName,
  // Largest first, newest push first: what people look for; ties by name.
  size: (a, b) => b.size - a.size || byName(a, b),
  pushed: (a, b) => (b.pushedAt ?? '').localeCompare(a.pushedAt ?? '') || byName(a, b),
};

export const repositoriesApi: FastifyPluginAsync<{ state: StateStore; auth: AuthContext }> = async (
  app,
  { state, auth },
) => {
  app.get<{ Querystring: Query }>(
    '/api/v1/registry/repositories',
    {
      ...SIGNED_IN,
      schema: {
        summary:
          'Repositories the caller may pull, with tag count, bytes and last push; sorted, filtered, paged',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            sort: { type: 'string', enum: [...ORDERS], default: 'name' },
            filter: { type: 'string', maxLength: 255, description: 'Only names containing this' },
            limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
            offset: { type: 'integer', minimum: 0, default: 0 },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['total', 'offset', 'repositories'],
            properties: {
              total: {
                type: 'integer',
                description: 'Repositories matching the filter that the caller may pull',
              },
              offset: { type: 'integer' },
              repositories: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['name', 'tags', 'size', 'pushedAt'],
                  properties: {
                    name: { type: 'string' },
                    tags: { type: 'integer' },
                    size: { type: 'integer', description: 'Bytes of the blobs linked into it, each once' },
                    pushedAt: { type: ['string', 'null'], description: 'When a tag last moved' },
                  },
                },
              },
            },
          },
        },
      } as FastifySchema,
    },
    async (req) => {
      const { sort = 'name', filter = '', limit = 50, offset = 0 } = req.query;
      const p = req.principal ?? ANONYMOUS;
      const needle = filter.toLowerCase();
      let all = (await state.repositoryDetails()).filter((r) => r.name.includes(needle));
      if ((await auth.enabled()) && !isAdmin(p)) {
        const may = await actionsOf(auth.store, p);
        all = all.filter((r) => may(r.name).has('pull'));
      }
      all.sort(COMPARE[sort]);
      return { total: all.length, offset, repositories: all.slice(offset, offset + limit) };
    },
  );
};
