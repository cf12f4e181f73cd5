// The shared streaming tar reader over archives made by the system's GNU tar (ustar, gnu and pax
// formats): entry fields, long names and link targets, bodies read or skipped, the end of the
// source reached, bounded chunks, and corrupt or truncated input.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeType, escapesRoot, readTar, TarFormatError, type TarEntry } from './tar-reader.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'opencloud-tar-reader-'));
  mkdirSync(join(dir, 'src'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: Buffer | string): Buffer {
  const path = join(dir, 'src', name);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
  return Buffer.from(content);
}

/** tar -cf - -C src <members> (uncompressed), extra args before the member list. */
function tar(members: string[], extra: string[] = []): Buffer {
  return execFileSync('tar', ['-cf', '-', '-C', join(dir, 'src'), ...extra, ...members], {
    maxBuffer: 64 << 20,
  });
}

/** The buffer as a stream of chunks of the given size; `ended` turns true once the last was taken. */
function chunks(buf: Buffer, size = 4096): AsyncIterable<Buffer> & { ended: boolean } {
  const src = {
    ended: false,
    async *[Symbol.asyncIterator]() {
      for (let off = 0; off < buf.length; off += size) yield buf.subarray(off, off + size);
      src.ended = true;
    },
  };
  return src;
}

type Seen = Omit<TarEntry, 'body' | 'offset'> & { content?: string };

/** Every entry's fields, and the body of the regular files. */
async function list(source: AsyncIterable<Uint8Array>): Promise<Seen[]> {
  const out: Seen[] = [];
  for await (const e of readTar(source)) {
    const { body, offset: _offset, ...fields } = e;
    const seen: Seen = { ...fields };
    if (e.type === 'file') {
      const parts: Buffer[] = [];
      for await (const c of body) parts.push(c);
      seen.content = Buffer.concat(parts).toString();
    }
    out.push(seen);
  }
  return out;
}

/** A raw 512-byte ustar header with a correct checksum. */
function header(name: string, typeflag: string, size: number): Buffer {
  const b = Buffer.alloc(512);
  b.write(name, 0, 'utf8');
  b.write('0000644\0', 100);
  b.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  b.write('        ', 148);
  b.write(typeflag, 156);
  b.write('ustar\0' + '00', 257, 'latin1');
  let sum = 0;
  for (const x of b) sum += x;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return b;
}

describe('readTar', () => {
  it.each(['ustar', 'gnu', 'pax'])(
    'reads files, directories, symlinks, hard links and FIFOs (%s)',
    async (format) => {
      file('d/a.txt', 'alpha');
      file('d/run.sh', '#!/bin/sh\n');
      execFileSync('chmod', ['4755', join(dir, 'src/d/run.sh')]);
      symlinkSync('a.txt', join(dir, 'src/d/link'));
      linkSync(join(dir, 'src/d/a.txt'), join(dir, 'src/d/hard'));
      execFileSync('mkfifo', [join(dir, 'src/d/fifo')]);
      const got = await list(
        chunks(tar(['d/a.txt', 'd/hard', 'd/link', 'd/fifo', 'd/run.sh'], [`--format=${format}`])),
      );
      expect(got).toEqual([
        {
          name: 'd/a.txt',
          type: 'file',
          typeflag: '0',
          size: 5,
          mode: 0o644,
          linkname: '',
          content: 'alpha',
        },
        { name: 'd/hard', type: 'hardlink', typeflag: '1', size: 0, mode: 0o644, linkname: 'd/a.txt' },
        { name: 'd/link', type: 'symlink', typeflag: '2', size: 0, mode: 0o777, linkname: 'a.txt' },
        { name: 'd/fifo', type: 'fifo', typeflag: '6', size: 0, mode: 0o644, linkname: '' },
        {
          name: 'd/run.sh',
          type: 'file',
          typeflag: '0',
          size: 10,
          mode: 0o4755,
          linkname: '',
          content: '#!/bin/sh\n',
        },
      ]);
      const dirs = await list(chunks(tar(['d'], ['--no-recursion', `--format=${format}`])));
      expect(dirs).toEqual([
        { name: 'd', type: 'directory', typeflag: '5', size: 0, mode: 0o755, linkname: '' },
      ]);
    },
  );

  it.each([
    ['gnu', '././@LongLink'],
    ['pax', 'linkpath='],
  ])('reads names and link targets longer than 100 characters (%s)', async (format, marker) => {
    const long = `${'d'.repeat(70)}/${'e'.repeat(70)}/${'f'.repeat(40)}`;
    file(long, 'long');
    symlinkSync(long, join(dir, 'src', `${long}.link`));
    const archive = tar([long, `${long}.link`], [`--format=${format}`]);
    expect(archive.includes(marker)).toBe(true);
    const got = await list(chunks(archive));
    expect(got.map((e) => [e.name, e.type, e.linkname, e.content])).toEqual([
      [long, 'file', '', 'long'],
      [`${long}.link`, 'symlink', long, undefined],
    ]);
  });

  it('strips "./" and trailing slashes, gives header offsets, and skips bodies left unread', async () => {
    const big = file('big', randomBytes(100_000));
    file('small', 'small');
    const archive = tar(['./big', './small']);
    const seen: [string, number][] = [];
    for await (const e of readTar(chunks(archive))) seen.push([e.name, e.offset]);
    const second = 512 + Math.ceil(big.length / 512) * 512;
    expect(seen).toEqual([
      ['big', 0],
      ['small', second],
    ]);
    expect(archive.subarray(second, second + 7).toString()).toBe('./small');
  });

  it('passes bodies on in the source’s chunks and reads the source to its end', async () => {
    const big = file('big', randomBytes(3 << 20));
    const source = chunks(tar(['big']), 65536);
    let largest = 0;
    const parts: Buffer[] = [];
    for await (const e of readTar(source)) {
      for await (const c of e.body) {
        largest = Math.max(largest, c.length);
        parts.push(c);
      }
    }
    expect(Buffer.concat(parts).equals(big)).toBe(true);
    expect(largest).toBeLessThanOrEqual(65536);
    expect(source.ended).toBe(true); // GNU tar's zero padding after the end blocks was read too
  });

  it('refuses a body read after the next entry was asked for', async () => {
    file('a', 'a');
    file('b', 'b');
    const entries: TarEntry[] = [];
    for await (const e of readTar(chunks(tar(['a', 'b'])))) entries.push(e);
    await expect(
      (async () => {
        for await (const _ of (entries[0] as TarEntry).body);
      })(),
    ).rejects.toThrow('the body of tar member a was read after the next member');
  });

  it('checks header checksums', async () => {
    file('a', 'a');
    const archive = tar(['a']);
    archive[0] = 'X'.charCodeAt(0);
    await expect(list(chunks(archive))).rejects.toThrow(
      new TarFormatError('header checksum mismatch at byte 0'),
    );
  });

  it('reports where a truncated archive ends', async () => {
    file('a', randomBytes(3000));
    const archive = tar(['a']);
    await expect(list(chunks(archive.subarray(0, 1500)))).rejects.toThrow('archive ends inside a');
    await expect(list(chunks(archive.subarray(0, 300)))).rejects.toThrow('archive ends inside a header');
  });

  it('refuses a long-name record over 1 MiB without reading it into memory', async () => {
    const archive = Buffer.concat([header('././@LongLink', 'L', 2 << 20), Buffer.alloc(1024)]);
    await expect(list(chunks(archive))).rejects.toThrow("'L' record of 2097152 bytes");
  });

  it('describes types and tells unsafe names', () => {
    expect(describeType({ type: 'fifo', typeflag: '6' })).toBe('FIFO');
    expect(describeType({ type: 'other', typeflag: 'S' })).toBe("tar entry of type 'S'");
    expect(escapesRoot('/etc/x')).toBe(true);
    expect(escapesRoot('a/../../x')).toBe(true);
    expect(escapesRoot('a/..b/c')).toBe(false);
  });
});
