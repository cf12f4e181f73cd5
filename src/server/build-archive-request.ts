// The archive form of POST /api/v1/builds, as a request: its content types, its options from the
// query string (the Dockerfile comes from the archive later), and draining an upload answered early.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { MAX_CONTEXT, type BuildDefinition } from '../build/definition.js';
import { HttpError } from './envelope.js';

/** Content types of the archive form; gzip is told by its magic bytes whichever is sent. */
export const ARCHIVE_TYPES = ['application/x-tar', 'application/gzip', 'application/x-gzip'];
/** The archive form's query parameters (tag, buildArg, platform, label and baseImage repeatable). */
const ARCHIVE_PARAMS = [
  'repository',
  'tag',
  'dockerfile',
  'buildArg',
  'target',
  'platform',
  'noCache',
  'label',
  'baseImage',
];
export const mediaType = (req: FastifyRequest) =>
  (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';

/** The archive form's options from the query string; its Dockerfile comes from the archive later. */
export function archiveQuery(query: unknown): { definition: BuildDefinition; dockerfile: string } {
  const q = (query ?? {}) as Record<string, string | string[] | undefined>;
  const bad = (message: string) => new HttpError(400, 'BUILD_INVALID', message);
  for (const k of Object.keys(q)) {
    if (!ARCHIVE_PARAMS.includes(k))
      throw bad(`unknown query parameter "${k}"; a build from an archive takes ${ARCHIVE_PARAMS.join(', ')}`);
  }
  const all = (k: string): string[] => {
    const v = q[k];
    return v === undefined ? [] : Array.isArray(v) ? v : [v];
  };
  const one = (k: string): string | undefined => {
    const v = all(k);
    if (v.length > 1) throw bad(`query parameter "${k}" is given ${v.length} times; it takes one value`);
    return v[0];
  };
  const pairs = (k: string): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const kv of all(k)) {
      const eq = kv.indexOf('=');
      if (eq <= 0) throw bad(`${k} "${kv}" must be KEY=VALUE`);
      out[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    return out;
  };
  const repository = one('repository');
  if (!repository) throw bad('query parameter "repository" is required');
  const tags = all('tag');
  if (tags.length > 32) throw bad(`${tags.length} tags; at most 32`);
  const noCache = one('noCache');
  if (noCache !== undefined && !['true', 'false', '1', '0'].includes(noCache))
    throw bad(`noCache "${noCache}" must be true or false`);
  const definition: BuildDefinition = {
    dockerfile: '',
    files: {},
    repository,
    tags: tags.length ? tags : ['latest'],
    buildArgs: pairs('buildArg'),
    noCache: noCache === 'true' || noCache === '1',
    labels: pairs('label'),
  };
  const target = one('target');
  if (target !== undefined) definition.target = target;
  const baseImages = pairs('baseImage');
  if (Object.keys(baseImages).length > 0) definition.baseImages = baseImages;
  const platforms = all('platform').flatMap((p) => p.split(','));
  if (platforms.length) definition.platforms = platforms;
  // "./docker/app.Dockerfile" is what people type: the same path
  return { definition, dockerfile: one('dockerfile')?.replace(/^(\.\/+)+/, '') ?? 'Dockerfile' };
}

/** After an answer sent before the upload was read to its end: drain the rest (a huge one closes the connection). */
export async function drainUpload(req: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (req.raw.complete) return;
  if (Number(req.headers['content-length']) > 2 * MAX_CONTEXT) reply.header('connection', 'close');
  req.raw.on('data', () => {});
}
