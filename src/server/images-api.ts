// Images and the builder cache over HTTP: containerd's images with their real sizes
// (GET /api/v1/images, and the original system's GET /get-images), BuildKit's cache usage and
// prune. An unreachable daemon answers 503 with the doctor's words and fix. The gRPC clients
// load on first use.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Config } from '../config/schema.js';
import { explainDaemonFault } from '../doctor/messages.js';
import { MAX_KEEP_DURATION, cacheUsage, type PruneOptions } from '../runtime/build-cache.js';
import type { BuildkitClient } from '../runtime/buildkit.js';
import { ImageSizer } from '../runtime/image-size.js';
import { SocketError } from '../runtime/socket.js';
import { HttpError } from './envelope.js';
import { ADMINS } from '../http/access.js';

const PRUNE_KEYS = ['all', 'keepDuration', 'keepBytes'];
const pruneSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    all: { type: 'boolean' },
    keepDuration: { type: 'integer', minimum: 0, maximum: MAX_KEEP_DURATION },
    keepBytes: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
  },
} as const;

/** Fastify drops unknown keys instead of refusing them; refuse them here, before validation. */
async function strictPruneBody(req: FastifyRequest): Promise<void> {
  req.body ??= {};
  if (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body)) return;
  const unknown = Object.keys(req.body).find((k) => !PRUNE_KEYS.includes(k));
  if (unknown !== undefined)
    throw new HttpError(
      400,
      'FST_ERR_VALIDATION',
      `body/${unknown} is not a known option; known: ${PRUNE_KEYS.join(', ')}`,
    );
}

/** Runs `fn`; a daemon that cannot be reached becomes a 503 with the fix. */
async function daemonCall<T>(daemon: 'containerd' | 'buildkit', fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof SocketError)) throw err;
    const { message, fix } = explainDaemonFault(daemon, err);
    throw new HttpError(503, `${daemon.toUpperCase()}_UNAVAILABLE`, `${message} Fix: ${fix}`);
  }
}

export const imagesApi: FastifyPluginAsync<{ config: Config }> = async (app, { config }) => {
  const sizer = new ImageSizer();

  const images = () =>
    daemonCall('containerd', async () => {
      const { listImages } = await import('../runtime/image-list.js');
      return listImages(config.containerd.socket, config.containerd.namespaces, sizer, (err, image) =>
        app.log.warn({ err, ...image }, 'could not size an image'),
      );
    });
  // Every image containerd holds on this host, whoever built it: host facts, for admins.
  app.get('/api/v1/images', ADMINS, images);
  app.get('/get-images', ADMINS, images);

  const withBuildkit = <T>(fn: (client: BuildkitClient) => Promise<T>) =>
    daemonCall('buildkit', async () => {
      const { BuildkitClient } = await import('../runtime/buildkit.js');
      const client = new BuildkitClient(config.buildkit.socket);
      try {
        return await fn(client);
      } finally {
        client.close();
      }
    });

  app.get('/api/v1/builder/disk-usage', ADMINS, async () =>
    cacheUsage(await withBuildkit((c) => c.diskUsage())),
  );

  app.post<{ Body: PruneOptions }>(
    '/api/v1/builder/prune',
    { ...ADMINS, schema: { body: pruneSchema }, preValidation: strictPruneBody },
    async (req) => {
      const removed = await withBuildkit((c) => c.prune(req.body));
      const reclaimed = removed.reduce((sum, r) => sum + Math.max(r.size, 0), 0);
      req.log.info({ reclaimed, records: removed.length, options: req.body }, 'pruned the build cache');
      return { reclaimed, records: removed.length };
    },
  );
};
