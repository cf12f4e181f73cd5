// Blob upload sessions: start (POST, with monolithic ?digest= and cross-repository mount), chunked
// or streamed PATCH, status GET, completing PUT, cancelling DELETE. Data goes straight from the
// socket to the session file through the digest; nothing is buffered in memory. Open sessions are
// limited per repository and per user (per client address for anonymous callers), counted in the
// shared state so that every node sees the same number.
import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  DigestMismatchError,
  LengthMismatchError,
  OffsetMismatchError,
  UploadUnknownError,
} from '../storage/blob-store.js';
import { contentLength, queryParam, type Registry } from './context.js';
import { OciError } from './errors.js';
import { parseDigest, validateName } from './names.js';
import { linkWithinQuota } from './quota-link.js';

const uploadLocation = (name: string, id: string) => `/v2/${name}/blobs/uploads/${id}`;
const blobLocation = (name: string, digest: string) => `/v2/${name}/blobs/${digest}`;
/** The Range header of an upload: the bytes received so far, "0-0" when none (Distribution's form). */
const rangeOf = (size: number) => `0-${Math.max(0, size - 1)}`;

function uploadAccepted(reply: FastifyReply, name: string, id: string, size: number) {
  return reply
    .status(202)
    .headers({
      location: uploadLocation(name, id),
      range: rangeOf(size),
      'docker-upload-uuid': id,
      'content-length': 0,
    })
    .send();
}

function blobCreated(reply: FastifyReply, name: string, digest: string) {
  return reply
    .status(201)
    .headers({ location: blobLocation(name, digest), 'docker-content-digest': digest, 'content-length': 0 })
    .send();
}

/** Maps storage errors to OCI errors; anything else propagates. */
function storageError(err: unknown, id: string): never {
  if (err instanceof OffsetMismatchError) {
    throw new OciError('RANGE_INVALID', `chunk starts at ${err.expected}, the upload is at ${err.actual}`, {
      range: rangeOf(err.actual),
    });
  }
  if (err instanceof LengthMismatchError) throw new OciError('SIZE_INVALID', err.message);
  if (err instanceof DigestMismatchError)
    throw new OciError('DIGEST_INVALID', err.message, { expected: err.expected });
  if (err instanceof UploadUnknownError)
    throw new OciError('BLOB_UPLOAD_UNKNOWN', `upload ${id} is not known`);
  throw err;
}

/** Who a session counts against: the signed-in user, else (anonymous, no authentication) the address. */
function openerOf(req: FastifyRequest): string {
  const p = req.principal;
  return p?.kind === 'user' ? `user:${p.name}` : `address:${req.ip}`;
}

/** Records a new session for `opener`, or refuses it when the repository or the opener has the
 *  most sessions open that the configuration allows (counted in the shared state, so on every
 *  node the same). */
async function recordSession(reg: Registry, name: string, repositoryId: number, id: string, opener: string) {
  const o = reg.options;
  const perRepository = o.maxUploadsPerRepository ?? 0;
  const perOpener = o.maxUploadsPerUser ?? 0;
  if (perRepository === 0 && perOpener === 0) return reg.state.createUpload(id, repositoryId, opener);
  const since = new Date(Date.now() - (o.uploadTtl ?? 86400) * 1000).toISOString();
  const result = await reg.state.createUploadWithin(id, repositoryId, opener, {
    perRepository,
    perOpener,
    since,
  });
  if (result.created) return;
  const { open } = result;
  const byRepository = perRepository > 0 && open.repository >= perRepository;
  const who = byRepository
    ? `repository ${name}`
    : opener.startsWith('user:')
      ? `user ${opener.slice('user:'.length)}`
      : `client ${opener.slice('address:'.length)}`;
  const [count, limit, key] = byRepository
    ? [open.repository, perRepository, 'registry.maxUploadsPerRepository']
    : [open.opener, perOpener, 'registry.maxUploadsPerUser'];
  throw new OciError(
    'TOOMANYREQUESTS',
    `${who} has ${count} upload sessions open and ${key} allows ${limit}: complete or cancel one ` +
      `(DELETE its Location), or wait until it expires (registry.uploadTtl)`,
    { limit, key },
  );
}

/** A new session's id, recorded against the opener's limits; the store's side is not started yet. */
async function openSession(
  reg: Registry,
  name: string,
  repositoryId: number,
  req: FastifyRequest,
): Promise<string> {
  const id = randomBytes(16).toString('base64url');
  try {
    await recordSession(reg, name, repositoryId, id, openerOf(req));
  } catch (err) {
    req.raw.resume();
    throw err;
  }
  return id;
}

async function newSession(
  reg: Registry,
  name: string,
  repositoryId: number,
  req: FastifyRequest,
): Promise<string> {
  const id = await openSession(reg, name, repositoryId, req);
  try {
    await reg.blobs.startUpload(id);
  } catch (err) {
    await reg.state.deleteUpload(id).catch(() => undefined);
    throw err;
  }
  return id;
}

/**
 * A whole blob in one body, handed to a store that writes it at its final place (S3: no session
 * objects and no copy at the end), made visible and linked under the digest's lock like a
 * finished session. False, with the body untouched, when the store has no such path for it.
 */
async function receiveWhole(
  reg: Registry,
  name: string,
  repositoryId: number,
  req: FastifyRequest,
  digest: string,
  length: number | undefined,
): Promise<boolean> {
  if (length === undefined || length === 0 || !reg.blobs.receiveBlob) return false;
  const blob = await reg.blobs.receiveBlob(digest, req.raw, length);
  if (!blob) return false;
  try {
    await reg.digestLocks.run(digest, async () => {
      await reg.state.recordBlob(digest, blob.size);
      await blob.commit();
      await linkWithinQuota(reg, name, repositoryId, digest, blob.size);
    });
  } catch (err) {
    await blob.abort().catch(() => undefined);
    throw err;
  }
  return true;
}

/** Tries a cross-repository mount; true when the blob is now linked into `repositoryId`. */
async function tryMount(
  reg: Registry,
  name: string,
  repositoryId: number,
  digest: string,
  from: string | undefined,
): Promise<boolean> {
  parseDigest(digest);
  if (from !== undefined) validateName(from);
  // Automatic mount (OCI 1.1, no `from`): any repository that holds the blob will do.
  const size =
    from !== undefined
      ? await reg.state.repositoryBlobByName(from, digest)
      : await reg.state.linkedBlobSize(digest);
  if (size === undefined) return false;
  return reg.digestLocks.run(digest, async () => {
    if ((await reg.blobs.stat(digest)) === undefined) return false; // collected meanwhile
    await linkWithinQuota(reg, name, repositoryId, digest, size);
    return true;
  });
}

export async function startUpload(reg: Registry, name: string, req: FastifyRequest, reply: FastifyReply) {
  const mount = queryParam(req, 'mount');
  const digest = queryParam(req, 'digest');
  const repositoryId = await reg.state.ensureRepository(name);

  if (mount !== undefined) {
    req.raw.resume();
    const from = queryParam(req, 'from');
    // With authentication on, a mount needs pull rights on its source (else: a plain upload).
    const allowed = req.mayMountFrom ? await req.mayMountFrom(from) : true;
    if (allowed && (await tryMount(reg, name, repositoryId, mount, from)))
      return blobCreated(reply, name, mount);
    return uploadAccepted(reply, name, await newSession(reg, name, repositoryId, req), 0);
  }

  if (digest !== undefined) {
    // Monolithic upload: the body is the whole blob.
    parseDigest(digest);
    const length = contentLength(req);
    // Recorded like any session while the body arrives, so it counts against the upload limits.
    const id = await openSession(reg, name, repositoryId, req);
    try {
      if (await receiveWhole(reg, name, repositoryId, req, digest, length)) {
        await reg.state.deleteUpload(id);
      } else {
        await reg.blobs.startUpload(id);
        await reg.blobs.appendUpload(id, req.raw, length === undefined ? {} : { expectedLength: length });
        await finish(reg, name, repositoryId, id, digest);
      }
    } catch (err) {
      await discard(reg, id);
      storageError(err, id);
    }
    return blobCreated(reply, name, digest);
  }

  req.raw.resume();
  return uploadAccepted(reply, name, await newSession(reg, name, repositoryId, req), 0);
}

async function discard(reg: Registry, id: string) {
  await reg.blobs.abortUpload(id).catch(() => undefined);
  await reg.state.deleteUpload(id);
}

async function finish(reg: Registry, name: string, repositoryId: number, id: string, digest: string) {
  let finished = false;
  try {
    await reg.digestLocks.run(digest, async () => {
      await reg.state.recordBlob(digest, (await reg.blobs.uploadSize(id)) ?? 0);
      const size = await reg.blobs.finishUpload(id, digest);
      finished = true;
      await linkWithinQuota(reg, name, repositoryId, digest, size);
    });
  } catch (err) {
    // Past a quota: the session's bytes are a blob now, unlinked (garbage collection takes it).
    if (finished) await reg.state.deleteUpload(id);
    throw err;
  }
  await reg.state.deleteUpload(id);
}

/** The session, checked to belong to this repository. */
async function session(reg: Registry, name: string, id: string): Promise<number> {
  const upload = await reg.state.upload(id);
  const repositoryId = await reg.state.repositoryId(name);
  if (!upload || upload.repositoryId !== repositoryId) {
    throw new OciError('BLOB_UPLOAD_UNKNOWN', `upload ${id} is not known in ${name}`);
  }
  return upload.repositoryId;
}

/** Parses an upload's Content-Range ("<start>-<end>", inclusive). */
function parseContentRange(header: string): { start: number; end: number } {
  const m = /^(?:bytes[= ])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!m)
    throw new OciError(
      'BLOB_UPLOAD_INVALID',
      `malformed Content-Range ${JSON.stringify(header)}; expected <start>-<end>`,
    );
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (end < start) throw new OciError('RANGE_INVALID', `Content-Range ${header} ends before it starts`);
  return { start, end };
}

/** Appends the request body to the session, honouring Content-Range and Content-Length. */
async function appendBody(reg: Registry, id: string, req: FastifyRequest): Promise<number> {
  const rangeHeader = req.headers['content-range'];
  let length = contentLength(req);
  let offset: number | undefined;
  if (rangeHeader !== undefined) {
    const range = parseContentRange(rangeHeader);
    const span = range.end - range.start + 1;
    if (length !== undefined && length !== span) {
      req.raw.resume();
      throw new OciError(
        'SIZE_INVALID',
        `Content-Range ${rangeHeader} spans ${span} bytes but Content-Length is ${length}`,
      );
    }
    length = span;
    offset = range.start;
  }
  try {
    return await reg.blobs.appendUpload(id, req.raw, {
      ...(offset === undefined ? {} : { offset }),
      ...(length === undefined ? {} : { expectedLength: length }),
    });
  } catch (err) {
    return storageError(err, id);
  }
}

export async function patchUpload(
  reg: Registry,
  name: string,
  id: string,
  req: FastifyRequest,
  reply: FastifyReply,
) {
  await session(reg, name, id);
  try {
    const size = await appendBody(reg, id, req);
    return uploadAccepted(reply, name, id, size);
  } catch (err) {
    // A refused chunk leaves the session as it was: tell the client where it stands.
    if (err instanceof OciError && err.code === 'RANGE_INVALID') {
      const size = (await reg.blobs.uploadSize(id)) ?? 0;
      reply.headers({ location: uploadLocation(name, id), range: rangeOf(size), 'docker-upload-uuid': id });
    }
    throw err;
  }
}

export async function uploadStatus(reg: Registry, name: string, id: string, reply: FastifyReply) {
  await session(reg, name, id);
  const size = await reg.blobs.uploadSize(id);
  if (size === undefined) throw new OciError('BLOB_UPLOAD_UNKNOWN', `upload ${id} is not known in ${name}`);
  return reply
    .status(204)
    .headers({ location: uploadLocation(name, id), range: rangeOf(size), 'docker-upload-uuid': id })
    .send();
}

export async function completeUpload(
  reg: Registry,
  name: string,
  id: string,
  req: FastifyRequest,
  reply: FastifyReply,
) {
  const repositoryId = await session(reg, name, id);
  const digest = queryParam(req, 'digest');
  if (digest === undefined) {
    req.raw.resume();
    throw new OciError('DIGEST_INVALID', 'the digest query parameter is required to complete an upload');
  }
  parseDigest(digest);
  const hasBody =
    req.headers['content-range'] !== undefined ||
    (contentLength(req) ?? 0) > 0 ||
    req.headers['transfer-encoding'] !== undefined;
  if (hasBody && (await wholeInEmptySession(reg, id, req))) {
    // The PUT carries the whole blob: it goes to its final place directly; the session ends.
    try {
      if (await receiveWhole(reg, name, repositoryId, req, digest, contentLength(req))) {
        await discard(reg, id);
        return blobCreated(reply, name, digest);
      }
    } catch (err) {
      if (err instanceof DigestMismatchError) await discard(reg, id);
      storageError(err, id);
    }
  }
  if (hasBody) await appendBody(reg, id, req);
  else req.raw.resume();
  try {
    await finish(reg, name, repositoryId, id, digest);
  } catch (err) {
    if (err instanceof DigestMismatchError) await reg.state.deleteUpload(id);
    storageError(err, id);
  }
  return blobCreated(reply, name, digest);
}

/** A completing body with a length and no range, on a session holding nothing yet, in a store that takes whole blobs. */
async function wholeInEmptySession(reg: Registry, id: string, req: FastifyRequest): Promise<boolean> {
  if (!reg.blobs.receiveBlob || req.headers['content-range'] !== undefined) return false;
  if ((contentLength(req) ?? 0) === 0) return false;
  return (await reg.blobs.uploadSize(id)) === 0;
}

export async function cancelUpload(reg: Registry, name: string, id: string, reply: FastifyReply) {
  await session(reg, name, id);
  await discard(reg, id);
  return reply.status(204).header('content-length', 0).send();
}
