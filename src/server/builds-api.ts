// Builds over HTTP: submit (202 with the id), history, one build, its events as Server-Sent
// Events (everything from the start for a late subscriber, resumable with Last-Event-ID), its
// plain-text log, cancel; and the original system's `POST /build-image`, which waits for the
// build and answers like the original did.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/schema.js';
import { DefinitionError, type BuildDefinition } from '../build/definition.js';
import type { BuildEvent } from '../build/events.js';
import { ImageReferenceError, parseReference } from '../build/reference.js';
import type { BuildService, LiveBuild } from '../build/service.js';
import { explainDaemonFault } from '../doctor/messages.js';
import { probeSocket, SocketError } from '../runtime/socket.js';
import { HttpError } from './envelope.js';
import { sseOpener, type SseStream } from './sse.js';

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
  },
} as const;

const seedSchema = {
  type: 'object',
  required: ['dockerfile', 'imageName'],
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
  return d;
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

async function submit(builds: BuildService, d: BuildDefinition): Promise<LiveBuild> {
  try {
    return await builds.submit(d);
  } catch (err) {
    if (err instanceof DefinitionError) throw new HttpError(400, 'BUILD_INVALID', err.message);
    throw err;
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

export const buildsApi: FastifyPluginAsync<{
  config: Config;
  builds: BuildService;
  registryHost: () => string;
}> = async (app, { config, builds, registryHost }) => {
  const openSse = sseOpener(app);
  const records = builds.records;
  const found = async (id: string) => {
    const r = await records.get(id);
    if (!r) throw new HttpError(404, 'BUILD_UNKNOWN', `no build ${id}`);
    return r;
  };

  app.post<{ Body: BuildBody }>('/api/v1/builds', { schema: { body: buildSchema } }, async (req, reply) => {
    await requireDaemon(config.buildkit.socket);
    const b = await submit(builds, definitionOf(req.body));
    return reply
      .code(202)
      .send({ id: b.id, build: `/api/v1/builds/${b.id}`, events: `/api/v1/builds/${b.id}/events` });
  });

  app.get<{ Querystring: { limit?: number; before?: string } }>(
    '/api/v1/builds',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { limit: { type: 'integer', minimum: 1, maximum: 500 }, before: { type: 'string' } },
        },
      },
    },
    async (req) => {
      const list = await records.list(req.query.limit ?? 50, req.query.before);
      return { builds: list, next: list.length === (req.query.limit ?? 50) ? list.at(-1)?.createdAt : null };
    },
  );

  app.get<{ Params: { id: string } }>('/api/v1/builds/:id', async (req) => found(req.params.id));

  app.get<{ Params: { id: string } }>('/api/v1/builds/:id/logs', async (req, reply) => {
    await found(req.params.id);
    const live = builds.getLive(req.params.id);
    const text = live ? live.log : ((await records.log(req.params.id)) ?? '');
    return reply.type('text/plain; charset=utf-8').send(text);
  });

  app.get<{ Params: { id: string } }>('/api/v1/builds/:id/events', async (req, reply: FastifyReply) => {
    const after = afterFrom(req);
    const live = builds.getLive(req.params.id);
    if (live) return follow(openSse(reply), live, after);
    await found(req.params.id);
    const events = (await records.events(req.params.id)) ?? [];
    const stream = openSse(reply);
    events.forEach((e, i) => i > after && stream.send(message(i, e)));
    stream.close();
  });

  app.post<{ Params: { id: string } }>('/api/v1/builds/:id/cancel', async (req, reply) => {
    const r = await found(req.params.id);
    if (!builds.cancel(req.params.id)) {
      throw new HttpError(
        409,
        'BUILD_FINISHED',
        `build ${r.id} is ${r.state}; only a queued or running build can be canceled`,
      );
    }
    return reply.code(202).send({ id: r.id, state: 'canceling' });
  });

  // The original endpoint: waits for the build, answers {status, message, image, output}.
  app.post<{
    Body: {
      dockerfile: string;
      imageName: string;
      context?: Record<string, string> | string;
      nocache?: boolean;
      platform?: string;
    };
  }>('/build-image', { schema: { body: seedSchema } }, async (req, reply) => {
    const { dockerfile, imageName, context, nocache, platform } = req.body;
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
    if (ref.domain && ref.domain !== registryHost()) {
      throw new HttpError(
        400,
        'BUILD_INVALID',
        `imageName "${imageName}" names the registry ${ref.domain}; builds push to this registry (${registryHost()}): leave the host out`,
      );
    }
    if (typeof context === 'string' && context !== '' && context !== '.') {
      throw new HttpError(
        400,
        'BUILD_INVALID',
        'context must be an object of {path: content} (or "." for none)',
      );
    }
    await requireDaemon(config.buildkit.socket);
    const b = await submit(builds, {
      dockerfile,
      files: typeof context === 'object' ? context : {},
      repository: ref.repository,
      tags: [ref.tag ?? 'latest'],
      buildArgs: {},
      noCache: nocache ?? false,
      labels: {},
      ...(platform ? { platforms: platform.split(',') } : {}),
    });
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
  });
};
