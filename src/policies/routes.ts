// The policies over HTTP, for admins: GET /api/v1/policies answers every kind in the ledger
// document's shape; PUT /api/v1/policies/immutable-tags, …/retention and …/quotas make that
// kind's rules exactly the ones given (an empty list removes them all); the previews say what a
// rule would do now, and …/quotas/usage what each namespace holds. A rule that does not check
// out is a 400 naming it, and nothing changes.
import type { FastifyPluginAsync, FastifySchema } from 'fastify';
import { ADMINS } from '../http/access.js';
import { HttpError } from '../http/http-error.js';
import type { StateStore } from '../state/store.js';
import {
  checkImmutableRule,
  immutableTagRules,
  PolicyError,
  previewImmutableRule,
  setImmutableTagRules,
  type ImmutableTagRule,
} from './immutable-tags.js';
import { quotaRules, quotaUsage, setQuotaRules } from './quotas.js';
import {
  checkRetentionRule,
  previewRetentionRule,
  retentionRules,
  setRetentionRules,
  type RetentionRule,
} from './retention.js';

const MAX_RULES = 100;

const repositories = { type: 'string', minLength: 1, maxLength: 255 } as const;
const expression = { type: 'string', minLength: 1, maxLength: 256 } as const;
const count = { type: 'integer', minimum: 0, maximum: 1_000_000 } as const;

/** One rule of each kind, as the request schemas check it (the rule's own check follows). */
const RULE_SCHEMAS = {
  immutableTags: { required: ['repositories', 'tags'], properties: { repositories, tags: expression } },
  retention: {
    required: ['repositories'],
    properties: {
      repositories,
      keepLast: count,
      keepTags: expression,
      pulledWithinDays: count,
      untaggedAfterDays: count,
    },
  },
  quotas: {
    required: ['repositories', 'bytes'],
    properties: { repositories, bytes: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } },
  },
} as const;

const ruleSchema = (kind: keyof typeof RULE_SCHEMAS) => ({
  type: 'object',
  additionalProperties: false,
  ...RULE_SCHEMAS[kind],
});

/** A rule's own refusal (PolicyError) as the 400 the client gets. */
async function checked<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof PolicyError) throw new HttpError(400, 'POLICY_INVALID', err.message);
    throw err;
  }
}

/** Each kind's PUT: its path, what it says it does, how the rules are stored and read back. */
const KINDS = [
  {
    path: 'immutable-tags',
    kind: 'immutableTags',
    summary: 'Makes the immutable-tags rules exactly these',
    set: setImmutableTagRules,
    get: immutableTagRules,
  },
  {
    path: 'retention',
    kind: 'retention',
    summary: 'Makes the retention rules exactly these (garbage collection applies them)',
    set: setRetentionRules,
    get: retentionRules,
  },
  {
    path: 'quotas',
    kind: 'quotas',
    summary: 'Makes the quotas exactly these (checked as bytes are pushed)',
    set: setQuotaRules,
    get: quotaRules,
  },
] as const;

export const policiesRoutes: FastifyPluginAsync<{ state: StateStore }> = async (app, { state }) => {
  app.get(
    '/api/v1/policies',
    { ...ADMINS, schema: { summary: 'The policies, in the ledger document’s shape' } as FastifySchema },
    async () => ({
      retention: await retentionRules(state),
      immutableTags: await immutableTagRules(state),
      quotas: await quotaRules(state),
    }),
  );

  for (const k of KINDS) {
    app.put<{ Body: { rules: never[] } }>(
      `/api/v1/policies/${k.path}`,
      {
        ...ADMINS,
        schema: {
          summary: k.summary,
          body: {
            type: 'object',
            required: ['rules'],
            additionalProperties: false,
            properties: { rules: { type: 'array', maxItems: MAX_RULES, items: ruleSchema(k.kind) } },
          },
        } as FastifySchema,
      },
      async (req) => {
        await checked(() => k.set(state, req.body.rules));
        return { [k.kind]: await k.get(state) };
      },
    );
  }

  app.get<{ Querystring: ImmutableTagRule }>(
    '/api/v1/policies/immutable-tags/preview',
    {
      ...ADMINS,
      schema: {
        summary: 'The tags an immutable-tags rule would keep fixed now (before it is set)',
        querystring: ruleSchema('immutableTags'),
      } as FastifySchema,
    },
    async (req) => {
      const rule = await checked(() => checkImmutableRule(req.query));
      return { rule, ...(await previewImmutableRule(state, rule)) };
    },
  );

  app.get<{ Querystring: RetentionRule }>(
    '/api/v1/policies/retention/preview',
    {
      ...ADMINS,
      schema: {
        summary: 'The tags garbage collection would delete now with this retention rule in place',
        querystring: ruleSchema('retention'),
      } as FastifySchema,
    },
    async (req) => {
      const rule = await checked(() => checkRetentionRule(req.query));
      return { rule, ...(await previewRetentionRule(state, rule, await immutableTagRules(state))) };
    },
  );

  app.get(
    '/api/v1/policies/quotas/usage',
    {
      ...ADMINS,
      schema: { summary: 'Each quota with the bytes its repositories hold now' } as FastifySchema,
    },
    async () => ({ quotas: await quotaUsage(state) }),
  );
};
