// S3 BlobStore, for registry nodes that share one bucket. Keys under the configured prefix:
//   blobs/<alg>/<2 hex>/<hex>   committed content, immutable
//   uploads/<id>/...            upload sessions, one object per appended chunk (s3-uploads.ts)
// A session lives entirely in the bucket, so any node can continue or finish it. The sha256 state
// of a session is kept in memory on the node that appended to it, valid only while its byte count
// equals the session's listed size; otherwise the digest is computed at finish by reading the
// chunks back once. Blobs appear atomically: only a completed CopyObject, PutObject or
// CompleteMultipartUpload makes the final key visible.
import { createHash, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { KeyedMutex } from '../registry/keyed-mutex.js';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { S3Config } from '../config/schema.js';
import {
  DigestMismatchError,
  LengthMismatchError,
  OffsetMismatchError,
  UploadUnknownError,
  type AppendOptions,
  type BlobStore,
  type ByteRange,
  type ReceivedBlob,
} from './blob-store.js';
import { MAX_PARTS, createS3Client, describeS3Error, isNotFound } from './s3-client.js';
import {
  ChunkExistsError,
  ChunkWriter,
  STARTED,
  composeObject,
  deleteKeys,
  hashChunks,
  listMultipartUploads,
  listObjects,
  listSession,
  sessionChunks,
  type Bucket,
  type SessionListing,
} from './s3-uploads.js';

interface KnownHash {
  /** sha256 over the session's first `size` bytes. */
  hash: Hash;
  size: number;
}

/**
 * Sessions whose digest state a node keeps. Another node may finish or abort a session this one
 * appended to, so entries are not always removed here: the oldest go beyond this many (losing one
 * only costs reading that session back at finish). A sha256 state is a few hundred bytes.
 */
const MAX_KNOWN_HASHES = 10_000;

export interface S3BlobStoreOptions {
  /** Parts per chunk object before a long body continues in the next one (S3 allows 10,000). */
  maxPartsPerChunk?: number;
}

export class S3BlobStore implements BlobStore {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly b: Bucket;
  private readonly hashes = new Map<string, KnownHash>();
  private readonly sessionQueue = new KeyedMutex();

  /** A #private field: it holds the secret key, and util.inspect or JSON of a store shows no #fields. */
  readonly #config: S3Config;

  constructor(
    config: S3Config,
    private readonly options: S3BlobStoreOptions = {},
  ) {
    this.#config = config;
    if (!config.bucket) throw new Error('S3BlobStore needs storage.s3.bucket');
    this.bucket = config.bucket;
    this.client = createS3Client(config);
    this.b = { client: this.client, bucket: this.bucket };
  }

  /** Prepended to every key this store writes. */
  get prefix(): string {
    return this.#config.prefix;
  }

  /** Where the bucket is, for messages: never the credentials. */
  private get where(): string {
    return `bucket "${this.bucket}" at ${this.#config.endpoint ?? `AWS S3 (${this.#config.region})`}`;
  }

  /** Checks that the bucket answers with these credentials. */
  async init(): Promise<void> {
    await this.check();
  }

  /** Whether the bucket answers (HeadBucket); throws naming endpoint, bucket and S3 error. */
  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      // HeadBucket answers have no body: the status is all there is to explain.
      const hint =
        status === 404
          ? ' (the bucket does not exist)'
          : status === 403
            ? ' (access denied: check the access key, its secret and its permissions)'
            : status === 301
              ? ' (the bucket is in another region)'
              : '';
      throw new Error(`S3 ${this.where} is not usable: ${describeS3Error(err)}${hint}`, { cause: err });
    }
  }

  close(): void {
    this.client.destroy();
  }

  private blobKey(digest: string): string {
    const [alg, hex] = digest.split(':') as [string, string];
    return `${this.#config.prefix}blobs/${alg}/${hex.slice(0, 2)}/${hex}`;
  }

  private sessionPrefix(id: string): string {
    if (!/^[A-Za-z0-9_-]{8,64}$/.test(id)) throw new UploadUnknownError(id);
    return `${this.#config.prefix}uploads/${id}/`;
  }

  async stat(digest: string): Promise<number | undefined> {
    try {
      const out = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.blobKey(digest) }),
      );
      return out.ContentLength ?? 0;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async read(digest: string, range?: ByteRange): Promise<Readable> {
    try {
      const out = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.blobKey(digest),
          ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
        }),
      );
      return out.Body as Readable;
    } catch (err) {
      throw notFoundAsEnoent(err, digest);
    }
  }

  async readBytes(digest: string): Promise<Buffer> {
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.blobKey(digest) }),
      );
      const bytes = await out.Body!.transformToByteArray();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (err) {
      throw notFoundAsEnoent(err, digest);
    }
  }

  /** A presigned GET of the blob, valid `expiresSeconds`, for redirecting clients to the bucket. */
  downloadUrl(digest: string, expiresSeconds: number): Promise<string> {
    return getSignedUrl(
      this.client,
      new GetObjectCommand({ Bucket: this.bucket, Key: this.blobKey(digest) }),
      {
        expiresIn: expiresSeconds,
      },
    );
  }

  async putBytes(digest: string, data: Buffer): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.blobKey(digest),
        Body: data,
        ContentLength: data.length,
      }),
    );
  }

  /**
   * A whole blob streamed straight into a multipart upload at its final key (one PutObject when it
   * fits one part): no session objects, and no copy of the bytes at the end. Hashed as it comes;
   * a wrong digest or length aborts the upload, so nothing stays. Bodies longer than 10,000 parts
   * go through a session, whose chunk objects have no such limit.
   */
  async receiveBlob(digest: string, source: Readable, length: number): Promise<ReceivedBlob | undefined> {
    if (length > this.#config.partSize * MAX_PARTS) return undefined;
    const [algorithm] = digest.split(':') as [string];
    const key = this.blobKey(digest);
    const hash = createHash(algorithm);
    const writer = new ChunkWriter(
      this.b,
      { keyAt: () => key, createOnly: false },
      0,
      this.#config.partSize,
      Infinity,
    );
    try {
      await consume(source, length, async (data) => {
        hash.update(data);
        await writer.write(data);
      });
      const actual = `${algorithm}:${hash.digest('hex')}`;
      if (actual !== digest) throw new DigestMismatchError(digest, actual);
      await writer.seal();
    } catch (err) {
      await writer.abort().catch(() => undefined);
      throw err;
    }
    let committed = false;
    return {
      size: length,
      commit: async () => {
        committed = true;
        // Content-addressed: a blob already there is these bytes, and stays as it is.
        await ((await this.stat(digest)) === undefined ? writer.end() : writer.abort());
      },
      abort: async () => {
        if (!committed) await writer.abort();
      },
    };
  }

  /** Aborts multipart uploads at blob keys begun before `before`: receiveBlob calls a node did not finish. */
  async expireBlobWrites(before: Date, dryRun: boolean): Promise<number> {
    let n = 0;
    for await (const u of listMultipartUploads(this.b, `${this.#config.prefix}blobs/`)) {
      if ((u.initiated?.getTime() ?? 0) >= before.getTime()) continue;
      n++;
      if (dryRun) continue;
      await this.client
        .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.key, UploadId: u.uploadId }))
        .catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        });
    }
    return n;
  }

  async delete(digest: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.blobKey(digest) }));
  }

  /** Runs `fn` after every earlier operation on the same session (on this node) has settled. */
  private serialise<T>(id: string, fn: () => Promise<T>): Promise<T> {
    return this.sessionQueue.run(id, fn);
  }

  async startUpload(id: string): Promise<void> {
    const key = this.sessionPrefix(id) + STARTED;
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: new Date().toISOString(),
          ContentType: 'text/plain',
          IfNoneMatch: '*',
        }),
      );
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 412) throw new Error(`upload ${id} already exists`, { cause: err });
      throw err;
    }
    this.remember(id, { hash: createHash('sha256'), size: 0 });
  }

  /** Keeps a session's digest state, as the newest entry of the bounded map. */
  private remember(id: string, known: KnownHash): void {
    this.hashes.delete(id);
    this.hashes.set(id, known);
    if (this.hashes.size > MAX_KNOWN_HASHES) this.hashes.delete(this.hashes.keys().next().value!);
  }

  /** The session as the bucket has it; UploadUnknownError when it was never started or is gone. */
  private async listing(id: string): Promise<SessionListing> {
    const listing = await listSession(this.b, this.sessionPrefix(id));
    if (!listing.started) throw new UploadUnknownError(id);
    return listing;
  }

  async uploadSize(id: string): Promise<number | undefined> {
    try {
      return (await this.listing(id)).size;
    } catch (err) {
      if (err instanceof UploadUnknownError) return undefined;
      throw err;
    }
  }

  appendUpload(id: string, source: Readable, options: AppendOptions = {}): Promise<number> {
    return this.serialise(id, async () => {
      const { size } = await this.listing(id);
      if (options.offset !== undefined && options.offset !== size) {
        source.resume(); // drain: the request is refused, its body is not ours to keep
        throw new OffsetMismatchError(options.offset, size);
      }
      // Hashed into a copy: the kept state moves on only once the chunk is stored.
      const known = this.hashes.get(id);
      const hash = known && known.size === size ? known.hash.copy() : undefined;
      if (!hash) this.hashes.delete(id); // another node appended: the digest is computed at finish
      const writer = new ChunkWriter(
        this.b,
        sessionChunks(this.sessionPrefix(id)),
        size,
        this.#config.partSize,
        this.options.maxPartsPerChunk ?? MAX_PARTS,
      );
      let received = 0;
      try {
        received = await consume(source, options.expectedLength, async (data) => {
          hash?.update(data);
          await writer.write(data);
        });
        await writer.end();
      } catch (err) {
        // Nothing of this body stays: the session is as it was before the call.
        await writer.abort().catch(() => undefined);
        if (!(err instanceof LengthMismatchError)) this.hashes.delete(id);
        // Another node appended at the same offset meanwhile: this request starts at the wrong place.
        if (err instanceof ChunkExistsError)
          throw new OffsetMismatchError(size, (await this.listing(id).catch(() => undefined))?.size ?? size);
        throw err;
      }
      if (hash) this.remember(id, { hash, size: size + received });
      return size + received;
    });
  }

  finishUpload(id: string, digest: string): Promise<number> {
    return this.serialise(id, async () => {
      const listing = await this.listing(id);
      const [algorithm] = digest.split(':') as [string];
      const known = this.hashes.get(id);
      const actual =
        algorithm === 'sha256' && known && known.size === listing.size
          ? `sha256:${known.hash.copy().digest('hex')}`
          : `${algorithm}:${await hashChunks(this.b, listing.chunks, algorithm)}`;
      if (actual !== digest) {
        await this.discard(id, listing.keys);
        throw new DigestMismatchError(digest, actual);
      }
      const key = this.blobKey(digest);
      // Content-addressed: a blob already there is this content.
      if ((await this.stat(digest)) === undefined)
        await composeObject(this.b, key, listing.chunks, listing.size, this.#config.partSize);
      await this.discard(id, listing.keys);
      return listing.size;
    });
  }

  /** Deletes a session: its marker first, so it is gone for every node even if the rest fails. */
  private async discard(id: string, keys: string[]): Promise<void> {
    this.hashes.delete(id);
    const marker = this.sessionPrefix(id) + STARTED;
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: marker }));
    await deleteKeys(
      this.b,
      keys.filter((k) => k !== marker),
    );
  }

  abortUpload(id: string): Promise<void> {
    return this.serialise(id, async () => {
      const prefix = this.sessionPrefix(id);
      const keys: string[] = [];
      for await (const o of listObjects(this.b, prefix)) keys.push(o.key);
      await this.discard(id, keys);
      // A chunk some node is still sending (or a node died sending) is an unfinished multipart
      // upload: invisible, but stored until aborted.
      for await (const u of listMultipartUploads(this.b, prefix)) {
        await this.client
          .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.key, UploadId: u.uploadId }))
          .catch((err: unknown) => {
            if (!isNotFound(err)) throw err;
          });
      }
    });
  }

  async staleUploads(before: Date): Promise<string[]> {
    const root = `${this.#config.prefix}uploads/`;
    const newest = new Map<string, number>();
    const seen = (key: string, at: Date | undefined) => {
      const id = key.slice(root.length).split('/')[0]!;
      const t = at?.getTime() ?? 0;
      if (t >= (newest.get(id) ?? -Infinity)) newest.set(id, t);
    };
    for await (const o of listObjects(this.b, root)) seen(o.key, o.lastModified);
    // A chunk still being sent counts from when it began; one a dead node left behind is found here.
    for await (const u of listMultipartUploads(this.b, root)) seen(u.key, u.initiated);
    return [...newest].filter(([, t]) => t < before.getTime()).map(([id]) => id);
  }
}

/**
 * Feeds a request body to `take` as Buffers, refusing more or fewer bytes than announced (as soon
 * as a body runs past its length); returns the byte count.
 */
async function consume(
  source: Readable,
  expectedLength: number | undefined,
  take: (data: Buffer) => Promise<void>,
): Promise<number> {
  let received = 0;
  for await (const raw of source as AsyncIterable<Buffer | Uint8Array | string>) {
    const data =
      typeof raw === 'string'
        ? Buffer.from(raw)
        : Buffer.isBuffer(raw)
          ? raw
          : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    received += data.length;
    if (expectedLength !== undefined && received > expectedLength)
      throw new LengthMismatchError(expectedLength, received);
    await take(data);
  }
  if (expectedLength !== undefined && received !== expectedLength)
    throw new LengthMismatchError(expectedLength, received);
  return received;
}

/** A missing blob fails like the filesystem store's: an error with code ENOENT. */
function notFoundAsEnoent(err: unknown, digest: string): unknown {
  if (!isNotFound(err)) return err;
  return Object.assign(new Error(`blob ${digest} does not exist`, { cause: err }), { code: 'ENOENT' });
}
