// GET /api/v1/registry/tags: one repository's tags as the UI's tag list shows them, in one request
// instead of a manifest and a config fetched per tag: digest, size (for an index, each platform's
// and their sum), push and last pull time and referrers by type, sorted (newest push first,
// version, name), filtered by a piece of the name, and paged on the server; or one tag by name,
// or the tags of one manifest (a manifest's page), reading only their rows. Callers who may not
// pull the repository get the same 404 as for a repository that does not exist.
import type { FastifyPluginAsync, FastifyRequest, FastifySchema } from 'fastify';
import { allowedActions, isAdmin } from '../auth/access.js';
import { ACTIONS, type Action } from '../auth/patterns.js';
import { ANONYMOUS, type Principal } from '../auth/store.js';
import type { AccessRule } from '../http/access.js';
import { readManifest, type Registry } from '../registry/context.js';
import { validateName } from '../registry/names.js';
import { sortTags, TAG_ORDERS, type TagOrder } from '../registry/tag-order.js';
import type { TagDetail } from '../state/store.js';
import { HttpError } from './envelope.js';
import type { AuthContext } from './registry-auth.js';

const MAX_LIMIT = 500;

interface TagsQuery {
  repository: string;
  sort?: TagOrder;
  filter?: string;
  tag?: string;
  digest?: string;
  limit?: number;
  offset?: number;
}

interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  digest: string;
  size: number;
}

type TagRow = Omit<TagDetail, 'children'> & { platforms?: Platform[] };

const unknown = (name: string) =>
  new HttpError(404, 'REPOSITORY_UNKNOWN', `no repository ${name} (or you may not pull it)`);

const asked = new WeakMap<FastifyRequest, Promise<Action[]>>();

/**
 * What the caller may do in the repository named by `?repository=` (everything with authentication
 * off), read once per request: the access rule and the answer's `actions` share it.
 */
function callerActions(auth: AuthContext, req: FastifyRequest): Promise<Action[]> {
  let actions = asked.get(req);
  if (!actions) {
    actions = (async () => {
      const p: Principal = req.principal ?? ANONYMOUS;
      if (!(await auth.enabled()) || isAdmin(p)) return [...ACTIONS];
      return [...(await allowedActions(auth.store, p, (req.query as { repository: string }).repository))];
    })();
    asked.set(req, actions);
  }
  return actions;
}

/** Pull on the repository named by `?repository=` (everyone, with authentication off). */
function pullRule(auth: AuthContext): AccessRule {
  return {
    who: 'users who may pull the repository',
    // After the query is validated: a name the schema refuses is a 400, not a 404.
    when: 'body',
    signIn: true,
    async check(req: FastifyRequest) {
      if (!(await callerActions(auth, req)).includes('pull'))
        throw unknown((req.query as { repository: string }).repository);
    },
  };
}

/** The platforms an index lists, from its bytes, each with the size its child manifest pulls. */
async function platformsOf(reg: Registry, tag: TagDetail): Promise<Platform[] | undefined> {
  if (!tag.children) return undefined;
  const sizes = new Map(tag.children.map((c) => [c.digest, c.size]));
  let listed: { digest?: string; platform?: { os?: string; architecture?: string; variant?: string } }[];
  try {
    listed =
      (JSON.parse((await readManifest(reg, tag.digest)).toString('utf8')) as { manifests?: typeof listed })
        .manifests ?? [];
  } catch {
    return undefined; // the tag list still answers; the index's own page says what is wrong
  }
  return listed
    .filter((m) => m.digest && m.platform?.os && m.platform.architecture)
    .map((m) => ({
      os: m.platform?.os as string,
      architecture: m.platform?.architecture as string,
      ...(m.platform?.variant ? { variant: m.platform.variant } : {}),
      digest: m.digest as string,
      size: sizes.get(m.digest as string) ?? 0,
    }));
}

const tagSchema = {
  type: 'object',
  required: [
    'name',
    'digest',
    'mediaType',
    'artifactType',
    'pushedAt',
    'pulledAt',
    'size',
    'manifestSize',
    'referrers',
  ],
  properties: {
    name: { type: 'string' },
    digest: { type: 'string' },
    mediaType: { type: 'string' },
    artifactType: { type: ['string', 'null'] },
    pushedAt: { type: 'string', description: 'When the tag last moved (push or re-tag), ISO 8601' },
    pulledAt: {
      type: ['string', 'null'],
      description: 'When its manifest was last pulled (a GET, by tag or digest), ISO 8601; null: never',
    },
    size: {
      type: 'integer',
      description: "Bytes a pull downloads: config and layers; an index: the sum of its platforms'",
    },
    manifestSize: { type: 'integer' },
    platforms: {
      type: 'array',
      description: 'An index: the platforms it lists, each with its own size',
      items: {
        type: 'object',
        required: ['os', 'architecture', 'digest', 'size'],
        properties: {
          os: { type: 'string' },
          architecture: { type: 'string' },
          variant: { type: 'string' },
          digest: { type: 'string' },
          size: { type: 'integer' },
        },
      },
    },
    referrers: {
      type: 'array',
      description: 'Signatures, SBOMs, attestations… attached to this manifest, counted by artifact type',
      items: {
        type: 'object',
        required: ['artifactType', 'count'],
        properties: { artifactType: { type: ['string', 'null'] }, count: { type: 'integer' } },
      },
    },
  },
} as const;

export const tagsApi: FastifyPluginAsync<{ registry: Registry; auth: AuthContext }> = async (
  app,
  { registry, auth },
) => {
  app.get<{ Querystring: TagsQuery }>(
    '/api/v1/registry/tags',
    {
      config: { access: pullRule(auth) },
      schema: {
        summary: "A repository's tags with digest, size, push time and referrers; sorted, filtered, paged",
        querystring: {
          type: 'object',
          required: ['repository'],
          additionalProperties: false,
          properties: {
            repository: { type: 'string', minLength: 1, maxLength: 255 },
            sort: { type: 'string', enum: [...TAG_ORDERS], default: 'newest' },
            filter: { type: 'string', maxLength: 128, description: 'Only tags whose name contains this' },
            tag: { type: 'string', minLength: 1, maxLength: 128, description: 'Only this tag' },
            digest: {
              type: 'string',
              minLength: 1,
              maxLength: 200,
              description: 'Only the tags pointing at this manifest',
            },
            limit: { type: 'integer', minimum: 1, maximum: MAX_LIMIT, default: 50 },
            offset: { type: 'integer', minimum: 0, default: 0 },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['repository', 'total', 'offset', 'actions', 'tags'],
            properties: {
              repository: { type: 'string' },
              actions: {
                type: 'array',
                items: { type: 'string', enum: [...ACTIONS] },
                description: 'What the caller may do in this repository (the UI offers only those)',
              },
              total: { type: 'integer', description: 'Tags matching the filter, on every page' },
              offset: { type: 'integer' },
              tags: { type: 'array', items: tagSchema },
            },
          },
        },
      } as FastifySchema,
    },
    async (req) => {
      const { repository, sort = 'newest', filter = '', tag, digest, limit = 50, offset = 0 } = req.query;
      if (tag !== undefined && digest !== undefined)
        throw new HttpError(400, 'BAD_REQUEST', 'give tag or digest, not both');
      try {
        validateName(repository);
      } catch {
        throw unknown(repository);
      }
      const id = await registry.state.repositoryId(repository);
      if (id === undefined) throw unknown(repository);
      const needle = filter.toLowerCase();
      // This node's pulls not yet written show too.
      await registry.pullTimes?.flush().catch(() => undefined);
      const only = tag !== undefined ? { tag } : digest !== undefined ? { digest } : undefined;
      const all = (await registry.state.tagDetails(id, only)).filter((t) =>
        t.name.toLowerCase().includes(needle),
      );
      const page = sortTags(all, sort).slice(offset, offset + limit);
      const tags: TagRow[] = await Promise.all(
        page.map(async (detail) => {
          const { children: _children, ...t } = detail;
          const platforms = await platformsOf(registry, detail);
          return platforms ? { ...t, platforms } : t;
        }),
      );
      const actions = await callerActions(auth, req);
      return { repository, total: all.length, offset, actions, tags };
    },
  );
};
