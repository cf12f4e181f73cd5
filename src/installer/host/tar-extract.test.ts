// Builds real archives with the system's GNU tar and checks what extractMembers writes, returns
// and refuses: unsafe names, links, truncation, corrupt headers, missing members.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { extractMembers } from './tar-extract.js';

let dir: string; // src/ holds the files to archive, out/ receives extracted ones
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'opencloud-tar-'));
  mkdirSync(join(dir, 'src'));
  mkdirSync(join(dir, 'out'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const out = (name: string) => join(dir, 'out', name);

function file(name: string, content: Buffer, mode = 0o644): Buffer {
  const path = join(dir, 'src', name);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
  chmodSync(path, mode);
  return content;
}

/** tar -czf <archive> -C src <members>; extra args go before the member list. */
function tar(members: string[], extra: string[] = [], name = 'a.tar.gz'): string {
  const archive = join(dir, name);
  execFileSync('tar', ['-czf', archive, '-C', join(dir, 'src'), ...extra, ...members]);
  return archive;
}

/** Re-gzips an archive after changing its uncompressed tar bytes. */
function rewrite(archive: string, change: (tar: Buffer) => Buffer): void {
  writeFileSync(archive, gzipSync(change(gunzipSync(readFileSync(archive)))));
}

describe('extractMembers', () => {
  it('extracts the wanted members of a release-shaped archive and nothing else', async () => {
    const buildkitd = file('bin/buildkitd', randomBytes(1536 * 1024 + 7), 0o755);
    const buildctl = file('bin/buildctl', randomBytes(40_000), 0o750);
    file('bin/buildkit-runc', randomBytes(5000), 0o755);
    const archive = tar(['bin/buildkitd', 'bin/buildctl', 'bin/buildkit-runc']);

    const got = await extractMembers(archive, {
      'bin/buildkitd': out('buildkitd'),
      'bin/buildctl': out('buildctl'),
    });

    expect(got).toEqual({
      'bin/buildkitd': { sha256: sha256(buildkitd), size: buildkitd.length, mode: 0o755 },
      'bin/buildctl': { sha256: sha256(buildctl), size: buildctl.length, mode: 0o750 },
    });
    expect(readFileSync(out('buildkitd')).equals(buildkitd)).toBe(true);
    expect(readFileSync(out('buildctl')).equals(buildctl)).toBe(true);
    expect(statSync(out('buildkitd')).mode & 0o777).toBe(0o700);
    expect(readdirSync(join(dir, 'out')).sort()).toEqual(['buildctl', 'buildkitd']);
  });

  it('matches members stored as ./bin/x', async () => {
    const x = file('bin/x', randomBytes(100));
    const got = await extractMembers(tar(['./bin/x']), { 'bin/x': out('x') });
    expect(got['bin/x']?.sha256).toBe(sha256(x));
    expect(readFileSync(out('x')).equals(x)).toBe(true);
  });

  it.each([
    ['gnu', '././@LongLink'],
    ['pax', 'path='],
  ])('reads names longer than 100 characters (%s format)', async (format, marker) => {
    const long = `${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(40)}`;
    const content = file(long, randomBytes(2000));
    const archive = tar([long], [`--format=${format}`]);
    expect(gunzipSync(readFileSync(archive)).includes(marker)).toBe(true); // the record under test is there
    const got = await extractMembers(archive, { [long]: out('long') });
    expect(got[long]?.sha256).toBe(sha256(content));
  });

  it('refuses a wanted symlink and removes members already written', async () => {
    file('bin/a', randomBytes(10));
    symlinkSync('/etc/passwd', join(dir, 'src', 'bin/link'));
    const archive = tar(['bin/a', 'bin/link']);
    await expect(extractMembers(archive, { 'bin/a': out('a'), 'bin/link': out('link') })).rejects.toThrow(
      `bin/link in ${archive} is a symlink, expected a regular file`,
    );
    expect(readdirSync(join(dir, 'out'))).toEqual([]);
  });

  it.each(['../evil', '/etc/evil', 'bin/../../evil'])(
    'refuses the whole archive when any member is named %s',
    async (evil) => {
      file('bin/ok', randomBytes(10));
      file('evil', Buffer.from('x'));
      const archive = tar(['bin/ok', 'evil'], ['-P', `--transform=s,^evil$,${evil},`]);
      await expect(extractMembers(archive, { 'bin/ok': out('ok') })).rejects.toThrow(
        `unsafe member ${evil} in ${archive}: absolute path or ..`,
      );
      expect(existsSync(out('ok'))).toBe(false);
    },
  );

  it('reports a .tar.gz cut in half as truncated', async () => {
    file('bin/a', randomBytes(300_000));
    const archive = tar(['bin/a']);
    const bytes = readFileSync(archive);
    writeFileSync(archive, bytes.subarray(0, bytes.length >> 1));
    await expect(extractMembers(archive, { 'bin/a': out('a') })).rejects.toThrow(
      `${archive} is truncated or corrupt: unexpected end of file`,
    );
    expect(existsSync(out('a'))).toBe(false);
  });

  it('reports a tar that ends inside a member', async () => {
    file('bin/a', randomBytes(3000));
    const archive = tar(['bin/a']);
    rewrite(archive, (t) => t.subarray(0, 512 + 1000));
    await expect(extractMembers(archive, { 'bin/a': out('a') })).rejects.toThrow(
      `${archive} is truncated or corrupt: archive ends inside bin/a`,
    );
    expect(existsSync(out('a'))).toBe(false);
  });

  it('validates header checksums', async () => {
    file('bin/a', randomBytes(10));
    const archive = tar(['bin/a']);
    rewrite(archive, (t) => Buffer.concat([Buffer.from('X'), t.subarray(1)]));
    await expect(extractMembers(archive, { 'Xin/a': out('a') })).rejects.toThrow(
      `${archive} is truncated or corrupt: header checksum mismatch at byte 0`,
    );
  });

  it('names what the archive holds when a wanted member is missing', async () => {
    file('bin/a', randomBytes(10));
    file('bin/b', randomBytes(10));
    const archive = tar(['bin/a', 'bin/b']);
    await expect(extractMembers(archive, { 'bin/a': out('a'), 'bin/nope': out('nope') })).rejects.toThrow(
      `${archive} has no bin/nope; it holds: bin/a, bin/b`,
    );
    expect(readdirSync(join(dir, 'out'))).toEqual([]);
  });
});
