// A local tarball read once, against the ways its path or its bytes could change under a run:
// links and FIFOs are refused on the opened descriptor (a FIFO without waiting for a writer),
// and what is hashed is what is extracted even when the file is swapped or rewritten after it
// was opened. Real archives from the system's GNU tar; real files, links and FIFOs.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalTarball } from '../components/buildkit-source.js';
import { extractMembers } from './tar-extract.js';
import { copyTarball, MAX_TARBALL_BYTES, openTarball, TarballError } from './tarball-file.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'opencloud-tarball-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const work = () => join(dir, 'work');

/** A release-shaped archive whose two binaries hold `fill` (and random bytes, so each differs). */
function release(name: string, fill: string): { path: string; bytes: Buffer; buildkitd: Buffer } {
  const src = join(dir, `src-${name}`);
  mkdirSync(join(src, 'bin'), { recursive: true });
  const buildkitd = Buffer.concat([Buffer.from(fill), randomBytes(200_000)]);
  writeFileSync(join(src, 'bin', 'buildkitd'), buildkitd);
  writeFileSync(join(src, 'bin', 'buildctl'), `${fill} buildctl`);
  const path = join(dir, name);
  execFileSync('tar', ['-czf', path, '-C', src, 'bin/buildkitd', 'bin/buildctl']);
  return { path, bytes: readFileSync(path), buildkitd };
}

async function refusal(path: string): Promise<string> {
  try {
    await (await openTarball(path)).close();
  } catch (err) {
    expect(err).toBeInstanceOf(TarballError);
    return (err as Error).message;
  }
  throw new Error(`${path} was opened`);
}

describe('openTarball', () => {
  it('refuses a symbolic link to a regular file, a directory and a missing file', async () => {
    const a = release('a.tgz', 'A');
    symlinkSync(a.path, join(dir, 'link.tgz'));
    expect(await refusal(join(dir, 'link.tgz'))).toMatch(/is a symbolic link \(to .*a\.tgz\)/);
    expect(await refusal(dir)).toBe(`tarball ${dir} is not a regular file`);
    expect(await refusal(join(dir, 'none.tgz'))).toMatch(/cannot be opened: ENOENT/);
  });

  it('refuses a FIFO on the descriptor, at once (a blocking open would wait for a writer)', async () => {
    const fifo = join(dir, 'fifo.tgz');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    expect(await refusal(fifo)).toBe(`tarball ${fifo} is not a regular file`);
  }, 5000);

  it('refuses a file larger than any BuildKit release', async () => {
    const big = join(dir, 'big.tgz');
    writeFileSync(big, '');
    truncateSync(big, MAX_TARBALL_BYTES + 1); // sparse: no disk used
    expect(await refusal(big)).toMatch(/is 1073741825 bytes, more than the 1073741824/);
  });
});

describe('what is hashed is what is extracted', () => {
  it('copies the file that was opened, though the path is swapped for another before the copy', async () => {
    const a = release('a.tgz', 'A');
    const b = release('b.tgz', 'B');
    const fh = await openTarball(a.path);
    try {
      renameSync(b.path, a.path); // the path now names B
      const copy = await copyTarball(a.path, fh, work());
      expect(copy.sha256).toBe(sha256(a.bytes));
      expect(copy.size).toBe(a.bytes.length);
      await copy.handle.close();
    } finally {
      await fh.close();
    }
  });

  it('extracts from the hashed copy though the file is rewritten in place and replaced afterwards', async () => {
    const a = release('a.tgz', 'A');
    const b = release('b.tgz', 'B');
    const tarball = new LocalTarball(a.path, work());
    try {
      const copy = await tarball.read();
      expect(copy.sha256).toBe(sha256(a.bytes));
      // The copy has no name: nothing on the disk can be swapped for it.
      expect((await copy.handle.stat()).nlink).toBe(0);
      expect(readdirSync(work())).toEqual([]);
      writeFileSync(a.path, b.bytes); // same inode, B's bytes
      expect(sha256(readFileSync(a.path))).toBe(sha256(b.bytes));
      renameSync(b.path, a.path);
      // Read again (a later step): the same copy, not the path.
      expect((await tarball.read()).sha256).toBe(sha256(a.bytes));
      const out = join(dir, 'out');
      mkdirSync(out);
      const got = await extractMembers(
        { name: a.path, handle: copy.handle },
        { 'bin/buildkitd': join(out, 'buildkitd'), 'bin/buildctl': join(out, 'buildctl') },
      );
      expect(readFileSync(join(out, 'buildkitd')).equals(a.buildkitd)).toBe(true);
      expect(got['bin/buildkitd']?.sha256).toBe(sha256(a.buildkitd));
      expect(readFileSync(join(out, 'buildctl'), 'utf8')).toBe('A buildctl');
    } finally {
      await tarball.close();
    }
  });

  it('a file cut short after it was opened fails the run cleanly: the copy holds what was read', async () => {
    const a = release('a.tgz', 'A');
    const fh = await openTarball(a.path);
    try {
      truncateSync(a.path, 1000);
      const copy = await copyTarball(a.path, fh, work());
      // The bytes hashed are the bytes kept: a checksum check then refuses them, and extracting
      // them (were it tried) finds them truncated, never another file.
      expect(copy.size).toBe(1000);
      expect(copy.sha256).toBe(sha256(a.bytes.subarray(0, 1000)));
      await expect(
        extractMembers({ name: a.path, handle: copy.handle }, { 'bin/buildkitd': join(dir, 'x') }),
      ).rejects.toThrow(/is truncated or corrupt/);
      await copy.handle.close();
    } finally {
      await fh.close();
    }
  });
});
