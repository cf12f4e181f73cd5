// GET /api/v1/registry/summary: what the dashboard shows of the registry — how many repositories,
// manifests and tags, the blobs and their bytes, and the last tags pushed — read from the
// StateStore. With authentication on, a caller who is not an admin sees only the repositories it
// may pull (the catalog's predicate: allowedActions(…).has('pull')), counts included; an admin (or
// everyone, with authentication off) sees the whole registry, blobs as the blob store holds them.
import type { FastifyPluginAsync, FastifySchema } from 'fastify';
import { allowedActions, isAdmin } from '../auth/access.js';
import { ANONYMOUS } from '../auth/store.js';
import type { StateStore } from '../state/store.js';
import type { AuthContext } from './registry-auth.js';
import { SIGNED_IN } from '../http/access.js';

const DEFAULT_RECENT = 10;
/** Ids per IN (…) list: well under SQLite's and PostgreSQL's bound-parameter limits. */
const CHUNK = 500;

export interface RecentPush {
  repository: string;
  tag: string;
  digest: string;
  at: string;
}

export interface RegistrySummary {
  /** 'registry': every repository; 'visible': only those the caller may pull. */
  scope: 'registry' | 'visible';
  repositories: number;
  manifests: number;
  tags: number;
  blobs: number;
  blobBytes: number;
  recentPushes: RecentPush[];
}

const count = { type: 'integer', minimum: 0 } as const;
const summarySchema = {
  type: 'object',
  required: ['scope', 'repositories', 'manifests', 'tags', 'blobs', 'blobBytes', 'recentPushes'],
  additionalProperties: false,
  properties: {
    scope: {
      type: 'string',
      enum: ['registry', 'visible'],
      description:
        'registry: the whole registry (admins, or no authentication); visible: only the repositories the caller may pull',
    },
    repositories: count,
    manifests: { ...count, description: 'Manifests, counted once per repository holding them' },
    tags: count,
    blobs: {
      ...count,
      description:
        'Distinct blobs (layers, configs and the manifests themselves): every blob the store holds (scope registry, garbage included until collected), or those linked into visible repositories',
    },
    blobBytes: { ...count, description: 'Their total size in bytes' },
    recentPushes: {
      type: 'array',
      description: 'The most recently pushed tags, newest first',
      items: {
        type: 'object',
        required: ['repository', 'tag', 'digest', 'at'],
        additionalProperties: false,
        properties: {
          repository: { type: 'string' },
          tag: { type: 'string' },
          digest: { type: 'string' },
          at: { type: 'string', format: 'date-time', description: 'When the tag was last pushed' },
        },
      },
    },
  },
} as const;

const chunks = <T>(items: T[]): T[][] => {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
};

const byNewest = (a: RecentPush, b: RecentPush) =>
  b.at.localeCompare(a.at) || a.repository.localeCompare(b.repository) || a.tag.localeCompare(b.tag);

/** The whole registry. */
async function wholeSummary(state: StateStore, recent: number): Promise<RegistrySummary> {
  const db = state.db;
  const [repos, manifests, tags, blobs, pushes] = await Promise.all([
    db
      .selectFrom('repositories')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow(),
    db
      .selectFrom('manifests')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow(),
    db
      .selectFrom('tags')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow(),
    db
      .selectFrom('blobs')
      .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.sum<number>('size').as('bytes')])
      .executeTakeFirstOrThrow(),
    recent === 0
      ? Promise.resolve([])
      : db
          .selectFrom('tags')
          .innerJoin('repositories', 'repositories.id', 'tags.repository_id')
          .select([
            'repositories.name as repository',
            'tags.name as tag',
            'tags.manifest_digest',
            'tags.updated_at',
          ])
          .orderBy('tags.updated_at', 'desc')
          .orderBy('repositories.name')
          .orderBy('tags.name')
          .limit(recent)
          .execute(),
  ]);
  return {
    scope: 'registry',
    repositories: Number(repos.n),
    manifests: Number(manifests.n),
    tags: Number(tags.n),
    blobs: Number(blobs.n),
    blobBytes: Number(blobs.bytes ?? 0),
    recentPushes: pushes.map((p) => ({
      repository: p.repository,
      tag: p.tag,
      digest: p.manifest_digest,
      at: p.updated_at,
    })),
  };
}

/** Only the repositories `mayPull` allows. */
async function visibleSummary(
  state: StateStore,
  recent: number,
  mayPull: (repository: string) => Promise<boolean>,
): Promise<RegistrySummary> {
  const db = state.db;
  const all = await db.selectFrom('repositories').select(['id', 'name']).orderBy('name').execute();
  const visible: { id: number; name: string }[] = [];
  for (const r of all) if (await mayPull(r.name)) visible.push(r);
  const ids = new Set(visible.map((r) => r.id));
  const perRepository = async (table: 'manifests' | 'tags') =>
    (
      await db
        .selectFrom(table)
        .select((eb) => ['repository_id', eb.fn.countAll<number>().as('n')])
        .groupBy('repository_id')
        .execute()
    ).reduce((sum, row) => sum + (ids.has(Number(row.repository_id)) ? Number(row.n) : 0), 0);
  const blobSizes = new Map<string, number>();
  const pushes: RecentPush[] = [];
  for (const part of chunks(visible.map((r) => r.id))) {
    const linked = await db
      .selectFrom('repository_blobs')
      .innerJoin('blobs', 'blobs.digest', 'repository_blobs.digest')
      .select(['blobs.digest', 'blobs.size'])
      .distinct()
      .where('repository_blobs.repository_id', 'in', part)
      .execute();
    for (const b of linked) blobSizes.set(b.digest, Number(b.size));
    if (recent === 0) continue;
    const rows = await db
      .selectFrom('tags')
      .innerJoin('repositories', 'repositories.id', 'tags.repository_id')
      .select([
        'repositories.name as repository',
        'tags.name as tag',
        'tags.manifest_digest',
        'tags.updated_at',
      ])
      .where('tags.repository_id', 'in', part)
      .orderBy('tags.updated_at', 'desc')
      .limit(recent)
      .execute();
    for (const p of rows)
      pushes.push({ repository: p.repository, tag: p.tag, digest: p.manifest_digest, at: p.updated_at });
  }
  return {
    scope: 'visible',
    repositories: visible.length,
    manifests: await perRepository('manifests'),
    tags: await perRepository('tags'),
    blobs: blobSizes.size,
    blobBytes: [...blobSizes.values()].reduce((a, b) => a + b, 0),
    recentPushes: pushes.sort(byNewest).slice(0, recent),
  };
}

export const registrySummaryApi: FastifyPluginAsync<{ state: StateStore; auth: AuthContext }> = async (
  app,
  { state, auth },
) => {
  app.get<{ Querystring: { recent?: number } }>(
    '/api/v1/registry/summary',
    {
      ...SIGNED_IN,
      schema: {
        summary: 'Registry counts, storage used and the most recent pushes',
        description:
          'With authentication on, a caller who is not an admin sees only the repositories it may pull: every count, the blobs and the recent pushes are of those.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            recent: {
              type: 'integer',
              minimum: 0,
              maximum: 100,
              default: DEFAULT_RECENT,
              description: 'How many recent pushes to list',
            },
          },
        },
        response: { 200: summarySchema },
      } as FastifySchema,
    },
    async (req): Promise<RegistrySummary> => {
      const recent = req.query.recent ?? DEFAULT_RECENT;
      // The gate has set the principal once authentication is on (an unsigned caller got its 401).
      const principal = req.principal ?? ANONYMOUS;
      if (!(await auth.enabled()) || isAdmin(principal)) return wholeSummary(state, recent);
      return visibleSummary(state, recent, async (r) =>
        (await allowedActions(auth.store, principal, r)).has('pull'),
      );
    },
  );
};
