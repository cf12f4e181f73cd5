// Upload sessions of the S3 BlobStore, kept in the bucket so that any registry node can continue
// a session another node started (no node keeps state another needs):
//   uploads/<id>/started             marker written by startUpload (body: the start time);
//                                     the session exists exactly while it does
//   uploads/<id>/<offset, 16 digits> one object per appended chunk; its size is the chunk's size
// A chunk becomes visible only when its PutObject or CompleteMultipartUpload completes, so a
// failed append leaves no trace; both are conditional (If-None-Match: *), so a chunk, once
// stored, is never replaced. Here: listing a session, the bounded-memory writer that turns
// one request body into chunk objects (ChunkWriter), reading chunks back for a digest, and
// composing the chunks into the final blob at finish (composeObject).
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { MAX_COPY, MAX_PART, MAX_PARTS, MIN_PART, copySource } from './s3-client.js';

export const STARTED = 'started';
const OFFSET_DIGITS = 16;
/** The largest streamed part of a finish (then 10,000 parts reach S3's 5 TiB object limit). */
const MAX_STREAM_PART = 512 * 1024 * 1024;
/** UploadPartCopy requests of one finish that run at once (server-side copies, no memory here). */
const COPY_CONCURRENCY = 4;

export interface Bucket {
  client: S3Client;
  bucket: string;
}

export interface Chunk {
  key: string;
  /** Where the chunk starts in the session. */
  offset: number;
  size: number;
}

export interface SessionListing {
  /** The started marker is there: the session exists. */
  started: boolean;
  /** In offset order, contiguous from 0. */
  chunks: Chunk[];
  /** Sum of the chunk sizes. */
  size: number;
  /** Every key under the session prefix, markers and strays included (for deletion). */
  keys: string[];
}

export const chunkKey = (sessionPrefix: string, offset: number): string =>
  sessionPrefix + String(offset).padStart(OFFSET_DIGITS, '0');

/** Every object under `prefix`, page by page. */
export async function* listObjects(
  b: Bucket,
  prefix: string,
): AsyncGenerator<{ key: string; size: number; lastModified: Date | undefined }> {
  let token: string | undefined;
  do {
    const page = await b.client.send(
      new ListObjectsV2Command({ Bucket: b.bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) {
      if (o.Key !== undefined) yield { key: o.Key, size: o.Size ?? 0, lastModified: o.LastModified };
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

/** Every unfinished multipart upload under `prefix`, page by page. */
export async function* listMultipartUploads(
  b: Bucket,
  prefix: string,
): AsyncGenerator<{ key: string; uploadId: string; initiated: Date | undefined }> {
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  do {
    const page = await b.client.send(
      new ListMultipartUploadsCommand({
        Bucket: b.bucket,
        Prefix: prefix,
        KeyMarker: keyMarker,
        UploadIdMarker: uploadIdMarker,
      }),
    );
    for (const u of page.Uploads ?? []) {
      if (u.Key !== undefined && u.UploadId !== undefined)
        yield { key: u.Key, uploadId: u.UploadId, initiated: u.Initiated };
    }
    keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
    uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
  } while (keyMarker);
}

const CHUNK_NAME = new RegExp(`^\\d{${OFFSET_DIGITS}}$`);

/** Reads a session's objects; throws when its chunks leave a gap or overlap. */
export async function listSession(b: Bucket, sessionPrefix: string): Promise<SessionListing> {
  const listing: SessionListing = { started: false, chunks: [], size: 0, keys: [] };
  for await (const o of listObjects(b, sessionPrefix)) {
    listing.keys.push(o.key);
    const name = o.key.slice(sessionPrefix.length);
    if (name === STARTED) listing.started = true;
    else if (CHUNK_NAME.test(name)) listing.chunks.push({ key: o.key, offset: Number(name), size: o.size });
  }
  listing.chunks.sort((x, y) => x.offset - y.offset);
  for (const c of listing.chunks) {
    if (c.offset !== listing.size)
      throw new Error(
        `upload session ${sessionPrefix} is inconsistent: a chunk starts at ${c.offset}, the data before it ends at ${listing.size}`,
      );
    listing.size += c.size;
  }
  return listing;
}

/** Deletes objects, 1000 per request; a key that is already gone is no error. */
export async function deleteKeys(b: Bucket, keys: string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000) {
    const batch = keys.slice(i, i + 1000);
    const out = await b.client.send(
      new DeleteObjectsCommand({
        Bucket: b.bucket,
        Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
      }),
    );
    const failed = (out.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
    if (failed.length > 0) {
      const e = failed[0]!;
      throw new Error(`deleting ${failed.length} object(s) failed, first ${e.Key}: ${e.Code} ${e.Message}`);
    }
  }
}

/** Hex digest of the concatenated chunks, read back once (a session this node has not seen whole). */
export async function hashChunks(b: Bucket, chunks: Chunk[], algorithm: string): Promise<string> {
  const hash = createHash(algorithm);
  for (const c of chunks) {
    if (c.size === 0) continue;
    const out = await b.client.send(new GetObjectCommand({ Bucket: b.bucket, Key: c.key }));
    let got = 0;
    for await (const data of out.Body as Readable) {
      hash.update(data as Buffer);
      got += (data as Buffer).length;
    }
    if (got !== c.size) throw new Error(`chunk ${c.key} is ${got} bytes, listed as ${c.size}`);
  }
  return hash.digest('hex');
}

/**
 * Another writer stored a chunk at this offset first. Chunk objects are written with
 * If-None-Match: *, so two nodes appending to one session at once cannot replace each other's
 * bytes (a node's digest state, valid by size, would otherwise describe content not stored).
 */
export class ChunkExistsError extends Error {
  constructor(readonly key: string) {
    super(`another append stored ${key} first`);
    this.name = 'ChunkExistsError';
  }
}

/** Runs a chunk object's final write, turning a failed If-None-Match into ChunkExistsError. */
async function createOnly<T>(key: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 412)
      throw new ChunkExistsError(key);
    throw err;
  }
}

/** Keeps failures of promises nobody awaits yet from becoming unhandled rejections. */
function quiet<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

/** Where a ChunkWriter puts what it is given. */
export interface WriterTarget {
  /** The key of the object that starts at `offset` of the body (a body past the part limit rolls over). */
  keyAt(offset: number): string;
  /** Objects are created only where none exists (If-None-Match: *): session chunks, never replaced. */
  createOnly: boolean;
}

/** A session's chunk objects: `<session prefix><offset>`, each created only once. */
export const sessionChunks = (sessionPrefix: string): WriterTarget => ({
  keyAt: (offset) => chunkKey(sessionPrefix, offset),
  createOnly: true,
});

/**
 * Turns one request body into objects starting at `start` (session chunks, or a whole blob at its
 * final key), holding two parts in memory (three for a moment, while the first is copied out of
 * what was collected). Up to partSize bytes are collected as they come (a small body costs one
 * PutObject and no copies); past that the object becomes a multipart upload whose parts are
 * copied into two reused partSize buffers: one filling while the other is being sent. An object
 * is closed at maxParts parts and the next one starts where it ends, so one body has no size
 * limit. Nothing is visible until end(); abort() removes what end() or a rollover made.
 */
export class ChunkWriter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private buffers: Buffer[] = [];
  private fill = 0;
  private fillLen = 0;
  private inflight: Promise<void> | undefined;
  private upload: { key: string; uploadId: string; parts: CompletedPart[]; bytes: number } | undefined;
  private objectStart: number;
  /** seal() has sent every part: end() completes the upload. */
  private sealed = false;
  /** Chunk objects this writer completed (deleted again by abort()). */
  readonly created: string[] = [];

  constructor(
    private readonly b: Bucket,
    private readonly target: WriterTarget,
    start: number,
    private readonly partSize: number,
    private readonly maxParts: number = MAX_PARTS,
  ) {
    this.objectStart = start;
  }

  async write(data: Buffer): Promise<void> {
    if (this.buffers.length === 0) {
      this.pending.push(data);
      this.pendingBytes += data.length;
      if (this.pendingBytes <= this.partSize) return;
      // More than one part: from here on the body streams through two reused buffers.
      const collected = this.pending;
      this.pending = [];
      this.pendingBytes = 0;
      this.buffers.push(Buffer.allocUnsafe(this.partSize));
      while (collected.length > 0) await this.copyIn(collected.shift()!);
      return;
    }
    await this.copyIn(data);
  }

  private async copyIn(data: Buffer): Promise<void> {
    let pos = 0;
    while (pos < data.length) {
      // A full buffer is sent only once more data comes, so end() always has a last part to send.
      if (this.fillLen === this.partSize) await this.sendPart(false);
      const n = data.copy(this.buffers[this.fill]!, this.fillLen, pos, pos + this.partSize - this.fillLen);
      this.fillLen += n;
      pos += n;
    }
  }

  /** Sends the filling buffer as the next part; `last` waits for it and completes the object. */
  private async sendPart(last: boolean): Promise<void> {
    if (!this.upload) {
      const key = this.target.keyAt(this.objectStart);
      const out = await this.b.client.send(
        new CreateMultipartUploadCommand({ Bucket: this.b.bucket, Key: key }),
      );
      if (!out.UploadId) throw new Error(`CreateMultipartUpload of ${key} returned no upload id`);
      this.upload = { key, uploadId: out.UploadId, parts: [], bytes: 0 };
    }
    const upload = this.upload;
    // The other buffer is free once its part has been sent.
    if (this.inflight) await this.inflight;
    this.inflight = undefined;
    const body = this.buffers[this.fill]!.subarray(0, this.fillLen);
    const partNumber = upload.parts.length + 1;
    upload.bytes += body.length;
    const part: CompletedPart = { PartNumber: partNumber };
    upload.parts.push(part);
    const sending = this.b.client
      .send(
        new UploadPartCommand({
          Bucket: this.b.bucket,
          Key: upload.key,
          UploadId: upload.uploadId,
          PartNumber: partNumber,
          Body: body,
          ContentLength: body.length,
        }),
      )
      .then((out) => {
        part.ETag = out.ETag;
      });
    if (this.buffers.length < 2) this.buffers.push(Buffer.allocUnsafe(this.partSize));
    this.fill = 1 - this.fill;
    this.fillLen = 0;
    if (last || partNumber === this.maxParts) {
      await sending;
      await this.complete();
    } else {
      this.inflight = quiet(sending);
    }
  }

  /** Runs an object's final write, conditional when the target wants objects created only once. */
  private publish<T>(key: string, write: (condition: { IfNoneMatch?: string }) => Promise<T>): Promise<T> {
    return this.target.createOnly ? createOnly(key, () => write({ IfNoneMatch: '*' })) : write({});
  }

  private async complete(): Promise<void> {
    const upload = this.upload!;
    await this.publish(upload.key, (condition) =>
      this.b.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.b.bucket,
          Key: upload.key,
          UploadId: upload.uploadId,
          MultipartUpload: { Parts: upload.parts },
          ...condition,
        }),
      ),
    );
    this.upload = undefined;
    this.created.push(upload.key);
    this.objectStart += upload.bytes;
  }

  /**
   * Sends what is still buffered of a multipart object as its last part and waits for every part:
   * after this, end() only has to make the object visible. Nothing is visible yet.
   */
  async seal(): Promise<void> {
    if (this.buffers.length === 0 || this.sealed) return;
    if (this.fillLen > 0) await this.sendPart(false);
    await this.inflight;
    this.inflight = undefined;
    this.sealed = true;
  }

  /** Makes what was written visible. */
  async end(): Promise<void> {
    if (this.buffers.length === 0) {
      if (this.pendingBytes === 0) return;
      const key = this.target.keyAt(this.objectStart);
      const body =
        this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [];
      await this.publish(key, (condition) =>
        this.b.client.send(
          new PutObjectCommand({
            Bucket: this.b.bucket,
            Key: key,
            Body: body,
            ContentLength: body.length,
            ...condition,
          }),
        ),
      );
      this.created.push(key);
      return;
    }
    if (this.sealed) {
      if (this.upload) await this.complete();
    } else if (this.fillLen > 0) await this.sendPart(true);
    this.buffers = [];
  }

  /** Undoes everything: the open multipart upload and any chunk object already completed. */
  async abort(): Promise<void> {
    this.pending = [];
    this.buffers = [];
    await this.inflight?.catch(() => undefined);
    const upload = this.upload;
    this.upload = undefined;
    const errors: unknown[] = [];
    if (upload) {
      await this.b.client
        .send(
          new AbortMultipartUploadCommand({
            Bucket: this.b.bucket,
            Key: upload.key,
            UploadId: upload.uploadId,
          }),
        )
        .catch((err: unknown) => errors.push(err));
    }
    if (this.created.length > 0)
      await deleteKeys(this.b, this.created.splice(0)).catch((err: unknown) => errors.push(err));
    if (errors.length > 0) throw errors[0];
  }
}

/** One part of the final object: a server-side copy of a chunk's range, or bytes streamed through. */
type Part =
  | { kind: 'copy'; key: string; start: number; end: number }
  | { kind: 'stream'; segments: { key: string; start: number; end: number }[]; size: number };

/**
 * The parts that assemble `chunks`: every chunk range of at least `minPiece` bytes is copied
 * server-side (UploadPartCopy); runs of smaller chunks are streamed through in parts of
 * `streamPart` bytes, topped up from the next large chunk so that every part but the last is at
 * least MIN_PART. Ranges end exclusive.
 */
export function planParts(chunks: Chunk[], minPiece: number, streamPart: number): Part[] {
  const parts: Part[] = [];
  let stream: { key: string; start: number; end: number }[] = [];
  let streamBytes = 0;
  const flush = () => {
    if (streamBytes > 0) parts.push({ kind: 'stream', segments: stream, size: streamBytes });
    stream = [];
    streamBytes = 0;
  };
  const take = (c: Chunk, from: number, n: number) => {
    stream.push({ key: c.key, start: from, end: from + n });
    streamBytes += n;
    if (streamBytes >= streamPart) flush();
  };
  for (const c of chunks) {
    let a = 0;
    while (a < c.size) {
      const rest = c.size - a;
      if (streamBytes === 0 && rest >= minPiece) {
        // Copied in as few parts as the 5 GiB part limit allows, each of equal size.
        const n = Math.ceil(rest / MAX_PART);
        const each = Math.ceil(rest / n);
        for (let s = a; s < c.size; s += each)
          parts.push({ kind: 'copy', key: c.key, start: s, end: Math.min(c.size, s + each) });
        a = c.size;
      } else if (streamBytes >= MIN_PART && rest >= minPiece) {
        flush();
      } else {
        const need = MIN_PART - streamBytes;
        // Top the streamed part up to the minimum when what is left of the chunk can still be copied.
        const topUp = need > 0 && rest - need >= minPiece;
        const n = topUp ? need : Math.min(rest, streamPart - streamBytes);
        take(c, a, n);
        if (topUp) flush();
        a += n;
      }
    }
  }
  flush();
  return parts;
}

/** Reads `[start, end)` of an object into `into` at `at`. */
async function readRange(
  b: Bucket,
  key: string,
  start: number,
  end: number,
  into: Buffer,
  at: number,
): Promise<void> {
  const out = await b.client.send(
    new GetObjectCommand({ Bucket: b.bucket, Key: key, Range: `bytes=${start}-${end - 1}` }),
  );
  let pos = at;
  for await (const data of out.Body as Readable) {
    const buf = data as Buffer;
    if (pos + buf.length > at + (end - start)) throw new Error(`${key}: more bytes than the range asked for`);
    buf.copy(into, pos);
    pos += buf.length;
  }
  if (pos !== at + (end - start)) throw new Error(`${key}: range ${start}-${end - 1} came short`);
}

async function streamed(b: Bucket, part: Extract<Part, { kind: 'stream' }>): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(part.size);
  let at = 0;
  for (const s of part.segments) {
    await readRange(b, s.key, s.start, s.end, buf, at);
    at += s.end - s.start;
  }
  return buf;
}

/**
 * Makes `key` the concatenation of `chunks` (`size` bytes in all), atomically: the object exists
 * only once CopyObject, PutObject or CompleteMultipartUpload has succeeded. Streamed parts are
 * read into one buffer at a time (at most max(partSize, 5 MiB) bytes, doubled up to 512 MiB only
 * for sessions so large and fragmented that 10,000 parts would not hold them).
 */
export async function composeObject(
  b: Bucket,
  key: string,
  chunks: Chunk[],
  size: number,
  partSize: number,
): Promise<void> {
  const nonEmpty = chunks.filter((c) => c.size > 0);
  if (nonEmpty.length === 0) {
    await b.client.send(
      new PutObjectCommand({ Bucket: b.bucket, Key: key, Body: Buffer.alloc(0), ContentLength: 0 }),
    );
    return;
  }
  if (nonEmpty.length === 1 && size <= MAX_COPY) {
    await b.client.send(
      new CopyObjectCommand({
        Bucket: b.bucket,
        Key: key,
        CopySource: copySource(b.bucket, nonEmpty[0]!.key),
      }),
    );
    return;
  }
  let minPiece = MIN_PART;
  let streamPart = Math.max(partSize, MIN_PART);
  let parts = planParts(nonEmpty, minPiece, streamPart);
  while (parts.length > MAX_PARTS && minPiece < MAX_PART) {
    minPiece *= 2;
    streamPart = Math.min(streamPart * 2, MAX_STREAM_PART);
    parts = planParts(nonEmpty, minPiece, streamPart);
  }
  if (parts.length > MAX_PARTS)
    throw new Error(`${size} bytes in ${nonEmpty.length} chunks do not fit the 10,000 parts of one object`);
  const only = parts[0]!;
  if (parts.length === 1 && only.kind === 'stream') {
    const body = await streamed(b, only);
    await b.client.send(
      new PutObjectCommand({ Bucket: b.bucket, Key: key, Body: body, ContentLength: body.length }),
    );
    return;
  }

  const created = await b.client.send(new CreateMultipartUploadCommand({ Bucket: b.bucket, Key: key }));
  const uploadId = created.UploadId;
  if (!uploadId) throw new Error(`CreateMultipartUpload of ${key} returned no upload id`);
  const done: CompletedPart[] = [];
  const running = new Set<Promise<void>>();
  try {
    for (const [i, part] of parts.entries()) {
      const PartNumber = i + 1;
      if (part.kind === 'copy') {
        const p = quiet(
          b.client
            .send(
              new UploadPartCopyCommand({
                Bucket: b.bucket,
                Key: key,
                UploadId: uploadId,
                PartNumber,
                CopySource: copySource(b.bucket, part.key),
                CopySourceRange: `bytes=${part.start}-${part.end - 1}`,
              }),
            )
            .then((out) => {
              done.push({ PartNumber, ETag: out.CopyPartResult?.ETag });
            }),
        );
        running.add(p);
        void p.then(
          () => running.delete(p),
          () => undefined,
        );
        if (running.size >= COPY_CONCURRENCY) await Promise.race(running);
      } else {
        const body = await streamed(b, part);
        const out = await b.client.send(
          new UploadPartCommand({
            Bucket: b.bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber,
            Body: body,
            ContentLength: body.length,
          }),
        );
        done.push({ PartNumber, ETag: out.ETag });
      }
    }
    await Promise.all(running);
    done.sort((x, y) => x.PartNumber! - y.PartNumber!);
    await b.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: b.bucket,
        Key: key,
        UploadId: uploadId,
        MultipartUpload: { Parts: done },
      }),
    );
  } catch (err) {
    await Promise.allSettled(running);
    await b.client
      .send(new AbortMultipartUploadCommand({ Bucket: b.bucket, Key: key, UploadId: uploadId }))
      .catch(() => undefined);
    throw err;
  }
}
