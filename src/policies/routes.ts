// The policies over HTTP, for admins: GET /api/v1/policies answers every kind in the ledger
// document's shape; GET …/immutable-tags/preview names the tags a rule would keep fixed now;
// PUT /api/v1/policies/immutable-tags, …/retention and …/quotas make that kind's rules exactly
// the ones given (an empty list removes them all); previews say what a rule would do now, and
// …/quotas/usage what each namespace holds. A rule that does not check out is a 400
// naming it, and nothing changes.
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
import { quotaRules, quotaUsage, setQuotaRules, type QuotaRule } from './quotas.js';
import {
  checkRetentionRule,
  previewRetentionRule,
  retentionRules,
  setRetentionRules,
  type RetentionRule,
} from './retention.js';

const MAX_RULES = 100;

const retentionRuleSchema = {
  type: 'object',
  required: ['repositories'],
  additionalProperties: false,
  properties: {
    repositories: { type: 'string', minLength: 1, maxLength: 255 },
    keepLast: { type: 'integer', minimum: 0, maximum: 1_000_000 },
    keepTags: { type: 'string', minLength: 1, maxLength: 256 },
    pulledWithinDays: { type: 'integer', minimum: 0, maximum: 1_000_000 },
    untaggedAfterDays: { type: 'integer', minimum: 0, maximum: 1_000_000 },
  },
} as const;

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

  app.get<{ Querystring: ImmutableTagRule }>(
    '/api/v1/policies/immutable-tags/preview',
    {
      ...ADMINS,
      schema: {
        summary: 'The tags an immutable-tags rule would keep fixed now (before it is set)',
        querystring: {
          type: 'object',
          required: ['repositories', 'tags'],
          additionalProperties: false,
          properties: {
            repositories: { type: 'string', minLength: 1, maxLength: 255 },
            tags: { type: 'string', minLength: 1, maxLength: 256 },
          },
        },
      } as FastifySchema,
    },
    async (req) => {
      let rule: ImmutableTagRule;
      try {
        rule = checkImmutableRule(req.query);
      } catch (err) {
        if (err instanceof PolicyError) throw new HttpError(400, 'POLICY_INVALID', err.message);
        throw err;
      }
      return { rule, ...(await previewImmutableRule(state, rule)) };
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

  app.put<{ Body: { rules: QuotaRule[] } }>(
    '/api/v1/policies/quotas',
    {
      ...ADMINS,
      schema: {
        summary: 'Makes the quotas exactly these (checked as bytes are pushed)',
        body: {
          type: 'object',
          required: ['rules'],
          additionalProperties: false,
          properties: {
            rules: {
              type: 'array',
              maxItems: MAX_RULES,
              items: {
                type: 'object',
                required: ['repositories', 'bytes'],
                additionalProperties: false,
                properties: {
                  repositories: { type: 'string', minLength: 1, maxLength: 255 },
                  bytes: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
                },
              },
            },
          },
        },
      } as FastifySchema,
    },
    async (req) => {
      try {
        await setQuotaRules(state, req.body.rules);
      } catch (err) {
        if (err instanceof PolicyError) throw new HttpError(400, 'POLICY_INVALID', err.message);
        throw err;
      }
      return { quotas: await quotaRules(state) };
    },
  );

  app.get<{ Querystring: RetentionRule }>(
    '/api/v1/policies/retention/preview',
    {
      ...ADMINS,
      schema: {
        summary: 'The tags garbage collection would delete now with this retention rule in place',
        querystring: { ...retentionRuleSchema, additionalProperties: false },
      } as FastifySchema,
    },
    async (req) => {
      let rule: RetentionRule;
      try {
        rule = checkRetentionRule(req.query);
      } catch (err) {
        if (err instanceof PolicyError) throw new HttpError(400, 'POLICY_INVALID', err.message);
        throw err;
      }
      return { rule, ...(await previewRetentionRule(state, rule, await immutableTagRules(state))) };
    },
  );

  app.put<{ Body: { rules: RetentionRule[] } }>(
    '/api/v1/policies/retention',
    {
      ...ADMINS,
      schema: {
        summary: 'Makes the retention rules exactly these (garbage collection applies them)',
        body: {
          type: 'object',
          required: ['rules'],
          additionalProperties: false,
          properties: {
            rules: {
              type: 'array',
              maxItems: MAX_RULES,
              items: retentionRuleSchema,
            },
          },
        },
      } as FastifySchema,
    },
    async (req) => {
      try {
        await setRetentionRules(state, req.body.rules);
      } catch (err) {
        if (err instanceof PolicyError) throw new HttpError(400, 'POLICY_INVALID', err.message);
        throw err;
      }
      return { retention: await retentionRules(state) };
    },
  );

  app.put<{ Body: { rules: ImmutableTagRule[] } }>(
    '/api/v1/policies/immutable-tags',
    {
      ...ADMINS,
      schema: {
        summary: 'Makes the immutable-tags rules exactly these',
        body: {
          type: 'object',
          required: ['rules'],
          additionalProperties: false,
          properties: {
            rules: {
              type: 'array',
              maxItems: MAX_RULES,
              items: {
                type: 'object',
                required: ['repositories', 'tags'],
                additionalProperties: false,
                properties: {
                  repositories: { type: 'string', minLength: 1, maxLength: 255 },
                  tags: { type: 'string', minLength: 1, maxLength: 256 },
                },
              },
            },
          },
        },
      } as FastifySchema,
    },
    async (req) => {
      try {
        await setImmutableTagRules(state, req.body.rules);
      } catch (err) {
        if (err instanceof PolicyError) throw new HttpError(400, 'POLICY_INVALID', err.message);
        throw err;
      }
      return { immutableTags: await immutableTagRules(state) };
    },
  );
};
