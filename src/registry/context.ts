// What registry handlers share: the state store, the blob store, and small helpers.
import type { FastifyRequest } from 'fastify';
import type { BlobStore } from '../storage/blob-store.js';
import type { StateStore } from '../state/store.js';
import type { EventBus } from '../webhooks/events.js';
import { OciError } from './errors.js';
import type { KeyedLocks } from '../state/pg-locks.js';
import type { ManifestBytes } from './manifest-bytes.js';
import type { PresentBlobs } from './present-blobs.js';
import type { PullTimes } from './pull-times.js';

export interface RegistryOptions {
  /** Accept manifests that reference blobs or child manifests the repository does not have. */
  allowSparseManifests: boolean;
  /** Answer blob GETs with a redirect to the store's own URL (S3 presigned), when it has one. */
  redirectDownloads?: boolean;
  /** Open upload sessions one repository, and one user or anonymous address, may have (unset or 0: no limit). */
  maxUploadsPerRepository?: number;
  maxUploadsPerUser?: number;
  /** Seconds after which an idle upload session has expired (and no longer counts). */
  uploadTtl?: number;
}

export interface Registry {
  state: StateStore;
  blobs: BlobStore;
  options: RegistryOptions;
  /**
   * Per-digest lock shared by pushes (commit + link) and garbage collection (delete): within this
   * process, or across every node sharing the PostgreSQL state.
   */
  digestLocks: KeyedLocks;
  /** Where pushes and deletes are announced (webhooks); none in the CLI's collection runs. */
  events?: EventBus;
  /** Manifest bytes by digest, kept in memory; without it they are read from the blob store. */
  manifestBytes?: ManifestBytes;
  /** Blobs found in the blob store in the last seconds; without it every check asks the store. */
  presentBlobs?: PresentBlobs;
  /** Where manifest GETs are noted as pulls (the server's); without it pulls are not recorded. */
  pullTimes?: PullTimes;
}

/** The stored size of a blob's content, or undefined when the blob store does not have it. */
export function storedSize(reg: Registry, digest: string): Promise<number | undefined> {
  return reg.presentBlobs ? reg.presentBlobs.size(digest) : reg.blobs.stat(digest);
}

/** A manifest's bytes: from memory when kept there, else from the blob store. */
export function readManifest(reg: Registry, digest: string): Promise<Buffer> {
  return reg.manifestBytes ? reg.manifestBytes.get(digest) : reg.blobs.readBytes(digest);
}

/** The repository's id, or NAME_UNKNOWN when nothing was ever pushed to it. */
export async function existingRepository(reg: Registry, name: string): Promise<number> {
  const id = await reg.state.repositoryId(name);
  if (id === undefined)
    throw new OciError('NAME_UNKNOWN', `repository ${name} is not known to this registry`, { name });
  return id;
}

export function query(req: FastifyRequest): Record<string, string | string[] | undefined> {
  return req.query as Record<string, string | string[] | undefined>;
}

/** Every value of a query parameter that may repeat (e.g. tag=a&tag=b). */
export function queryParams(req: FastifyRequest, name: string): string[] {
  const v = query(req)[name];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** A single query parameter; repeated parameters are refused rather than guessed at. */
export function queryParam(req: FastifyRequest, name: string): string | undefined {
  const v = query(req)[name];
  if (Array.isArray(v))
    throw new OciError('UNSUPPORTED', `query parameter ${name} given more than once`, undefined, 400);
  return v;
}

/** Reads a whole request body up to `limit` bytes; more is SIZE_INVALID (413). */
export async function readBody(req: FastifyRequest, limit: number): Promise<Buffer> {
  const announced = Number(req.headers['content-length']);
  if (Number.isFinite(announced) && announced > limit) {
    req.raw.resume();
    throw new OciError(
      'SIZE_INVALID',
      `body of ${announced} bytes exceeds the limit of ${limit}`,
      { limit },
      413,
    );
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req.raw as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      req.raw.resume();
      throw new OciError('SIZE_INVALID', `body exceeds the limit of ${limit} bytes`, { limit }, 413);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Content-Length as a number, undefined when absent; malformed is a client error. */
export function contentLength(req: FastifyRequest): number | undefined {
  const raw = req.headers['content-length'];
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw)) throw new OciError('SIZE_INVALID', `invalid Content-Length ${JSON.stringify(raw)}`);
  return Number(raw);
}
