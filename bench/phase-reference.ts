// Reference phase: what one pass of hashing and an fsynced write of the blob size cost in this Node
// process on this disk, in the ways a registry could do it, as a floor for the upload figures.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { poolChunks } from './blob-content.js';
import { cfg, MiB } from './config.js';
import { fmt, say } from './format.js';
import { settle } from './settle.js';

export type ReferenceKind =
  'sha256' | 'write+fsync' | 'sha256+write+fsync' | 'sha256+write+bg-datasync' | 'stream-pipeline';

export const REFERENCE_LABEL: Record<ReferenceKind, string> = {
  sha256: 'sha256 only (in memory)',
  'write+fsync': 'write 1 MiB chunks + fsync',
  'sha256+write+fsync': 'sha256 + write + fsync (one pass)',
  'sha256+write+bg-datasync': 'same, fdatasync every 64 MiB in background',
  'stream-pipeline': 'stream pipeline 64 KiB, like the server',
};

async function referenceRun(kind: ReferenceKind, size: number): Promise<number> {
  const file = join(cfg.work, `reference-${process.pid}.bin`);
  await settle(kind === 'sha256' ? 0 : size);
  const t0 = performance.now();
  if (kind === 'sha256') {
    const h = createHash('sha256');
    for (const c of poolChunks(size)) h.update(c);
    h.digest();
  } else if (kind === 'stream-pipeline') {
    // What the server's upload path does: socket-sized chunks through a hashing Transform into
    // fs.createWriteStream (default 16 KiB highWaterMark), then fsync.
    const h = createHash('sha256');
    const hasher = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        h.update(chunk);
        cb(null, chunk);
      },
    });
    await pipeline(Readable.from(poolChunks(size, 64 * 1024)), hasher, createWriteStream(file));
    h.digest();
    const fh = await open(file, 'r+');
    await fh.sync();
    await fh.close();
  } else {
    const hash = kind === 'write+fsync' ? undefined : createHash('sha256');
    const fh = await open(file, 'w');
    let written = 0;
    let background: Promise<void> | undefined;
    let nextSync = 64 * MiB;
    for (const c of poolChunks(size)) {
      hash?.update(c);
      await fh.write(c);
      written += c.length;
      if (kind === 'sha256+write+bg-datasync' && written >= nextSync) {
        nextSync += 64 * MiB;
        // Start write-back early, without waiting for it: the last fsync then has little left.
        background ??= fh.datasync().finally(() => (background = undefined));
      }
    }
    hash?.digest();
    await background;
    await fh.sync();
    await fh.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  await rm(file, { force: true });
  return seconds;
}

/** Seconds of every run, by kind. */
export type ReferenceResults = Partial<Record<ReferenceKind, number[]>>;

/** BENCH_REFERENCE_RUNS rounds of every kind (default 1: it measures the machine), `size` bytes each. */
export async function measureReference(size: number): Promise<ReferenceResults> {
  const reference: ReferenceResults = {};
  const kinds = Object.keys(REFERENCE_LABEL) as ReferenceKind[];
  for (let run = 1; run <= cfg.referenceRuns; run++) {
    for (const kind of kinds) {
      const s = await referenceRun(kind, size);
      (reference[kind] ??= []).push(s);
      say(`reference ${kind} run ${run}: ${fmt(s)} s`);
    }
  }
  return reference;
}
