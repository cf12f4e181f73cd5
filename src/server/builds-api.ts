// Builds over HTTP: submit (202 with the id) as JSON (a Dockerfile and context files) or as a
// tar / tar.gz context with the options in the query string, history, one build, its events as
// Server-Sent Events (everything from the start for a late subscriber, resumable with
// Last-Event-ID), its plain-text log, cancel; and the original system's `POST /build-image`,
// which waits for the build and answers like the original did.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/schema.js';
import { ContextTooLargeError, extractContext } from '../build/context-archive.js';
import {
  checkDefinition,
  CONTEXT_DIR,
  ContextInvalidError,
  DefinitionError,
  MAX_BASE_IMAGES,
  MAX_CONTEXT,
  type BuildDefinition,
} from '../build/definition.js';
import type { BuildEvent, BuildState } from '../build/events.js';
import { ImageReferenceError, parseReference } from '../build/reference.js';
import { TooManyBuildsError, type QueuePlace } from '../build/queue-limit.js';
import type { BuildService, LiveBuild } from '../build/service.js';
import { NoWorkerError, type WorkerPool } from '../build/workers.js';
import { explainDaemonFault } from '../doctor/messages.js';
import { probeSocket, SocketError } from '../runtime/socket.js';
import { HttpError } from './envelope.js';
import { archiveQuery, ARCHIVE_TYPES, drainUpload, mediaType } from './build-archive-request.js';
import { sseOpener, type SseStream } from './sse.js';
import { isAdmin } from '../auth/access.js';
import type { AuthStore, Principal } from '../auth/store.js';
import type { BuildFilter, BuildRecord, BuildRecords } from '../build/records.js';
import {
  buildAsSeenBy,
  buildOf,
  buildReader,
  buildRule,
  buildTargetRule,
  repeatRule,
} from './build-access.js';
import { ADMINS, SIGNED_IN } from '../http/access.js';

interface BuildBody {
  dockerfile: string;
  files?: Record<string, string>;
  repository: string;
  tags?: string[];
  buildArgs?: Record<string, string>;
  target?: string;
  platforms?: string[];
  noCache?: boolean;
  labels?: Record<string, string>;
  cache?: boolean;
  baseImages?: Record<string, string>;
  /** Passed to BuildKit for `RUN --mount=type=secret,id=…`; never stored or logged. */
  secrets?: Record<string, string>;
}

const stringMap = { type: 'object', additionalProperties: { type: 'string' } } as const;
const buildSchema = {
  type: 'object',
  required: ['dockerfile', 'repository'],
  additionalProperties: false,
  properties: {
    dockerfile: { type: 'string', minLength: 1 },
    files: stringMap,
    repository: { type: 'string', minLength: 1 },
    tags: { type: 'array', items: { type: 'string' }, maxItems: 32 },
    buildArgs: stringMap,
    target: { type: 'string' },
    platforms: { type: 'array', items: { type: 'string' } },
    noCache: { type: 'boolean' },
    labels: stringMap,
    cache: { type: 'boolean' },
    baseImages: { ...stringMap, maxProperties: MAX_BASE_IMAGES },
    secrets: stringMap,
  },
} as const;

const seedSchema = {
  type: 'object',
  required: ['dockerfile', 'imageName'],
  additionalProperties: false,
  properties: {
    dockerfile: { type: 'string', minLength: 1 },
    imageName: { type: 'string', minLength: 1 },
    context: { anyOf: [stringMap, { type: 'string' }] },
    nocache: { type: 'boolean' },
    platform: { type: 'string' },
  },
} as const;

function definitionOf(b: BuildBody): BuildDefinition {
  const d: BuildDefinition = {
    dockerfile: b.dockerfile,
    files: b.files ?? {},
    repository: b.repository,
    tags: b.tags ?? ['latest'],
    buildArgs: b.buildArgs ?? {},
    noCache: b.noCache ?? false,
    labels: b.labels ?? {},
  };
  if (b.target !== undefined) d.target = b.target;
  if (b.platforms !== undefined) d.platforms = b.platforms;
  if (b.cache) d.cache = true;
  if (b.baseImages && Object.keys(b.baseImages).length > 0) d.baseImages = b.baseImages;
  return d;
}

/**
 * A build needs a daemon to run on. With one (the default) a missing daemon gets the seed's 503
 * and its fix; with a pool, a 503 naming each worker and why it is out of rotation.
 */
async function requireWorker(config: Config, workers: WorkerPool): Promise<void> {
  if (config.buildkit.workers.length === 0) return requireDaemon(config.buildkit.socket);
  if (workers.status().some((w) => w.healthy)) return;
  await workers.checkAll();
  if (workers.status().some((w) => w.healthy)) return;
  throw new HttpError(
    503,
    'BUILDKIT_UNAVAILABLE',
    `${new NoWorkerError(workers.status()).message}. Fix: start those daemons, or correct buildkit.workers`,
  );
}

/** The seed's 503 when buildkitd cannot be reached, with the command that fixes it. */
async function requireDaemon(socket: string): Promise<void> {
  try {
    await probeSocket(socket);
  } catch (err) {
    if (!(err instanceof SocketError)) throw err;
    const { message, fix } = explainDaemonFault('buildkit', err);
    throw new HttpError(503, 'BUILDKIT_UNAVAILABLE', `${message} Fix: ${fix}`);
  }
}

/** A refused build as its HTTP answer: the context (400, 413), the rest of the definition (400), the queue (429). */
function buildError(err: unknown): unknown {
  if (err instanceof TooManyBuildsError) return new HttpError(429, 'TOO_MANY_BUILDS', err.message);
  if (err instanceof ContextTooLargeError) return new HttpError(413, 'CONTEXT_TOO_LARGE', err.message);
  if (err instanceof ContextInvalidError) return new HttpError(400, 'CONTEXT_INVALID', err.message);
  if (err instanceof DefinitionError) return new HttpError(400, 'BUILD_INVALID', err.message);
  return err;
}

async function submit(
  builds: BuildService,
  d: BuildDefinition,
  req: FastifyRequest,
  secrets: Record<string, string> = {},
  place?: QueuePlace,
): Promise<LiveBuild> {
  try {
    return await builds.submit(d, req.principal, secrets, place);
  } catch (err) {
    throw buildError(err);
  }
}

const message = (seq: number, e: BuildEvent) => ({ id: seq, event: e.type, data: e });

/** Live build: history after `after`, then live events, ending after the final state. */
function follow(stream: SseStream, b: LiveBuild, after: number): void {
  let last = after;
  const send = (seq: number, e: BuildEvent) => {
    if (seq <= last) return;
    last = seq;
    stream.send(message(seq, e));
  };
  const end = () => stream.close();
  b.bus.on('event', send);
  b.bus.once('end', end);
  stream.onClose(() => {
    b.bus.off('event', send);
    b.bus.off('end', end);
  });
  b.events.forEach((e, i) => send(i, e));
}

function afterFrom(req: FastifyRequest): number {
  const h = req.headers['last-event-id'];
  if (h === undefined) return -1;
  if (typeof h !== 'string' || !/^\d+$/.test(h))
    throw new HttpError(400, 'BAD_REQUEST', `Last-Event-ID must be an integer, got ${String(h)}`);
  return Number(h);
}

interface SeedBody {
  dockerfile: string;
  imageName: string;
  context?: Record<string, string> | string;
  nocache?: boolean;
  platform?: string;
}

/** The repository and tag /build-image pushes to, from its imageName (a 400 when it cannot). */
function seedTarget(body: SeedBody, registryHost: string): { repository: string; tag: string } {
  const { imageName } = body;
  let ref;
  try {
    ref = parseReference(imageName);
  } catch (err) {
    if (err instanceof ImageReferenceError)
      throw new HttpError(400, 'BUILD_INVALID', `imageName "${imageName}": ${err.message}`);
    throw err;
  }
  if (ref.digest)
    throw new HttpError(400, 'BUILD_INVALID', `imageName "${imageName}" must not carry a digest`);
  if (ref.domain && ref.domain !== registryHost) {
    throw new HttpError(
      400,
      'BUILD_INVALID',
      `imageName "${imageName}" names the registry ${ref.domain}; builds push to this registry (${registryHost}): leave the host out`,
    );
  }
  return { repository: ref.repository, tag: ref.tag ?? 'latest' };
}

/** The repository POST /api/v1/builds pushes to: the archive form's query, or the JSON body's. */
function submittedTarget(req: FastifyRequest): string {
  if (ARCHIVE_TYPES.includes(mediaType(req))) return archiveQuery(req.query).definition.repository;
  if (mediaType(req) !== 'application/json')
    throw new HttpError(400, 'FST_ERR_VALIDATION', 'body must be object');
  return (req.body as BuildBody).repository;
}

/** The images a submitted build names in place of base images, from either form. */
function submittedBases(req: FastifyRequest): Record<string, string> | undefined {
  if (ARCHIVE_TYPES.includes(mediaType(req))) return archiveQuery(req.query).definition.baseImages;
  return (req.body as BuildBody | undefined)?.baseImages;
}

/** Newest first, only the builds `p` may read: pages of the history until `limit` are found. */
async function visibleBuilds(
  store: AuthStore,
  records: BuildRecords,
  p: Principal | undefined,
  limit: number,
  before: string | undefined,
  filter: BuildFilter,
): Promise<BuildRecord[]> {
  if (!p || isAdmin(p)) return records.list(limit, before, filter);
  const mayRead = buildReader(store, p);
  const out: BuildRecord[] = [];
  const batch = Math.max(limit, 100);
  for (let cursor = before; out.length < limit;) {
    const page = await records.list(batch, cursor, filter);
    for (const b of page) if (out.length < limit && (await mayRead(b))) out.push(b);
    if (page.length < batch) break;
    cursor = page.at(-1)?.createdAt;
  }
  return out;
}

export const buildsApi: FastifyPluginAsync<{
  config: Config;
  builds: BuildService;
  workers: WorkerPool;
  store: AuthStore;
  registryHost: () => string;
}> = async (app, { config, builds, workers, store, registryHost }) => {
  const openSse = sseOpener(app);
  const records = builds.records;
  const read = { access: buildRule(store, records, 'read') };
  const control = { access: buildRule(store, records, 'control') };
  const found = async (id: string) => {
    const r = await records.get(id);
    if (!r) throw new HttpError(404, 'BUILD_UNKNOWN', `no build ${id}`);
    return r;
  };
  /** The build of a `:id` route, as its access rule read it (or read now, authentication off). */
  const foundFor = async (req: FastifyRequest) => {
    const r = await buildOf(records, req);
    if (!r) throw new HttpError(404, 'BUILD_UNKNOWN', `no build ${(req.params as { id: string }).id}`);
    return r;
  };

  const workDir = join(config.dataDir, 'builds');
  // Where builds can run: each daemon, healthy or why not, and how busy (admins: addresses are internal).
  app.get('/api/v1/builder/workers', ADMINS, async () => {
    await workers.checkAll();
    return { workers: workers.status() };
  });
  const accepted = (reply: FastifyReply, b: LiveBuild) =>
    reply
      .code(202)
      .send({ id: b.id, build: `/api/v1/builds/${b.id}`, events: `/api/v1/builds/${b.id}/events` });

  /** The archive form: options checked, the upload extracted (a 400 or 413 leaves nothing), the build queued. */
  async function submitArchive(req: FastifyRequest, reply: FastifyReply) {
    const { definition, dockerfile } = archiveQuery(req.query);
    try {
      checkDefinition({ ...definition, dockerfile: 'FROM scratch' }); // everything but the Dockerfile, before the upload
    } catch (err) {
      throw buildError(err);
    }
    const announced = Number(req.headers['content-length']);
    if (announced > MAX_CONTEXT)
      throw new HttpError(
        413,
        'CONTEXT_TOO_LARGE',
        `the uploaded archive is ${announced} bytes; at most ${MAX_CONTEXT}`,
      );
    await requireWorker(config, workers);
    let ctx;
    let place: QueuePlace | undefined; // held while the upload extracts: a user at the limit uploads nothing
    try {
      place = await builds.reserve(req.principal);
      // Not destroyed when extraction stops early: the rest is drained, so the answer gets through.
      const upload = (req.body as Readable).iterator({ destroyOnReturn: false });
      ctx = await extractContext(upload, {
        workDir,
        dockerfile,
        maxUpload: MAX_CONTEXT,
        maxBytes: config.build.contextMaxBytes,
        maxFiles: config.build.contextMaxFiles,
      });
    } catch (err) {
      place?.release();
      throw buildError(err);
    }
    const dir = ctx.dir;
    const remove = () =>
      rm(dir, { recursive: true, force: true }).catch((err: Error) =>
        req.log.warn({ err, dir }, 'could not remove a build context'),
      );
    let b: LiveBuild;
    try {
      b = await submit(
        builds,
        {
          ...definition,
          dockerfile: ctx.dockerfile,
          archive: { sha256: ctx.sha256, size: ctx.size, dockerfile },
          [CONTEXT_DIR]: dir,
        },
        req,
        {},
        place,
      );
    } catch (err) {
      place.release();
      await remove();
      throw err;
    }
    void b.done.then(remove);
    req.log.info(
      { buildId: b.id, archive: { sha256: ctx.sha256, size: ctx.size, files: ctx.files, bytes: ctx.bytes } },
      'build context extracted',
    );
    return accepted(reply, b);
  }

  app.addContentTypeParser(ARCHIVE_TYPES, (_req, payload, done) => done(null, payload));
  app.post<{ Body: BuildBody }>(
    '/api/v1/builds',
    {
      config: { access: buildTargetRule(store, submittedTarget, submittedBases) },
      schema: { body: { content: { 'application/json': { schema: buildSchema } } } },
      onSend: async (req, reply) => drainUpload(req, reply),
    },
    async (req, reply) => {
      if (ARCHIVE_TYPES.includes(mediaType(req))) return submitArchive(req, reply);
      // Only a JSON body was validated by the schema; anything else parsed (or nothing) is not a build.
      if (mediaType(req) !== 'application/json')
        throw new HttpError(400, 'FST_ERR_VALIDATION', 'body must be object');
      await requireWorker(config, workers);
      return accepted(reply, await submit(builds, definitionOf(req.body), req, req.body.secrets));
    },
  );

  app.get<{ Querystring: { limit?: number; before?: string; state?: string; repository?: string } }>(
    '/api/v1/builds',
    {
      ...SIGNED_IN,
      schema: {
        querystring: {
          type: 'object',
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: 500 },
            before: { type: 'string' },
            // One state or several, comma-separated: state=failed,canceled
            state: {
              type: 'string',
              pattern:
                '^(queued|running|succeeded|failed|canceled)(,(queued|running|succeeded|failed|canceled))*$',
            },
            repository: { type: 'string', minLength: 1, maxLength: 255 },
          },
        },
      },
    },
    async (req) => {
      const filter = {
        ...(req.query.state ? { states: req.query.state.split(',') as BuildState[] } : {}),
        ...(req.query.repository ? { repository: req.query.repository } : {}),
      };
      const limit = req.query.limit ?? 50;
      const list = await visibleBuilds(store, records, req.principal, limit, req.query.before, filter);
      return {
        builds: list.map((b) => buildAsSeenBy(req.principal, b)),
        next: list.length === limit ? list.at(-1)?.createdAt : null,
      };
    },
  );

  app.get<{ Params: { id: string } }>('/api/v1/builds/:id', { config: read }, async (req) =>
    buildAsSeenBy(req.principal, await foundFor(req)),
  );

  app.get<{ Params: { id: string } }>('/api/v1/builds/:id/logs', { config: read }, async (req, reply) => {
    await foundFor(req);
    const live = builds.getLive(req.params.id);
    const text = live ? live.log : ((await records.log(req.params.id)) ?? '');
    return reply.type('text/plain; charset=utf-8').send(text);
  });

  app.get<{ Params: { id: string } }>(
    '/api/v1/builds/:id/events',
    { config: read },
    async (req, reply: FastifyReply) => {
      const after = afterFrom(req);
      const live = builds.getLive(req.params.id);
      if (live) return follow(openSse(reply), live, after);
      await foundFor(req);
      const events = (await records.events(req.params.id)) ?? [];
      const stream = openSse(reply);
      events.forEach((e, i) => i > after && stream.send(message(i, e)));
      stream.close();
    },
  );

  app.post<{ Params: { id: string } }>(
    '/api/v1/builds/:id/cancel',
    { config: control },
    async (req, reply) => {
      const r = await foundFor(req);
      if (!builds.cancel(req.params.id)) {
        throw new HttpError(
          409,
          'BUILD_FINISHED',
          `build ${r.id} is ${r.state}; only a queued or running build can be canceled`,
        );
      }
      return reply.code(202).send({ id: r.id, state: 'canceling' });
    },
  );

  // The same definition again (the ledger keeps it); secrets, never stored, are given anew.
  app.post<{ Params: { id: string }; Body: { secrets?: Record<string, string> } | undefined }>(
    '/api/v1/builds/:id/repeat',
    {
      config: { access: repeatRule(store, records) },
      schema: { body: { type: 'object', additionalProperties: false, properties: { secrets: stringMap } } },
    },
    async (req, reply) => {
      const r = await foundFor(req);
      if (r.definition.archive) {
        throw new HttpError(
          409,
          'BUILD_NOT_REPEATABLE',
          `build ${r.id} came from an uploaded archive, which is not kept: upload it again`,
        );
      }
      const secrets = req.body?.secrets ?? {};
      const missing = (r.definition.secretIds ?? []).filter((id) => !(id in secrets));
      if (missing.length > 0) {
        throw new HttpError(
          400,
          'BUILD_INVALID',
          `build ${r.id} used the secrets ${missing.join(', ')}: give them again`,
        );
      }
      await requireWorker(config, workers);
      const { secretIds: _ids, ...definition } = r.definition;
      return accepted(reply, await submit(builds, definition, req, secrets));
    },
  );

  // The original endpoint: waits for the build, answers {status, message, image, output}.
  const seedAccess = buildTargetRule(
    store,
    (req) => seedTarget(req.body as SeedBody, registryHost()).repository,
  );
  app.post<{ Body: SeedBody }>(
    '/build-image',
    { config: { access: seedAccess }, schema: { body: seedSchema } },
    async (req, reply) => {
      const { dockerfile, context, nocache, platform } = req.body;
      const ref = seedTarget(req.body, registryHost());
      if (typeof context === 'string' && context !== '' && context !== '.') {
        throw new HttpError(
          400,
          'BUILD_INVALID',
          'context must be an object of {path: content} (or "." for none)',
        );
      }
      await requireWorker(config, workers);
      const b = await submit(
        builds,
        {
          dockerfile,
          files: typeof context === 'object' ? context : {},
          repository: ref.repository,
          tags: [ref.tag],
          buildArgs: {},
          noCache: nocache ?? false,
          labels: {},
          ...(platform ? { platforms: platform.split(',') } : {}),
        },
        req,
      );
      await b.done;
      const r = await found(b.id);
      const output = (await records.log(b.id)) ?? '';
      if (r.state !== 'succeeded') {
        return reply
          .code(500)
          .send({ status: 'error', message: r.error ?? `build ${r.state}`, buildId: b.id, output });
      }
      return {
        status: 'success',
        message: `built and pushed ${r.images.join(', ')}`,
        image: r.images[0],
        digest: r.digest,
        buildId: b.id,
        output,
      };
    },
  );
};
