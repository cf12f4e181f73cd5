import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DigestMismatchError } from './blob-store.js';
import { chunked, describeBlobStoreContract, digest, sha256 } from './blob-store.contract.js';
import { FsBlobStore } from './fs-blob-store.js';

async function store(): Promise<FsBlobStore> {
  const s = new FsBlobStore(mkdtempSync(join(tmpdir(), 'opencloud-blobs-')));
  await s.init();
  return s;
}

describeBlobStoreContract('FsBlobStore', async () => {
  const s = await store();
  return { store: s, cleanup: () => rm(s.root, { recursive: true, force: true }) };
});

describe('FsBlobStore', () => {
  it('removes the session file of an upload whose digest does not match', async () => {
    const s = await store();
    await s.startUpload('upload-bad');
    await s.appendUpload('upload-bad', Readable.from([Buffer.from('abc')]));
    await expect(s.finishUpload('upload-bad', digest('sha256', 'abd'))).rejects.toBeInstanceOf(
      DigestMismatchError,
    );
    expect(readdirSync(join(s.root, 'uploads'))).toEqual([]);
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

  it('writes a streamed body to the session file in order', async () => {
    const s = await store();
    const data = randomBytes(21 * 1024 * 1024 + 12345);
    await s.startUpload('upload-big');
    await s.appendUpload('upload-big', chunked(data, 100_003), { offset: 0, expectedLength: data.length });
    expect(readFileSync(join(s.root, 'uploads', 'upload-big')).equals(data)).toBe(true);
  });

  it('keeps in the session file what was written before the source failed', async () => {
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
    expect(readFileSync(join(s.root, 'uploads', 'upload-cut')).equals(data.subarray(0, have))).toBe(true);
    await s.appendUpload('upload-cut', chunked(data.subarray(have), 65536), { offset: have });
    expect(await s.finishUpload('upload-cut', sha256(data))).toBe(data.length);
  });

  it('offers committed blobs as open files', async () => {
    const s = await store();
    const body = Buffer.from('file handle');
    await s.putBytes(sha256(body), body);
    const fh = await s.openFile(sha256(body));
    try {
      expect((await fh.readFile()).equals(body)).toBe(true);
    } finally {
      await fh.close();
    }
  });
});
