// S3BlobStore against a real S3 server: SeaweedFS started by scripts/test-env/seaweedfs.sh (its
// connection details in env.json's components.s3). Every store gets a fresh random key prefix, so
// runs never see each other's objects; cleanup deletes the prefix. The part planner of finish is
// also checked on its own, without a server.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { inspect } from 'node:util';
import { CreateMultipartUploadCommand, ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { missing, testEnv, titled } from '../../test/support/env.js';
import type { S3Config } from '../config/schema.js';
import { DigestMismatchError, LengthMismatchError, UploadUnknownError } from './blob-store.js';
import { chunked, describeBlobStoreContract, sha256 } from './blob-store.contract.js';
import { S3BlobStore, type S3BlobStoreOptions } from './s3-blob-store.js';
import { MAX_PART, MIN_PART, createS3Client } from './s3-client.js';
import { deleteKeys, listObjects, planParts, type Chunk } from './s3-uploads.js';

const MiB = 1024 * 1024;
const why = missing('s3');
const s3 = testEnv?.components.s3;
const runPrefix = `opencloud-test-${Date.now()}-${randomBytes(4).toString('hex')}/`;
let stores = 0;

function config(overrides: Partial<S3Config> = {}): S3Config {
  return {
    bucket: s3?.bucket,
    endpoint: s3?.endpoint,
    region: s3?.region ?? 'us-east-1',
    prefix: `${runPrefix}${++stores}/`,
    forcePathStyle: true,
    accessKeyId: s3?.accessKeyId,
    secretAccessKey: s3?.secretAccessKey,
    redirect: false,
    partSize: 8 * MiB,
    ...overrides,
  };
}

let admin: S3Client | undefined;
const raw = (): { client: S3Client; bucket: string } => {
  admin ??= createS3Client(config());
  return { client: admin, bucket: s3!.bucket! };
};

async function keys(prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of listObjects(raw(), prefix)) out.push(o.key.slice(prefix.length));
  return out;
}

async function multipartUploads(prefix: string): Promise<string[]> {
  const out = await raw().client.send(
    new ListMultipartUploadsCommand({ Bucket: raw().bucket, Prefix: prefix }),
  );
  return (out.Uploads ?? []).map((u) => u.Key!);
}

/** Deletes everything under the prefix, unfinished multipart uploads included. */
async function removePrefix(prefix: string): Promise<void> {
  await deleteKeys(
    raw(),
    (await keys(prefix)).map((k) => prefix + k),
  );
}

async function open(
  overrides: Partial<S3Config> = {},
  options: S3BlobStoreOptions = {},
): Promise<S3BlobStore> {
  const store = new S3BlobStore(config(overrides), options);
  await store.init();
  return store;
}

/** `size` bytes of a repeated random MiB, as 64 KiB chunks, hashed as they are produced. */
function generated(size: number, onChunk?: () => void): { source: Readable; digest: () => string } {
  const pattern = randomBytes(MiB);
  const hash = createHash('sha256');
  async function* gen() {
    for (let at = 0; at < size;) {
      const n = Math.min(64 * 1024, size - at);
      const chunk = pattern.subarray(at % MiB, (at % MiB) + n);
      hash.update(chunk);
      at += n;
      onChunk?.();
      yield chunk;
    }
  }
  let digest: string | undefined;
  return { source: Readable.from(gen()), digest: () => (digest ??= `sha256:${hash.digest('hex')}`) };
}

describe('planParts (how finish assembles chunks)', () => {
  const chunks = (sizes: number[]): Chunk[] => {
    let offset = 0;
    return sizes.map((size, i) => {
      const c = { key: `c${i}`, offset, size };
      offset += size;
      return c;
    });
  };

  /** Every byte once, in order; every part but the last at least 5 MiB; none above 5 GiB. */
  function check(sizes: number[], streamPart = 8 * MiB) {
    const cs = chunks(sizes);
    const parts = planParts(cs, MIN_PART, streamPart);
    const ranges = parts.flatMap((p) => (p.kind === 'copy' ? [p] : p.segments));
    const flat = ranges.map((r) => {
      const c = cs.find((x) => x.key === r.key)!;
      return [c.offset + r.start, c.offset + r.end] as const;
    });
    let pos = 0;
    for (const [a, b] of flat) {
      expect(a).toBe(pos);
      expect(b).toBeGreaterThan(a);
      pos = b;
    }
    expect(pos).toBe(sizes.reduce((x, y) => x + y, 0));
    parts.forEach((p, i) => {
      const size = p.kind === 'copy' ? p.end - p.start : p.size;
      if (i < parts.length - 1) expect(size).toBeGreaterThanOrEqual(MIN_PART);
      expect(size).toBeLessThanOrEqual(MAX_PART);
      if (p.kind === 'stream') expect(size).toBeLessThanOrEqual(streamPart);
    });
    return parts.map((p) => `${p.kind}:${(p.kind === 'copy' ? p.end - p.start : p.size) / MiB}`);
  }

  it('copies large chunks server-side and streams runs of small ones', () => {
    expect(check([6 * MiB, 6 * MiB, 6 * MiB, MiB])).toEqual(['copy:6', 'copy:6', 'copy:6', 'stream:1']);
    expect(check(Array(12).fill(MiB))).toEqual(['stream:8', 'stream:4']);
    // 1 MiB is topped up to 5 MiB from the large chunk, whose other 8 MiB are copied.
    expect(check([MiB, 12 * MiB, 2 * MiB])).toEqual(['stream:5', 'copy:8', 'stream:2']);
    expect(check([MiB, 6 * MiB, MiB, 6 * MiB])).toEqual(['stream:8', 'copy:6']);
    expect(check([12 * 1024 * MiB])).toEqual(['copy:4096', 'copy:4096', 'copy:4096']);
  });

  it('keeps the rules for random chunk sizes', () => {
    for (let round = 0; round < 300; round++) {
      const sizes = Array.from({ length: 1 + Math.floor(Math.random() * 12) }, () =>
        Math.floor(Math.random() * (Math.random() < 0.5 ? 2 * MiB : 20 * MiB)),
      );
      check(sizes, (5 + Math.floor(Math.random() * 10)) * MiB);
    }
  });
});

describe.skipIf(why)(titled('S3BlobStore against SeaweedFS', why), () => {
  afterAll(async () => {
    if (admin) {
      await removePrefix(runPrefix);
      admin.destroy();
    }
  });

  // First, while this process has allocated little: rss then shows what the append itself takes.
  it('streams 256 MiB through a bounded buffer (partSize 8 MiB)', { timeout: 300_000 }, async () => {
    const store = await open({ partSize: 8 * MiB });
    const size = 256 * MiB;
    const base = process.memoryUsage().rss;
    let peak = base;
    const sample = () => {
      peak = Math.max(peak, process.memoryUsage().rss);
    };
    let n = 0;
    const body = generated(size, () => {
      if (++n % 16 === 0) sample();
    });
    const timer = setInterval(sample, 20);
    await store.startUpload('upload-mem');
    const started = Date.now();
    try {
      expect(await store.appendUpload('upload-mem', body.source, { offset: 0, expectedLength: size })).toBe(
        size,
      );
    } finally {
      clearInterval(timer);
    }
    sample();
    const growth = (peak - base) / MiB;
    console.log(
      `256 MiB append: rss ${Math.round(base / MiB)} MiB before, peak +${growth.toFixed(1)} MiB, ${(
        (Date.now() - started) /
        1000
      ).toFixed(1)} s`,
    );
    expect(growth).toBeLessThan(100);
    expect(await store.finishUpload('upload-mem', body.digest())).toBe(size);
    expect(await store.stat(body.digest())).toBe(size);
    await store.delete(body.digest());
    store.close();
  });

  describeBlobStoreContract('S3BlobStore', async () => {
    const store = await open();
    return {
      store,
      cleanup: async () => {
        await removePrefix(store.prefix);
        store.close();
      },
    };
  });

  it('checks the bucket at init, naming endpoint and bucket but never the secret', async () => {
    const missingBucket = new S3BlobStore(config({ bucket: 'no-such-bucket-opencloud' }));
    const err1 = await missingBucket.init().then(
      () => undefined,
      (e: Error) => e,
    );
    missingBucket.close();
    expect(err1?.message).toContain('no-such-bucket-opencloud');
    expect(err1?.message).toContain(s3!.endpoint!);
    const badSecret = 'not-the-secret-0123456789abcdef';
    const wrongKey = new S3BlobStore(config({ secretAccessKey: badSecret }));
    const err2 = await wrongKey.init().then(
      () => undefined,
      (e: Error) => e,
    );
    wrongKey.close();
    expect(err2?.message).toMatch(/opencloud-test.*http:\/\/127\.0\.0\.1:\d+.*403/);
    expect(err2?.message).not.toContain(badSecret);
    expect(err2?.message).not.toContain(s3!.secretAccessKey!);
    const nobody = new S3BlobStore(config({ endpoint: 'http://127.0.0.1:1' }));
    const err3 = await nobody.init().then(
      () => undefined,
      (e: Error) => e,
    );
    nobody.close();
    expect(err3?.message).toMatch(/"opencloud-test" at http:\/\/127\.0\.0\.1:1 .*ECONNREFUSED/);
    const store = await open();
    await store.check();
    expect(inspect(store, { depth: 20 })).not.toContain(s3!.secretAccessKey!);
    console.log(`init errors: ${err1?.message} | ${err2?.message} | ${err3?.message}`);
    store.close();
  });

  it('keeps a session as one object per appended chunk, and nothing once finished', async () => {
    const store = await open();
    const at = `${store.prefix}uploads/upload-layout/`;
    await store.startUpload('upload-layout');
    expect(await keys(at)).toEqual(['started']);
    await store.appendUpload('upload-layout', Readable.from([Buffer.from('abc')]));
    await store.appendUpload('upload-layout', Readable.from([Buffer.from('defg')]));
    expect(await keys(at)).toEqual(['0000000000000000', '0000000000000003', 'started']);
    await store.finishUpload('upload-layout', sha256(Buffer.from('abcdefg')));
    expect(await keys(`${store.prefix}uploads/`)).toEqual([]);
    const hex = sha256(Buffer.from('abcdefg')).slice(7);
    expect(await keys(`${store.prefix}blobs/`)).toEqual([`sha256/${hex.slice(0, 2)}/${hex}`]);
    store.close();
  });

  it('continues on a second node an upload the first started, and back', async () => {
    const shared = config();
    const first = new S3BlobStore(shared);
    const second = new S3BlobStore(shared); // another process: no shared memory
    await first.init();
    await second.init();
    const data = randomBytes(3 * MiB + 17);
    const [a, b, c] = [data.subarray(0, MiB), data.subarray(MiB, 2 * MiB + 5), data.subarray(2 * MiB + 5)];
    await first.startUpload('upload-nodes');
    expect(await first.appendUpload('upload-nodes', chunked(a, 65536), { offset: 0 })).toBe(a.length);
    expect(await second.uploadSize('upload-nodes')).toBe(a.length);
    expect(await second.appendUpload('upload-nodes', chunked(b, 65536), { offset: a.length })).toBe(
      a.length + b.length,
    );
    // The first node's digest state is behind the bucket now and must not be used.
    expect(await first.appendUpload('upload-nodes', chunked(c, 65536), { offset: a.length + b.length })).toBe(
      data.length,
    );
    expect(await second.finishUpload('upload-nodes', sha256(data))).toBe(data.length);
    expect((await first.readBytes(sha256(data))).equals(data)).toBe(true);
    expect(await first.uploadSize('upload-nodes')).toBeUndefined();

    // And the node that kept the digest state finishes with it; a wrong digest fails on any node.
    await first.startUpload('upload-nodes-2');
    await first.appendUpload('upload-nodes-2', Readable.from([Buffer.from('one')]));
    await expect(second.finishUpload('upload-nodes-2', sha256(Buffer.from('two')))).rejects.toBeInstanceOf(
      DigestMismatchError,
    );
    await expect(
      first.appendUpload('upload-nodes-2', Readable.from([Buffer.from('x')])),
    ).rejects.toBeInstanceOf(UploadUnknownError);
    first.close();
    second.close();
  });

  it('refuses an append that raced another node to the same offset, keeping the winner', async () => {
    const shared = config({ partSize: 5 * MiB });
    const [a, b] = [new S3BlobStore(shared), new S3BlobStore(shared)];
    await a.startUpload('upload-race');
    const stored: Buffer[] = [];
    // 10 bytes: a PutObject; 7 MiB: a multipart upload. Both are conditional.
    for (const size of [10, 7 * MiB]) {
      const start = (await a.uploadSize('upload-race'))!;
      const [mine, theirs] = [randomBytes(size), randomBytes(size + 1)];
      let listed!: () => void;
      let release!: () => void;
      const reading = new Promise<void>((r) => (listed = r));
      const gate = new Promise<void>((r) => (release = r));
      async function* slow() {
        listed(); // the store reads the body only after it has listed the session
        yield mine.subarray(0, 1);
        await gate;
        yield* chunked(mine.subarray(1), 65536);
      }
      const appending = a.appendUpload('upload-race', Readable.from(slow()), { offset: start });
      await reading;
      expect(await b.appendUpload('upload-race', Readable.from([theirs]), { offset: start })).toBe(
        start + theirs.length,
      );
      release();
      await expect(appending).rejects.toMatchObject({
        name: 'OffsetMismatchError',
        expected: start,
        actual: start + theirs.length,
      });
      stored.push(theirs);
    }
    expect(await multipartUploads(a.prefix)).toEqual([]);
    const all = Buffer.concat(stored);
    expect(await a.finishUpload('upload-race', sha256(all))).toBe(all.length);
    expect((await b.readBytes(sha256(all))).equals(all)).toBe(true);
    a.close();
    b.close();
  });

  it('assembles large chunks by server-side copy and small ones by streaming', async () => {
    const store = await open();
    const cases: [string, number[]][] = [
      ['upload-copy', [6 * MiB, 6 * MiB, 6 * MiB, MiB]],
      ['upload-small', Array<number>(12).fill(MiB)],
      ['upload-mixed', [MiB, 12 * MiB, 2 * MiB + 3]],
    ];
    for (const [id, sizes] of cases) {
      const data = randomBytes(sizes.reduce((x, y) => x + y, 0));
      await store.startUpload(id);
      let at = 0;
      for (const size of sizes) {
        await store.appendUpload(id, chunked(data.subarray(at, at + size), 256 * 1024), {
          offset: at,
          expectedLength: size,
        });
        at += size;
      }
      expect((await keys(`${store.prefix}uploads/${id}/`)).length).toBe(sizes.length + 1);
      expect(await store.finishUpload(id, sha256(data))).toBe(data.length);
      expect(await store.stat(sha256(data))).toBe(data.length);
      expect((await store.readBytes(sha256(data))).equals(data), id).toBe(true);
    }
    expect(await keys(`${store.prefix}uploads/`)).toEqual([]);
    expect(await multipartUploads(store.prefix)).toEqual([]);
    store.close();
  });

  it('reads byte ranges', async () => {
    const store = await open();
    const data = randomBytes(7 * MiB + 3);
    await store.putBytes(sha256(data), data);
    const read = async (start: number, end: number) => {
      const parts: Buffer[] = [];
      for await (const p of await store.read(sha256(data), { start, end })) parts.push(p as Buffer);
      return Buffer.concat(parts);
    };
    expect((await read(0, 0)).equals(data.subarray(0, 1))).toBe(true);
    expect((await read(5 * MiB - 10, 5 * MiB + 10)).equals(data.subarray(5 * MiB - 10, 5 * MiB + 11))).toBe(
      true,
    );
    expect((await read(data.length - 1, data.length - 1)).equals(data.subarray(data.length - 1))).toBe(true);
    expect((await read(0, data.length - 1)).equals(data)).toBe(true);
    await expect(store.read(sha256(Buffer.from('absent')))).rejects.toMatchObject({ code: 'ENOENT' });
    store.close();
  });

  it('hands out a presigned URL that fetches the blob', async () => {
    const store = await open();
    const data = randomBytes(300_000);
    await store.putBytes(sha256(data), data);
    const url = await store.downloadUrl(sha256(data), 60);
    expect(url).toContain('X-Amz-Signature=');
    expect(url).not.toContain(s3!.secretAccessKey!);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(data)).toBe(true);
    const tampered = await fetch(url.replace(/X-Amz-Expires=\d+/, 'X-Amz-Expires=999'));
    expect(tampered.status).toBe(403);
    await tampered.arrayBuffer();
    store.close();
  });

  it('refuses a long streamed body without leaving a part of it behind', async () => {
    const store = await open();
    await store.startUpload('upload-long');
    await store.appendUpload('upload-long', Readable.from([Buffer.from('head')]));
    const body = randomBytes(20 * MiB);
    await expect(
      store.appendUpload('upload-long', chunked(body, 65536), { expectedLength: 18 * MiB }),
    ).rejects.toBeInstanceOf(LengthMismatchError);
    await expect(
      store.appendUpload('upload-long', chunked(body, 65536), { expectedLength: 21 * MiB }),
    ).rejects.toBeInstanceOf(LengthMismatchError);
    expect(await store.uploadSize('upload-long')).toBe(4);
    expect(await keys(`${store.prefix}uploads/upload-long/`)).toEqual(['0000000000000000', 'started']);
    expect(await multipartUploads(store.prefix)).toEqual([]);
    await store.appendUpload('upload-long', chunked(body, 65536), { offset: 4, expectedLength: body.length });
    const all = Buffer.concat([Buffer.from('head'), body]);
    expect(await store.finishUpload('upload-long', sha256(all))).toBe(all.length);
    store.close();
  });

  it('splits a body past the part limit into several chunk objects, and removes them if it fails', async () => {
    const store = await open({ partSize: 5 * MiB }, { maxPartsPerChunk: 2 });
    const data = randomBytes(23 * MiB);
    await store.startUpload('upload-roll');
    async function* failing() {
      yield* chunked(data.subarray(0, 22 * MiB), 65536);
      throw new Error('connection reset');
    }
    await expect(store.appendUpload('upload-roll', Readable.from(failing()))).rejects.toThrow(
      'connection reset',
    );
    expect(await store.uploadSize('upload-roll')).toBe(0);
    expect(await keys(`${store.prefix}uploads/upload-roll/`)).toEqual(['started']);
    expect(await store.appendUpload('upload-roll', chunked(data, 65536), { offset: 0 })).toBe(data.length);
    expect(await keys(`${store.prefix}uploads/upload-roll/`)).toEqual([
      '0000000000000000',
      String(10 * MiB).padStart(16, '0'),
      String(20 * MiB).padStart(16, '0'),
      'started',
    ]);
    expect(await store.finishUpload('upload-roll', sha256(data))).toBe(data.length);
    expect((await store.readBytes(sha256(data))).equals(data)).toBe(true);
    store.close();
  });

  it('abort removes a session with its unfinished multipart uploads, which count for staleness', async () => {
    const store = await open();
    await store.startUpload('upload-abort');
    await store.appendUpload('upload-abort', Readable.from([Buffer.from('data')]));
    const at = `${store.prefix}uploads/upload-abort/`;
    // What a node that died while sending a large chunk leaves behind.
    await raw().client.send(
      new CreateMultipartUploadCommand({ Bucket: raw().bucket, Key: `${at}0000000000000004` }),
    );
    expect(await multipartUploads(at)).toHaveLength(1);
    await store.abortUpload('upload-abort');
    expect(await keys(at)).toEqual([]);
    expect(await multipartUploads(at)).toEqual([]);
    // Only an unfinished multipart upload left of a session: still found as stale, and removed.
    const orphan = `${store.prefix}uploads/upload-orphan/0000000000000000`;
    await raw().client.send(new CreateMultipartUploadCommand({ Bucket: raw().bucket, Key: orphan }));
    expect(await store.staleUploads(new Date(Date.now() + 3600_000))).toEqual(['upload-orphan']);
    expect(await store.staleUploads(new Date(Date.now() - 3600_000))).toEqual([]);
    await store.abortUpload('upload-orphan');
    expect(await multipartUploads(store.prefix)).toEqual([]);
    store.close();
  });
  describe('receiveBlob (whole blobs at their final key)', () => {
    const blobKey = (store: S3BlobStore, digest: string) => {
      const hex = digest.slice('sha256:'.length);
      return `${store.prefix}blobs/sha256/${hex.slice(0, 2)}/${hex}`;
    };

    it('streams a blob into a multipart upload at its key, visible only once committed', async () => {
      const store = await open({ partSize: 5 * MiB });
      const data = randomBytes(12 * MiB + 3);
      const digest = sha256(data);
      const blob = await store.receiveBlob(digest, chunked(data, 65536), data.length);
      expect(blob?.size).toBe(data.length);
      // Received and sealed, not visible: an unfinished multipart upload at the blob's own key.
      expect(await store.stat(digest)).toBeUndefined();
      expect(await multipartUploads(store.prefix)).toEqual([blobKey(store, digest)]);
      await blob!.commit();
      expect(await store.stat(digest)).toBe(data.length);
      expect((await store.readBytes(digest)).equals(data)).toBe(true);
      expect(await multipartUploads(store.prefix)).toEqual([]);
      // No session objects were written, and nothing was copied into place.
      expect(await keys(store.prefix)).toEqual([blobKey(store, digest).slice(store.prefix.length)]);
      // Dropping a committed blob does nothing: it may already be linked.
      await blob!.abort();
      expect(await store.stat(digest)).toBe(data.length);
      store.close();
    });

    it('stores a body of one part with one PutObject at commit', async () => {
      const store = await open();
      const data = Buffer.from('a small layer');
      const blob = await store.receiveBlob(sha256(data), Readable.from([data]), data.length);
      expect(await keys(store.prefix)).toEqual([]);
      expect(await multipartUploads(store.prefix)).toEqual([]);
      await blob!.commit();
      expect((await store.readBytes(sha256(data))).toString()).toBe('a small layer');
      store.close();
    });

    it('keeps nothing of a body with the wrong digest or length', async () => {
      const store = await open({ partSize: 5 * MiB });
      const data = randomBytes(11 * MiB);
      const wrong = sha256(Buffer.from('something else'));
      await expect(store.receiveBlob(wrong, chunked(data, 65536), data.length)).rejects.toBeInstanceOf(
        DigestMismatchError,
      );
      await expect(
        store.receiveBlob(sha256(data), chunked(data, 65536), data.length - 1),
      ).rejects.toBeInstanceOf(LengthMismatchError);
      await expect(
        store.receiveBlob(sha256(data), chunked(data, 65536), data.length + 1),
      ).rejects.toBeInstanceOf(LengthMismatchError);
      expect(await keys(store.prefix)).toEqual([]);
      expect(await multipartUploads(store.prefix)).toEqual([]);
      store.close();
    });

    it('leaves a blob already stored as it is, and aborts what it received', async () => {
      const store = await open({ partSize: 5 * MiB });
      const data = randomBytes(6 * MiB);
      const first = await store.receiveBlob(sha256(data), chunked(data, 65536), data.length);
      await first!.commit();
      const second = await store.receiveBlob(sha256(data), chunked(data, 65536), data.length);
      expect(await multipartUploads(store.prefix)).toHaveLength(1);
      await second!.commit();
      expect(await multipartUploads(store.prefix)).toEqual([]);
      expect((await store.readBytes(sha256(data))).equals(data)).toBe(true);
      store.close();
    });

    it('declines, reading nothing, a body longer than 10,000 parts', async () => {
      const store = await open({ partSize: 5 * MiB });
      const source = Readable.from([Buffer.from('x')]);
      expect(await store.receiveBlob(sha256(Buffer.from('x')), source, 5 * MiB * 10_000 + 1)).toBeUndefined();
      expect(source.readableDidRead).toBe(false);
      store.close();
    });

    it('expires a write at a blob key that a node began and never finished', async () => {
      const store = await open();
      const key = blobKey(store, sha256(Buffer.from('abandoned')));
      await raw().client.send(new CreateMultipartUploadCommand({ Bucket: raw().bucket, Key: key }));
      expect(await store.expireBlobWrites(new Date(Date.now() - 3600_000), false)).toBe(0);
      expect(await store.expireBlobWrites(new Date(Date.now() + 3600_000), true)).toBe(1);
      expect(await multipartUploads(store.prefix)).toEqual([key]);
      expect(await store.expireBlobWrites(new Date(Date.now() + 3600_000), false)).toBe(1);
      expect(await multipartUploads(store.prefix)).toEqual([]);
      store.close();
    });
  });
});
