// Tag lists and the catalog with n/last pagination and RFC 5988 Link headers, and the referrers
// API (an image index of the manifests whose subject is a digest, filterable by artifactType).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { existingRepository, queryParam, type Registry } from './context.js';
import { OciError } from './errors.js';
import { MT } from './media-types.js';
import { parseDigest } from './names.js';

const MAX_PAGE = 10_000;

function pageSize(req: FastifyRequest): number | undefined {
  const n = queryParam(req, 'n');
  if (n === undefined || n === '') return undefined;
  if (!/^\d+$/.test(n))
    throw new OciError(
      'UNSUPPORTED',
      `n must be a non-negative integer, got ${JSON.stringify(n)}`,
      undefined,
      400,
    );
  return Math.min(Number(n), MAX_PAGE);
}

/** Fetches one page (asking for one extra row to know whether a next page exists). */
async function page(
  req: FastifyRequest,
  reply: FastifyReply,
  path: string,
  fetch: (limit: number, after?: string) => Promise<string[]>,
): Promise<string[]> {
  const n = pageSize(req);
  const last = queryParam(req, 'last');
  if (n === 0) return [];
  const limit = n ?? MAX_PAGE;
  const rows = await fetch(limit + 1, last);
  if (rows.length > limit) {
    const items = rows.slice(0, limit);
    const next = new URLSearchParams({ n: String(limit), last: items[items.length - 1] as string });
    reply.header('link', `<${path}?${next.toString()}>; rel="next"`);
    return items;
  }
  return rows;
}

export async function listTags(reg: Registry, name: string, req: FastifyRequest, reply: FastifyReply) {
  const repositoryId = await existingRepository(reg, name);
  const tags = await page(req, reply, `/v2/${name}/tags/list`, (limit, after) =>
    reg.state.listTags(repositoryId, limit, after),
  );
  return reply.status(200).type('application/json').send({ name, tags });
}

export async function catalog(reg: Registry, req: FastifyRequest, reply: FastifyReply) {
  const mayPull = req.mayPull;
  const repositories = await page(req, reply, '/v2/_catalog', (limit, after) =>
    mayPull ? visibleRepositories(reg, mayPull, limit, after) : reg.state.listRepositories(limit, after),
  );
  return reply.status(200).type('application/json').send({ repositories });
}

/** With authentication on, the catalog shows only what the caller may pull: filtered page by page. */
async function visibleRepositories(
  reg: Registry,
  mayPull: (repository: string) => Promise<boolean>,
  limit: number,
  after?: string,
): Promise<string[]> {
  const out: string[] = [];
  for (let cursor = after; out.length < limit;) {
    const rows = await reg.state.listRepositories(limit, cursor);
    for (const r of rows) if (out.length < limit && (await mayPull(r))) out.push(r);
    if (rows.length < limit) break;
    cursor = rows[rows.length - 1];
  }
  return out;
}

export async function referrers(
  reg: Registry,
  name: string,
  digest: string,
  req: FastifyRequest,
  reply: FastifyReply,
) {
  parseDigest(digest);
  const artifactType = queryParam(req, 'artifactType');
  const repositoryId = await reg.state.repositoryId(name);
  const found =
    repositoryId === undefined
      ? []
      : await reg.state.referrers(repositoryId, digest, artifactType || undefined);
  if (artifactType) reply.header('oci-filters-applied', 'artifactType');
  return (
    reply
      .status(200)
      .type(MT.ociIndex)
      // A Buffer, so the framework does not append "; charset=utf-8" to the media type.
      .send(
        Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: MT.ociIndex,
            manifests: found.map((m) => ({
              mediaType: m.mediaType,
              digest: m.digest,
              size: m.size,
              ...(m.artifactType ? { artifactType: m.artifactType } : {}),
              ...(m.annotations ? { annotations: m.annotations } : {}),
            })),
          }),
        ),
      )
  );
}
