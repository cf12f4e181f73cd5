// The service installer over HTTP: list and inspect services, start plan/enable/disable runs in
// the background (202 with the run's id), read a run from the ledger and follow its events as
// Server-Sent Events (stored ones first, then live ones until the recap). Also the seed's
// top-level endpoints: /enable-service, /enable-service-stream and /get-service-status.
// The installer itself loads on first use: it brings the gRPC stack with it.
// Who carries out a run: a server running as root runs the installer itself; one that is not
// root goes through the privileged helper (`sudo -n PRIVILEGED_HELPER`, set up by `opencloud
// install`) when that is installed and sudo is on PATH; otherwise enable/disable answer 403
// NEEDS_ROOT saying how to set that up, and plan (read-only) runs in this process.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Config } from '../config/schema.js';
import { UsageError } from '../errors.js';
import type { RunResult } from '../installer/engine.js';
import { resolveInstallOptions, type InstallOptions } from '../installer/options.js';
import { Ledger } from '../ledger/records.js';
import type { StateStore } from '../state/store.js';
import { PRIVILEGED_HELPER, SUDOERS_FILE } from '../deploy/paths.js';
import type { InstallerOutcome } from '../metrics/metrics.js';
import { HttpError } from './envelope.js';
import { followLive, followStored, Runs, type Action, type EndedRun, type Runner } from './install-runs.js';
import type { EventBus, EventInput } from '../webhooks/events.js';
import { detectHelper, privilegedRunner, type HelperCommand } from './privileged-runner.js';
import { sseOpener } from './sse.js';
import { ADMINS } from '../http/access.js';

/** The services this server can install (the installer's SERVICE names). */
const SERVICES = ['container-registry'];
const API = '/api/v1';

interface RunBody {
  source: InstallOptions['source'];
  tarball?: string;
  sha256?: string;
  mirror?: string;
  init: 'auto' | InstallOptions['init'];
  purge?: boolean;
  readyTimeout: number;
  lockTimeout: number;
}

// Defaults as the CLI's; Fastify fills them in while validating.
const RUN_OPTIONS = {
  source: { type: 'string', enum: ['release', 'tarball', 'go'], default: 'release' },
  tarball: { type: 'string', minLength: 1 },
  sha256: { type: 'string', pattern: '^[0-9a-fA-F]{64}$' },
  mirror: { type: 'string', pattern: '^https?://[^/]' },
  init: { type: 'string', enum: ['auto', 'systemd', 'direct'], default: 'auto' },
  purge: { type: 'boolean' },
  readyTimeout: { type: 'number', exclusiveMinimum: 0, default: 60 },
  lockTimeout: { type: 'number', exclusiveMinimum: 0, default: 120 },
} as const;
const DEFAULTS: RunBody = { source: 'release', init: 'auto', readyTimeout: 60, lockTimeout: 120 };

const bodySchema = (extra: Record<string, object> = {}, required: string[] = []) => ({
  type: 'object',
  additionalProperties: false,
  properties: { ...RUN_OPTIONS, ...extra },
  required,
});

/**
 * Fastify's validator drops unknown keys instead of refusing them (removeAdditional), and
 * refuses a missing body; both are settled here, before validation.
 */
function strictBody(allowed: string[]) {
  return async (req: FastifyRequest) => {
    req.body ??= {};
    if (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body)) return;
    const unknown = Object.keys(req.body).find((k) => !allowed.includes(k));
    if (unknown !== undefined) {
      throw new HttpError(
        400,
        'FST_ERR_VALIDATION',
        `body/${unknown} is not a known option; known: ${allowed.join(', ')}`,
      );
    }
  };
}

function checkService(name: string): void {
  if (!SERVICES.includes(name))
    throw new HttpError(404, 'SERVICE_UNKNOWN', `unknown service ${name}; services: ${SERVICES.join(', ')}`);
}

/**
 * The runner for a request: undefined for the installer in this process. `helper` is the
 * server's option: a command to always use, null for never, undefined to detect.
 */
function runnerFor(
  action: Action,
  req: FastifyRequest,
  helper: HelperCommand | null | undefined,
): Runner | undefined {
  const uid = process.getuid?.();
  const command = helper === undefined ? (uid === 0 ? undefined : detectHelper()) : (helper ?? undefined);
  if (command)
    return privilegedRunner(command, { actor: req.principal?.name ?? 'anonymous', address: req.ip });
  if (action === 'plan' || uid === 0) return undefined;
  throw new HttpError(
    403,
    'NEEDS_ROOT',
    `${action} changes the host and needs root; this server runs as uid ${uid} and has no privileged ` +
      `path (${PRIVILEGED_HELPER} through sudo, allowed by ${SUDOERS_FILE}); run \`opencloud install\` as ` +
      'root to set it up, or run the server as root; nothing was started',
  );
}

/** Options from the body, resolved as the CLI resolves its flags, with this server's config. */
function resolveOptions(body: RunBody, config: Config): InstallOptions & { purge: boolean } {
  try {
    return { ...resolveInstallOptions(body, config), purge: !!body.purge };
  } catch (err) {
    if (err instanceof UsageError) throw new HttpError(400, 'FST_ERR_VALIDATION', err.message);
    throw err;
  }
}

function afterFrom(req: FastifyRequest<{ Querystring: { after?: number } }>): number {
  const header = req.headers['last-event-id'];
  if (header === undefined) return req.query.after ?? -1;
  if (typeof header !== 'string' || !/^\d+$/.test(header.trim()))
    throw new HttpError(400, 'BAD_REQUEST', `Last-Event-ID must be an event id (an integer), got ${header}`);
  return Number(header);
}

const actorOf = (req: FastifyRequest) => req.principal?.name;

/** The service.changed event of an ended run; `state` is the service's in the ledger after it. */
function serviceChanged(service: string, run: EndedRun, state: 'enabled' | 'disabled' | null): EventInput {
  return {
    name: 'service.changed',
    subject: service,
    data: {
      service,
      action: run.action,
      outcome: run.result.recap.failed === 0 ? 'ok' : 'failed',
      state,
      runId: run.id,
      recap: run.result.recap,
      actor: run.actor ?? null,
    },
  };
}

const accepted = (id: string) => ({
  runId: id,
  events: `${API}/runs/${id}/events`,
  run: `${API}/runs/${id}`,
});

export interface ServicesApiOptions {
  config: Config;
  /** The server's state store (the registry's): the ledger lives in the same database. */
  state: StateStore;
  /** Installer lock file (tests use their own); default /run/opencloud/installer.lock. */
  lockPath?: string;
  heartbeatMs?: number;
  /**
   * How runs reach root when this server is not root: a command speaking the privileged helper's
   * protocol (tests: a script), null for none; by default `sudo -n PRIVILEGED_HELPER` when installed.
   */
  privilegedHelper?: HelperCommand | null;
  /** Where enable and disable runs are announced when they end (webhooks). */
  events?: EventBus;
  /** Told how every run ended (metrics). */
  onRunOutcome?: (action: Action, outcome: InstallerOutcome) => void;
}

export const servicesApi: FastifyPluginAsync<ServicesApiOptions> = async (app, opts) => {
  // Listening on port 0 (tests) means a port the kernel picked: installs name that one as the
  // registry BuildKit pushes to, never ":0" (which would rewrite buildkitd.toml at every start).
  const listening = (): Config => {
    const a = app.server.address();
    if (opts.config.listen.port !== 0 || !a || typeof a === 'string') return opts.config;
    return { ...opts.config, listen: { host: opts.config.listen.host, port: a.port } };
  };
  const ledger = new Ledger(opts.state);
  const runs = new Runs(ledger, app.log, opts.lockPath, (run) => {
    opts.onRunOutcome?.(run.action, run.outcome);
    if (run.action === 'plan' || !run.result) return;
    const ended = run as EndedRun;
    void ledger
      .service(SERVICES[0] as string)
      .then((rec) => rec?.state ?? null)
      .catch(() => null)
      .then((state) => opts.events?.emit(serviceChanged(SERVICES[0] as string, ended, state)));
  });
  // On shutdown, runs in progress finish first (their streams end with them), then the other
  // streams are closed.
  app.addHook('preClose', async () => {
    await runs.settle();
  });
  const openSse = sseOpener(app, { heartbeatMs: opts.heartbeatMs });

  const status = async () => {
    const { serviceStatus } = await import('../installer/status.js');
    return serviceStatus(resolveOptions(DEFAULTS, listening()), ledger, false);
  };

  // Everything here changes or describes the host: admins only.
  app.get(`${API}/services`, ADMINS, async () =>
    Promise.all(
      SERVICES.map(async (name) => {
        const rec = await ledger.service(name);
        return {
          name,
          state: rec?.state ?? 'disabled',
          lastRunId: rec?.lastRunId ?? null,
          facts: rec?.facts ?? {},
        };
      }),
    ),
  );

  app.get<{ Params: { name: string } }>(`${API}/services/:name`, ADMINS, async (req) => {
    checkService(req.params.name);
    return status();
  });

  for (const action of ['plan', 'enable', 'disable'] as const) {
    app.post<{ Params: { name: string }; Body: RunBody }>(
      `${API}/services/:name/${action}`,
      { ...ADMINS, schema: { body: bodySchema() }, preValidation: strictBody(Object.keys(RUN_OPTIONS)) },
      async (req, reply) => {
        checkService(req.params.name);
        const runner = runnerFor(action, req, opts.privilegedHelper);
        const run = await runs.start(action, resolveOptions(req.body, listening()), runner, actorOf(req));
        return reply.status(202).send(accepted(run.id));
      },
    );
  }

  // The install run history from the ledger, newest first.
  app.get<{ Params: { name: string }; Querystring: { limit?: number } }>(
    `${API}/services/:name/runs`,
    {
      ...ADMINS,
      schema: {
        querystring: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: 200 } } },
      },
    },
    async (req) => {
      checkService(req.params.name);
      return { runs: await ledger.runs(req.params.name, req.query.limit ?? 20) };
    },
  );

  app.get<{ Params: { id: string } }>(`${API}/runs/:id`, ADMINS, async (req) => {
    const run = await ledger.run(req.params.id);
    if (!run) throw new HttpError(404, 'RUN_UNKNOWN', `no install run ${req.params.id}`);
    return run;
  });

  app.get<{ Params: { id: string }; Querystring: { after?: number } }>(
    `${API}/runs/:id/events`,
    {
      ...ADMINS,
      schema: {
        querystring: { type: 'object', properties: { after: { type: 'integer', minimum: -1 } } },
      },
    },
    async (req, reply) => {
      const { id } = req.params;
      const after = afterFrom(req);
      const live = runs.get(id);
      if (live) return followLive(openSse(reply), live, after);
      const run = await ledger.run(id);
      if (!run) throw new HttpError(404, 'RUN_UNKNOWN', `no install run ${id}`);
      // A finished run with nothing after Last-Event-ID: 204 tells an EventSource not to reconnect.
      if (run.status !== 'running' && (await ledger.events(id, after)).length === 0)
        return reply.status(204).send();
      await followStored(openSse(reply), ledger, id, after);
    },
  );

  // The seed's endpoints: `service` names the service in the body or the query.
  const seedBody = {
    ...ADMINS,
    schema: { body: bodySchema({ service: { type: 'string' } }, ['service']) },
    preValidation: strictBody(['service', ...Object.keys(RUN_OPTIONS)]),
  };
  const startEnable = async (req: FastifyRequest<{ Body: RunBody & { service: string } }>) => {
    checkService(req.body.service);
    const runner = runnerFor('enable', req, opts.privilegedHelper);
    return runs.start('enable', resolveOptions(req.body, listening()), runner, actorOf(req));
  };

  app.post<{ Body: RunBody & { service: string } }>('/enable-service', seedBody, async (req, reply) => {
    const run = await startEnable(req);
    const { recapLine } = await import('../installer/engine.js');
    let result: RunResult;
    try {
      result = await run.result;
    } catch (err) {
      return reply
        .status(500)
        .send({ success: false, runId: run.id, error: (err as Error).message, recap: null });
    }
    if (result.recap.failed === 0)
      return { success: true, runId: run.id, recap: result.recap, message: recapLine(result.recap) };
    const failed = result.steps.find((s) => s.status === 'failed');
    return reply.status(500).send({
      success: false,
      runId: run.id,
      error: failed?.reason ?? recapLine(result.recap),
      recap: result.recap,
    });
  });

  app.post<{ Body: RunBody & { service: string } }>(
    '/enable-service-stream',
    seedBody,
    async (req, reply) => {
      const run = await startEnable(req);
      followLive(openSse(reply), run, -1);
    },
  );

  app.get<{ Querystring: { service: string } }>(
    '/get-service-status',
    {
      ...ADMINS,
      schema: {
        querystring: { type: 'object', properties: { service: { type: 'string' } }, required: ['service'] },
      },
    },
    async (req) => {
      checkService(req.query.service);
      const r = await status();
      return {
        service: r.service,
        state: r.state,
        healthy: r.healthy,
        containerd: r.containerd,
        buildkit: r.buildkit,
      };
    },
  );
};
