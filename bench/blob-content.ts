// Blob content: a 16 MiB random pool repeated, then a 32-byte trailer unique to each blob. The
// sha256 state of the shared prefix is computed once per size and copied, so every upload gets a
// fresh digest at no cost, and the client sends straight from memory.
import { createHash, randomFillSync, type Hash } from 'node:crypto';
import { MiB } from './config.js';

const POOL = randomFillSync(Buffer.allocUnsafe(16 * MiB));
const CHUNK = MiB;
const TRAILER = 32;
const prefixHashes = new Map<number, Hash>();

export function* poolChunks(length: number, chunk = CHUNK): Generator<Buffer> {
  let offset = 0;
  while (offset < length) {
    const start = offset % POOL.length;
    const end = Math.min(start + chunk, POOL.length, start + (length - offset));
    yield POOL.subarray(start, end);
    offset += end - start;
  }
}

export interface Blob {
  size: number;
  digest: string;
  chunks(): Generator<Buffer>;
}

export function makeBlob(size: number, tag: string): Blob {
  const trailer = createHash('sha256').update(tag).digest();
  const prefix = size - TRAILER;
  let base = prefixHashes.get(prefix);
  if (!base) {
    base = createHash('sha256');
    for (const c of poolChunks(prefix)) base.update(c);
    prefixHashes.set(prefix, base);
  }
  const digest = `sha256:${base.copy().update(trailer).digest('hex')}`;
  return {
    size,
    digest,
    *chunks() {
      yield* poolChunks(prefix);
      yield trailer;
    },
  };
}

/** The digest of a small in-memory blob (config, layer, manifest, probe). */
export const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Bytes [start, end) of a blob as a body to send (the chunks of a chunked upload). */
export function slice(blob: Blob, start: number, end: number): Blob {
  return {
    size: end - start,
    digest: '',
    *chunks() {
      let offset = 0;
      for (const c of blob.chunks()) {
        const from = Math.max(start - offset, 0);
        const to = Math.min(end - offset, c.length);
        if (to > from) yield c.subarray(from, to);
        offset += c.length;
        if (offset >= end) return;
      }
    },
  };
}

/** What a blob holds at [offset, offset + length) inside its shared prefix (not the trailer). */
export function prefixBytes(offset: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const start = (offset + done) % POOL.length;
    const n = Math.min(length - done, POOL.length - start);
    POOL.copy(out, done, start, start + n);
    done += n;
  }
  return out;
}
