// The BlobStore interface: content-addressed blobs plus resumable upload sessions. The
// filesystem implementation is the default; the S3 one serves several registry nodes. Both keep
// the digest state of an upload while streaming, so data is hashed once as it arrives.
import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive. */
  end: number;
}

export interface AppendOptions {
  /** Where the data must start: the session's current size, or the append is refused. */
  offset?: number;
  /** The exact number of bytes the caller announced (Content-Length); a short or long body fails. */
  expectedLength?: number;
}

export interface BlobStore {
  /** Size in bytes of a stored blob, or undefined when it is absent. */
  stat(digest: string): Promise<number | undefined>;
  /** Streams a blob, or the inclusive byte range of it. */
  read(digest: string, range?: ByteRange): Promise<Readable>;
  readBytes(digest: string): Promise<Buffer>;
  /** Stores that keep blobs as local files offer them directly, for zero-copy style sending. */
  openFile?(digest: string): Promise<FileHandle>;
  /** Stores small content already in memory (manifests), verifying nothing: the caller hashed it. */
  putBytes(digest: string, data: Buffer): Promise<void>;
  delete(digest: string): Promise<void>;
  /**
   * Stores that can write a whole blob at its final place, without an upload session, take it
   * here (S3: straight into a multipart upload at the blob's key, no copy at the end). The body
   * must be exactly `length` bytes hashing to `digest`, else the store keeps nothing and throws
   * LengthMismatchError or DigestMismatchError. Returns undefined, having read nothing, when the
   * blob is better sent through a session.
   */
  receiveBlob?(digest: string, source: Readable, length: number): Promise<ReceivedBlob | undefined>;
  /** Removes (or, dry, counts) receiveBlob writes begun before `before` that nobody finished. */
  expireBlobWrites?(before: Date, dryRun: boolean): Promise<number>;

  startUpload(id: string): Promise<void>;
  /** Appends at the end of the session; returns the new size. Concurrent appends are serialised. */
  appendUpload(id: string, source: Readable, options?: AppendOptions): Promise<number>;
  /** Current size of a session, or undefined when it does not exist. */
  uploadSize(id: string): Promise<number | undefined>;
  /**
   * Checks the session's content against `digest` and, when it matches, makes it the blob
   * atomically. A mismatch deletes the session's data and throws DigestMismatchError.
   */
  finishUpload(id: string, digest: string): Promise<number>;
  abortUpload(id: string): Promise<void>;
  /** Sessions whose data was last written before `before` (for expiry). */
  staleUploads(before: Date): Promise<string[]>;

  /** Stores that live elsewhere (S3) can send clients there: a URL to GET the blob, valid `expiresSeconds`. */
  downloadUrl?(digest: string, expiresSeconds: number): Promise<string>;
  /** Whether the store answers now (for /readyz); throws with the reason when it does not. */
  check?(): Promise<void>;
  /** Releases connections (S3 clients); the store is not used afterwards. */
  close?(): void;
}

/** A blob received whole and verified but not visible yet: the caller commits it under its lock. */
export interface ReceivedBlob {
  size: number;
  /** Makes the blob visible (atomically; a blob already stored is left as it is). */
  commit(): Promise<void>;
  /** Drops what was received; nothing once committed. */
  abort(): Promise<void>;
}

export class DigestMismatchError extends Error {
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`content digest ${actual} does not match ${expected}`);
    this.name = 'DigestMismatchError';
  }
}

export class OffsetMismatchError extends Error {
  constructor(
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`upload is at offset ${actual}, the request starts at ${expected}`);
    this.name = 'OffsetMismatchError';
  }
}

export class LengthMismatchError extends Error {
  constructor(
    readonly announced: number,
    readonly received: number,
  ) {
    super(`announced ${announced} bytes, received ${received}`);
    this.name = 'LengthMismatchError';
  }
}

export class UploadUnknownError extends Error {
  constructor(readonly id: string) {
    super(`upload ${id} does not exist`);
    this.name = 'UploadUnknownError';
  }
}
