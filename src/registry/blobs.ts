// Blob reads and deletes: HEAD/GET with single-range support, DELETE (unlinks the blob from the
// repository; garbage collection reclaims the bytes once nothing links or references them).
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { OutgoingHttpHeaders } from 'node:http';
import { existingRepository, storedSize, type Registry } from './context.js';
import { OciError } from './errors.js';
import { parseDigest } from './names.js';
import { sendFileRange } from './send-file.js';
import { API_VERSION_HEADER } from '../server/registry-base.js';

async function blobSize(reg: Registry, name: string, digest: string): Promise<number> {
  parseDigest(digest);
  const size = await reg.state.repositoryBlobByName(name, digest);
  if (size === undefined || (await storedSize(reg, digest)) === undefined) {
    throw new OciError('BLOB_UNKNOWN', `blob ${digest} is not in ${name}`, { digest });
  }
  return size;
}

/**
 * Parses a Range header against a blob size: a range, "unsatisfiable", or undefined when the
 * header is absent or not a single byte range we serve (then the whole blob is sent, per HTTP).
 */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || (m[2] !== '' && Number(m[2]) < start)) return 'unsatisfiable';
  return { start, end };
}

/** How long a presigned download URL stays valid (a slow pull of a big layer must finish). */
const REDIRECT_SECONDS = 20 * 60;

const blobHeaders = (digest: string) => ({
  'content-type': 'application/octet-stream',
  'docker-content-digest': digest,
  'accept-ranges': 'bytes',
  etag: `"${digest}"`,
});

export async function headBlob(reg: Registry, name: string, digest: string, reply: FastifyReply) {
  const size = await blobSize(reg, name, digest);
  return reply
    .status(200)
    .headers({ ...blobHeaders(digest), 'content-length': size })
    .send();
}

export async function getBlob(
  reg: Registry,
  name: string,
  digest: string,
  req: FastifyRequest,
  reply: FastifyReply,
) {
  const size = await blobSize(reg, name, digest);
  if (reg.options.redirectDownloads && reg.blobs.downloadUrl) {
    // The bytes come from the store itself: clients follow the redirect (Range included).
    const url = await reg.blobs.downloadUrl(digest, REDIRECT_SECONDS);
    return reply.status(307).headers({ location: url, 'docker-content-digest': digest }).send();
  }
  const range = parseRange(req.headers.range, size);
  reply.headers(blobHeaders(digest));
  if (range === 'unsatisfiable') {
    reply.header('content-range', `bytes */${size}`);
    throw new OciError('RANGE_INVALID', `range ${req.headers.range} is outside the blob's ${size} bytes`, {
      size,
    });
  }
  const { start, end } = range ?? { start: 0, end: size - 1 };
  reply.status(range ? 206 : 200).header('content-length', end - start + 1);
  if (range) reply.header('content-range', `bytes ${start}-${end}/${size}`);
  if (size === 0) return reply.send(Buffer.alloc(0));
  if (!reg.blobs.openFile) return reply.send(await reg.blobs.read(digest, range ?? undefined));

  // Local files are sent with reused buffers, outside the framework's reply pipeline.
  const fh = await reg.blobs.openFile(digest);
  const started = Date.now();
  reply.hijack();
  reply.raw.writeHead(reply.statusCode, {
    ...(reply.getHeaders() as OutgoingHttpHeaders),
    [API_VERSION_HEADER]: 'registry/2.0',
  });
  await sendFileRange(fh, reply.raw, start, end);
  req.log.info(
    { res: { statusCode: reply.statusCode }, responseTime: Date.now() - started },
    'request completed',
  );
}

export async function deleteBlob(reg: Registry, name: string, digest: string, reply: FastifyReply) {
  parseDigest(digest);
  const repo = await existingRepository(reg, name);
  if (!(await reg.state.unlinkBlob(repo, digest))) {
    throw new OciError('BLOB_UNKNOWN', `blob ${digest} is not in ${name}`, { digest });
  }
  return reply.status(202).header('content-length', 0).send();
}
