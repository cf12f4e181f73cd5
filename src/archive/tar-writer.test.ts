import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readTar } from './tar-reader.js';
import { tarStream, TarWriteError, type TarMember } from './tar-writer.js';

async function collect(members: TarMember[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of tarStream(members)) parts.push(b);
  return Buffer.concat(parts);
}

const file = (name: string, text: string, mode = 0o644): TarMember => ({
  name,
  type: 'file',
  mode,
  mtime: 1_700_000_000,
  size: Buffer.byteLength(text),
  body: async function* () {
    yield Buffer.from(text);
  },
});

const LONG = `${'deep/'.repeat(30)}file-with-a-long-name.txt`;
const MEMBERS: TarMember[] = [
  { name: 'dir', type: 'directory', mode: 0o755, mtime: 1_700_000_000 },
  file('dir/hello.txt', 'hello\n'),
  file('run.sh', '#!/bin/sh\necho hi\n', 0o755),
  file('empty', ''),
  file('block-sized', 'x'.repeat(512)),
  file(LONG, 'far down\n'),
  { name: 'link', type: 'symlink', mode: 0o777, mtime: 1_700_000_000, linkname: 'dir/hello.txt' },
  { name: 'far-link', type: 'symlink', mode: 0o777, mtime: 1_700_000_000, linkname: LONG },
];

describe('tarStream', () => {
  it('writes an archive GNU tar lists and extracts as written (long names through pax)', async () => {
    const archive = await collect(MEMBERS);
    expect(archive.length % 512).toBe(0);
    const dir = mkdtempSync(join(tmpdir(), 'tar-writer-'));
    const x = spawnSync('tar', ['-x', '-C', dir], { input: archive });
    expect(x.status, x.stderr.toString()).toBe(0);
    expect(readFileSync(join(dir, 'dir/hello.txt'), 'utf8')).toBe('hello\n');
    expect(statSync(join(dir, 'run.sh')).mode & 0o777).toBe(0o755);
    expect(statSync(join(dir, 'run.sh')).mtimeMs).toBe(1_700_000_000_000);
    expect(readFileSync(join(dir, 'empty'), 'utf8')).toBe('');
    expect(readFileSync(join(dir, 'block-sized'), 'utf8')).toBe('x'.repeat(512));
    expect(readFileSync(join(dir, LONG), 'utf8')).toBe('far down\n');
    expect(readlinkSync(join(dir, 'link'))).toBe('dir/hello.txt');
    expect(readlinkSync(join(dir, 'far-link'))).toBe(LONG);
    const t = spawnSync('tar', ['-t'], { input: archive, encoding: 'utf8' });
    expect(t.stdout.trim().split('\n')).toEqual([
      'dir/',
      'dir/hello.txt',
      'run.sh',
      'empty',
      'block-sized',
      LONG,
      'link',
      'far-link',
    ]);
  });

  it('reads back through our own reader with every name, type, mode and body', async () => {
    const seen = [];
    for await (const e of readTar(Readable.from([await collect(MEMBERS)]))) {
      let text = '';
      for await (const c of e.body) text += c.toString();
      seen.push({ name: e.name, type: e.type, mode: e.mode, text, linkname: e.linkname });
    }
    expect(seen.map((s) => s.name)).toEqual(MEMBERS.map((m) => m.name));
    expect(seen[5]).toMatchObject({ type: 'file', text: 'far down\n' });
    expect(seen[7]).toMatchObject({ type: 'symlink', linkname: LONG });
    expect(seen[2]?.mode).toBe(0o755);
  });

  it('stops with an error when a file is not the size it was declared with', async () => {
    await expect(collect([{ ...file('grew', 'abcdef'), size: 3 }])).rejects.toThrow(TarWriteError);
    await expect(collect([{ ...file('shrank', 'ab'), size: 3 }])).rejects.toThrow(/shrank/);
  });
});
