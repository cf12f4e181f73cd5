import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import {
  DigestMismatchError,
  LengthMismatchError,
  OffsetMismatchError,
  UploadUnknownError,
} from './blob-store.js';
import { FsBlobStore } from './fs-blob-store.js';

const digest = (alg: string, data: string) => `${alg}:${createHash(alg).update(data).digest('hex')}`;

const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** `data` as a stream of `size`-byte chunks. */
function chunked(data: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) parts.push(data.subarray(i, i + size));
  return Readable.from(parts);
}

async function store(): Promise<FsBlobStore> {
  const s = new FsBlobStore(mkdtempSync(join(tmpdir(), 'opencloud-blobs-')));
  await s.init();
  return s;
}

describe('FsBlobStore', () => {
  it('assembles chunks, checks offsets and commits under the digest', async () => {
    const s = await store();
    await s.startUpload('upload-one');
    expect(await s.appendUpload('upload-one', Readable.from([Buffer.from('hello ')]), { offset: 0 })).toBe(6);
    await expect(
      s.appendUpload('upload-one', Readable.from([Buffer.from('x')]), { offset: 2 }),
    ).rejects.toBeInstanceOf(OffsetMismatchError);
    expect(await s.appendUpload('upload-one', Readable.from([Buffer.from('world')]), { offset: 6 })).toBe(11);
    const d = digest('sha256', 'hello world');
    expect(await s.finishUpload('upload-one', d)).toBe(11);
    expect(await s.stat(d)).toBe(11);
    expect(await text(await s.read(d, { start: 6, end: 10 }))).toBe('world');
    expect(await s.uploadSize('upload-one')).toBeUndefined();
  });

  it('deletes the data of an upload whose digest does not match', async () => {
    const s = await store();
    await s.startUpload('upload-bad');
    await s.appendUpload('upload-bad', Readable.from([Buffer.from('abc')]));
    await expect(s.finishUpload('upload-bad', digest('sha256', 'abd'))).rejects.toBeInstanceOf(
      DigestMismatchError,
    );
    expect(await s.uploadSize('upload-bad')).toBeUndefined();
    expect(readdirSync(join(s.root, 'uploads'))).toEqual([]);
    expect(await s.stat(digest('sha256', 'abd'))).toBeUndefined();
  });

  it('resumes a session after a restart (state rebuilt from the file) and verifies sha512', async () => {
    const first = await store();
    await first.startUpload('upload-resume');
    await first.appendUpload('upload-resume', Readable.from([Buffer.from('part one, ')]));
    const second = new FsBlobStore(first.root); // a new process over the same directory
    await second.init();
    expect(await second.uploadSize('upload-resume')).toBe(10);
    await second.appendUpload('upload-resume', Readable.from([Buffer.from('part two')]), { offset: 10 });
    await expect(second.finishUpload('upload-resume', digest('sha256', 'wrong'))).rejects.toThrow();
    await second.startUpload('upload-512');
    await second.appendUpload('upload-512', Readable.from([Buffer.from('five twelve')]));
    expect(await second.finishUpload('upload-512', digest('sha512', 'five twelve'))).toBe(11);
  });

  it('refuses a body longer or shorter than announced, keeping what came before', async () => {
    const s = await store();
    await s.startUpload('upload-len');
    await s.appendUpload('upload-len', Readable.from([Buffer.from('keep')]));
    await expect(
      s.appendUpload('upload-len', Readable.from([Buffer.from('toolong')]), { expectedLength: 3 }),
    ).rejects.toBeInstanceOf(LengthMismatchError);
    await expect(
      s.appendUpload('upload-len', Readable.from([Buffer.from('ab')]), { expectedLength: 3 }),
    ).rejects.toBeInstanceOf(LengthMismatchError);
    expect(await s.uploadSize('upload-len')).toBe(4);
    expect(await s.finishUpload('upload-len', digest('sha256', 'keep'))).toBe(4);
  });

  it('serialises concurrent appends to one session', async () => {
    const s = await store();
    await s.startUpload('upload-conc');
    const parts = Array.from({ length: 20 }, (_, i) => `chunk-${i};`);
    await Promise.all(parts.map((p) => s.appendUpload('upload-conc', Readable.from([Buffer.from(p)]))));
    const size = await s.uploadSize('upload-conc');
    expect(size).toBe(parts.join('').length);
  });

  it('streams a body larger than its write buffer in order, with backpressure', async () => {
    const s = await store();
    const data = randomBytes(21 * 1024 * 1024 + 12345);
    await s.startUpload('upload-big');
    expect(
      await s.appendUpload('upload-big', chunked(data, 100_003), { offset: 0, expectedLength: data.length }),
    ).toBe(data.length);
    expect(readFileSync(join(s.root, 'uploads', 'upload-big')).equals(data)).toBe(true);
    expect(await s.finishUpload('upload-big', sha256(data))).toBe(data.length);
    expect((await s.readBytes(sha256(data))).equals(data)).toBe(true); // toEqual() on 21 MiB takes minutes
  });

  it('takes string chunks as their bytes', async () => {
    const s = await store();
    await s.startUpload('upload-text');
    await s.appendUpload('upload-text', Readable.from(['héllo ', 'wörld']));
    expect(await s.finishUpload('upload-text', digest('sha256', 'héllo wörld'))).toBe(13);
  });

  it('keeps what was written before the source failed, and resumes from there', async () => {
    const s = await store();
    const data = randomBytes(5 * 1024 * 1024);
    await s.startUpload('upload-cut');
    const cut = 3 * 1024 * 1024 + 1000;
    async function* failing() {
      for (let i = 0; i < cut; i += 65536) yield data.subarray(i, Math.min(i + 65536, cut));
      throw new Error('connection reset');
    }
    await expect(s.appendUpload('upload-cut', Readable.from(failing()))).rejects.toThrow('connection reset');
    const have = (await s.uploadSize('upload-cut')) as number;
    expect(have).toBeLessThanOrEqual(cut);
    expect(readFileSync(join(s.root, 'uploads', 'upload-cut')).equals(data.subarray(0, have))).toBe(true);
    await s.appendUpload('upload-cut', chunked(data.subarray(have), 65536), { offset: have });
    expect(await s.finishUpload('upload-cut', sha256(data))).toBe(data.length);
  });

  it('knows no session it never started', async () => {
    const s = await store();
    await expect(s.appendUpload('nonexistent1', Readable.from([]))).rejects.toBeInstanceOf(
      UploadUnknownError,
    );
    await expect(s.appendUpload('../../etc', Readable.from([]))).rejects.toBeInstanceOf(UploadUnknownError);
  });
});
