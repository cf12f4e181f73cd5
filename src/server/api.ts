// The JSON API under /api/v1/. This file wires system endpoints; later feature areas
// (registry browsing, builds, services) register their own plugins under the same prefix.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { LOG_LEVELS, type Config, type LogLevel } from '../config/schema.js';
import type { AuditTrail } from '../ledger/audit.js';
import { GcBusyError, type GcRunner } from '../registry/gc-runner.js';
import { HttpError } from './envelope.js';
import { BUILDKIT_VERSION, PACKAGE_VERSION } from '../paths.js';
import { ADMINS, ANYONE } from '../http/access.js';

export const apiRoutes: FastifyPluginAsync<{
  config: Config;
  gc: GcRunner;
  audit: AuditTrail;
  /** Whether the caller of a public route is an admin (everyone is while authentication is off). */
  maySeeHost: (req: FastifyRequest) => Promise<boolean>;
}> = async (app, { config, gc, audit, maySeeHost }) => {
  app.get('/', ANYONE, async () => ({ name: 'opencloud', version: PACKAGE_VERSION, api: 'v1' }));

  // Versions for anyone; where the server keeps its data and finds its daemons only for admins
  // (paths on the host help an attacker more than they help a caller).
  app.get('/system/info', ANYONE, async (req) => {
    const info = { version: PACKAGE_VERSION, node: process.versions.node, buildkitVersion: BUILDKIT_VERSION };
    if (!(await maySeeHost(req))) return info;
    return {
      ...info,
      listen: `${config.listen.host}:${config.listen.port}`,
      dataDir: config.dataDir,
      sockets: { containerd: config.containerd.socket, buildkit: config.buildkit.socket },
    };
  });

  // The log level, changeable while the server runs (an admin chasing a problem turns on debug
  // without a restart); it applies to every log line from the next one on, until the next start.
  const levelSchema = {
    type: 'object',
    required: ['level'],
    additionalProperties: false,
    properties: { level: { type: 'string', enum: [...LOG_LEVELS] } },
  } as const;
  app.get('/system/log-level', { ...ADMINS, schema: { response: { 200: levelSchema } } }, async () => ({
    level: app.log.level as LogLevel,
  }));
  app.put<{ Body: { level: LogLevel } }>(
    '/system/log-level',
    { ...ADMINS, schema: { body: levelSchema, response: { 200: levelSchema } } },
    async (req) => {
      const before = app.log.level;
      app.log.level = req.body.level;
      app.log.warn(
        { before, level: req.body.level, by: req.principal?.name ?? 'anonymous' },
        'log level changed',
      );
      return { level: req.body.level };
    },
  );

  app.get('/system/doctor', ADMINS, async () => {
    // Loaded on first use: the gRPC stack costs start-up time and memory the server rarely needs.
    const [{ runDoctor }, { gatherAccess }, { assessAccess }] = await Promise.all([
      import('../doctor/checks.js'),
      import('../doctor/access-host.js'),
      import('../doctor/access.js'),
    ]);
    // The same report as `opencloud doctor --json`: who the server runs as, its groups as this
    // process holds them, and whether that reaches the daemons' sockets.
    const [base, facts] = await Promise.all([runDoctor(config), gatherAccess(config)]);
    const { findings, ...access } = assessAccess(facts);
    const checks = [...base, ...findings];
    return { healthy: checks.every((c) => c.status !== 'fail'), checks, access };
  });

  app.get<{ Querystring: { limit?: number; before?: number } }>(
    '/audit',
    {
      ...ADMINS,
      schema: {
        querystring: {
          type: 'object',
          properties: { limit: { type: 'integer', minimum: 1, maximum: 1000 }, before: { type: 'integer' } },
        },
      },
    },
    async (req) => ({ entries: await audit.list(req.query.limit ?? 100, req.query.before) }),
  );

  app.post<{ Body: { dryRun?: boolean; deleteUntagged?: boolean; gracePeriod?: number } }>(
    '/registry/gc',
    {
      ...ADMINS,
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            dryRun: { type: 'boolean' },
            deleteUntagged: { type: 'boolean' },
            gracePeriod: { type: 'integer', minimum: 0 },
          },
        },
      },
    },
    async (req) => {
      try {
        return await gc.run(req.body ?? {});
      } catch (err) {
        if (err instanceof GcBusyError) throw new HttpError(409, 'GC_RUNNING', err.message);
        throw err;
      }
    },
  );
};
