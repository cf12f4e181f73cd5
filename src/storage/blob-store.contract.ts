// The behaviour every BlobStore must have, whatever keeps the bytes: each backend's test file
// calls describeBlobStoreContract with a factory for fresh, empty stores, and adds the tests that
// only make sense for its own storage (files on disk, objects in a bucket).
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import {
  DigestMismatchError,
  LengthMismatchError,
  OffsetMismatchError,
  UploadUnknownError,
  type BlobStore,
} from './blob-store.js';

export const digest = (alg: string, data: string | Buffer): string =>
  `${alg}:${createHash(alg).update(data).digest('hex')}`;

export const sha256 = (data: Buffer): string => digest('sha256', data);

/** `data` as a stream of `size`-byte chunks. */
export function chunked(data: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) parts.push(data.subarray(i, i + size));
  return Readable.from(parts);
}

export interface StoreUnderTest {
  store: BlobStore;
  cleanup: () => Promise<void>;
}

export function describeBlobStoreContract(name: string, make: () => Promise<StoreUnderTest>): void {
  /** Runs `fn` on a fresh store and cleans up after it, also when it fails. */
  async function withStore(fn: (s: BlobStore) => Promise<void>): Promise<void> {
    const { store, cleanup } = await make();
    try {
      await fn(store);
    } finally {
      await cleanup();
    }
  }

  describe(`${name}: BlobStore contract`, () => {
    it('assembles chunks, checks offsets and commits under the digest', () =>
      withStore(async (s) => {
        await s.startUpload('upload-one');
        expect(
          await s.appendUpload('upload-one', Readable.from([Buffer.from('hello ')]), { offset: 0 }),
        ).toBe(6);
        await expect(
          s.appendUpload('upload-one', Readable.from([Buffer.from('x')]), { offset: 2 }),
        ).rejects.toBeInstanceOf(OffsetMismatchError);
        expect(await s.appendUpload('upload-one', Readable.from([Buffer.from('world')]), { offset: 6 })).toBe(
          11,
        );
        const d = digest('sha256', 'hello world');
        expect(await s.finishUpload('upload-one', d)).toBe(11);
        expect(await s.stat(d)).toBe(11);
        expect(await text(await s.read(d, { start: 6, end: 10 }))).toBe('world');
        expect(await text(await s.read(d))).toBe('hello world');
        expect(await s.uploadSize('upload-one')).toBeUndefined();
      }));

    it('deletes the data of an upload whose digest does not match', () =>
      withStore(async (s) => {
        await s.startUpload('upload-bad');
        await s.appendUpload('upload-bad', Readable.from([Buffer.from('abc')]));
        await expect(s.finishUpload('upload-bad', digest('sha256', 'abd'))).rejects.toBeInstanceOf(
          DigestMismatchError,
        );
        expect(await s.uploadSize('upload-bad')).toBeUndefined();
        expect(await s.stat(digest('sha256', 'abd'))).toBeUndefined();
        expect(await s.stat(digest('sha256', 'abc'))).toBeUndefined();
        await expect(s.appendUpload('upload-bad', Readable.from([Buffer.from('d')]))).rejects.toBeInstanceOf(
          UploadUnknownError,
        );
      }));

    it('verifies digests of other algorithms (sha512)', () =>
      withStore(async (s) => {
        await s.startUpload('upload-512');
        await s.appendUpload('upload-512', Readable.from([Buffer.from('five ')]));
        await s.appendUpload('upload-512', Readable.from([Buffer.from('twelve')]), { offset: 5 });
        expect(await s.finishUpload('upload-512', digest('sha512', 'five twelve'))).toBe(11);
        expect((await s.readBytes(digest('sha512', 'five twelve'))).toString()).toBe('five twelve');
      }));

    it('refuses a body longer or shorter than announced, keeping what came before', () =>
      withStore(async (s) => {
        await s.startUpload('upload-len');
        await s.appendUpload('upload-len', Readable.from([Buffer.from('keep')]));
        await expect(
          s.appendUpload('upload-len', Readable.from([Buffer.from('toolong')]), { expectedLength: 3 }),
        ).rejects.toBeInstanceOf(LengthMismatchError);
        await expect(
          s.appendUpload('upload-len', Readable.from([Buffer.from('ab')]), { expectedLength: 3 }),
        ).rejects.toBeInstanceOf(LengthMismatchError);
        expect(await s.uploadSize('upload-len')).toBe(4);
        expect(
          await s.appendUpload('upload-len', Readable.from([Buffer.from('!')]), { expectedLength: 1 }),
        ).toBe(5);
        expect(await s.finishUpload('upload-len', digest('sha256', 'keep!'))).toBe(5);
      }));

    it('serialises concurrent appends to one session', () =>
      withStore(async (s) => {
        await s.startUpload('upload-conc');
        const parts = Array.from({ length: 20 }, (_, i) => `chunk-${i};`);
        const sizes = await Promise.all(
          parts.map((p) => s.appendUpload('upload-conc', Readable.from([Buffer.from(p)]))),
        );
        expect(new Set(sizes).size).toBe(parts.length);
        const size = await s.uploadSize('upload-conc');
        expect(size).toBe(parts.join('').length);
        expect(await s.finishUpload('upload-conc', digest('sha256', parts.join('')))).toBe(size);
      }));

    it('streams a body larger than its buffers in order, with backpressure', () =>
      withStore(async (s) => {
        const data = randomBytes(21 * 1024 * 1024 + 12345);
        await s.startUpload('upload-big');
        expect(
          await s.appendUpload('upload-big', chunked(data, 100_003), {
            offset: 0,
            expectedLength: data.length,
          }),
        ).toBe(data.length);
        expect(await s.uploadSize('upload-big')).toBe(data.length);
        expect(await s.finishUpload('upload-big', sha256(data))).toBe(data.length);
        // toEqual() on 21 MiB takes minutes
        expect((await s.readBytes(sha256(data))).equals(data)).toBe(true);
      }));

    it('takes string chunks as their bytes', () =>
      withStore(async (s) => {
        await s.startUpload('upload-text');
        await s.appendUpload('upload-text', Readable.from(['héllo ', 'wörld']));
        expect(await s.finishUpload('upload-text', digest('sha256', 'héllo wörld'))).toBe(13);
      }));

    it('keeps at most what was stored before the source failed, and resumes from there', () =>
      withStore(async (s) => {
        const data = randomBytes(5 * 1024 * 1024);
        await s.startUpload('upload-cut');
        const cut = 3 * 1024 * 1024 + 1000;
        async function* failing() {
          for (let i = 0; i < cut; i += 65536) yield data.subarray(i, Math.min(i + 65536, cut));
          throw new Error('connection reset');
        }
        await expect(s.appendUpload('upload-cut', Readable.from(failing()))).rejects.toThrow(
          'connection reset',
        );
        const have = (await s.uploadSize('upload-cut')) as number;
        expect(have).toBeLessThanOrEqual(cut);
        await s.appendUpload('upload-cut', chunked(data.subarray(have), 65536), { offset: have });
        expect(await s.finishUpload('upload-cut', sha256(data))).toBe(data.length);
        expect((await s.readBytes(sha256(data))).equals(data)).toBe(true);
      }));

    it('knows no session it never started', () =>
      withStore(async (s) => {
        await expect(s.appendUpload('nonexistent1', Readable.from([]))).rejects.toBeInstanceOf(
          UploadUnknownError,
        );
        await expect(s.appendUpload('../../etc', Readable.from([]))).rejects.toBeInstanceOf(
          UploadUnknownError,
        );
        await expect(s.finishUpload('nonexistent2', digest('sha256', ''))).rejects.toBeInstanceOf(
          UploadUnknownError,
        );
        expect(await s.uploadSize('nonexistent3')).toBeUndefined();
        expect(await s.uploadSize('../../etc')).toBeUndefined();
      }));

    it('tells a started, empty session from an unknown one, and forgets an aborted one', () =>
      withStore(async (s) => {
        await s.startUpload('upload-empty');
        expect(await s.uploadSize('upload-empty')).toBe(0);
        await expect(s.startUpload('upload-empty')).rejects.toThrow(); // ids are never reused
        expect(
          await s.appendUpload('upload-empty', Readable.from([]), { offset: 0, expectedLength: 0 }),
        ).toBe(0);
        expect(await s.uploadSize('upload-empty')).toBe(0);
        await s.startUpload('upload-gone');
        await s.appendUpload('upload-gone', Readable.from([Buffer.from('data')]));
        await s.abortUpload('upload-gone');
        expect(await s.uploadSize('upload-gone')).toBeUndefined();
        await s.abortUpload('upload-gone'); // twice is harmless
        expect(await s.finishUpload('upload-empty', digest('sha256', ''))).toBe(0);
        expect(await s.stat(digest('sha256', ''))).toBe(0);
        expect((await s.readBytes(digest('sha256', ''))).length).toBe(0);
      }));

    it('stores, reads and deletes small content with putBytes', () =>
      withStore(async (s) => {
        const body = Buffer.from('{"schemaVersion":2}');
        const d = sha256(body);
        expect(await s.stat(d)).toBeUndefined();
        await s.putBytes(d, body);
        expect(await s.stat(d)).toBe(body.length);
        expect((await s.readBytes(d)).equals(body)).toBe(true);
        expect(await text(await s.read(d, { start: 2, end: 14 }))).toBe('schemaVersion');
        await s.delete(d);
        expect(await s.stat(d)).toBeUndefined();
        await s.delete(d); // absent is no error
        await expect(s.readBytes(d)).rejects.toMatchObject({ code: 'ENOENT' });
      }));

    it('finishes a second upload of content it already has', () =>
      withStore(async (s) => {
        const d = digest('sha256', 'twice');
        for (const id of ['upload-twice-a', 'upload-twice-b']) {
          await s.startUpload(id);
          await s.appendUpload(id, Readable.from([Buffer.from('twice')]));
          expect(await s.finishUpload(id, d)).toBe(5);
          expect(await s.uploadSize(id)).toBeUndefined();
        }
        expect((await s.readBytes(d)).toString()).toBe('twice');
      }));

    it('lists sessions last written before a date as stale', () =>
      withStore(async (s) => {
        await s.startUpload('upload-stale');
        await s.appendUpload('upload-stale', Readable.from([Buffer.from('x')]));
        const future = new Date(Date.now() + 3600_000);
        const past = new Date(Date.now() - 3600_000);
        expect(await s.staleUploads(future)).toContain('upload-stale');
        expect(await s.staleUploads(past)).not.toContain('upload-stale');
        await s.abortUpload('upload-stale');
        expect(await s.staleUploads(future)).not.toContain('upload-stale');
      }));
  });
}
