// Build contexts uploaded as tar / tar.gz, made with the system's GNU tar: what is extracted (and
// how: modes, links), what the result records, and every archive that is refused: unsafe names,
// escaping links, members under a symlink, devices and FIFOs, truncation, limits. A refused
// archive leaves nothing behind in the work dir.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContextArchiveError, ContextTooLargeError, extractContext } from './context-archive.js';

let dir: string; // src/ holds what is archived, work/ receives the contexts
let work: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'opencloud-context-'));
  work = join(dir, 'work');
  mkdirSync(join(dir, 'src'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const DOCKERFILE = 'FROM busybox\nCOPY app/ /app/\n';

function file(name: string, content: Buffer | string, mode = 0o644): void {
  const path = join(dir, 'src', name);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
  chmodSync(path, mode);
}

/** tar -c[z]f - -C src <extra> <members>. */
function tar(members: string[], extra: string[] = [], gzip = true): Buffer {
  return execFileSync('tar', [gzip ? '-czf' : '-cf', '-', '-C', join(dir, 'src'), ...extra, ...members], {
    maxBuffer: 64 << 20,
  });
}

async function* chunks(buf: Buffer, size = 16384): AsyncGenerator<Buffer> {
  for (let off = 0; off < buf.length; off += size) yield buf.subarray(off, off + size);
}

const extract = (
  archive: Buffer,
  dockerfile = 'Dockerfile',
  limits: { maxBytes?: number; maxMembers?: number } = {},
) => extractContext(chunks(archive), { workDir: work, dockerfile, ...limits });

/** Extraction fails with the error class and message, and leaves no context dir behind. */
async function refused(
  archive: Buffer,
  message: string,
  kind: typeof ContextArchiveError | typeof ContextTooLargeError = ContextArchiveError,
  limits: { maxBytes?: number; maxMembers?: number } = {},
): Promise<void> {
  const err = await extract(archive, 'Dockerfile', limits).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(kind);
  expect((err as Error).message).toBe(message);
  expect(readdirSync(work)).toEqual([]);
}

describe('extractContext', () => {
  it('extracts files, directories and links that stay inside, with tidy modes, and records the upload', async () => {
    file('docker/app.Dockerfile', DOCKERFILE);
    file('app/message.txt', 'hello from the archive\n');
    file('app/run.sh', '#!/bin/sh\ncat /app/message.txt\n', 0o750);
    file('app/secret-mode', 'x', 0o600);
    file('app/setuid', 'x', 0o4755);
    symlinkSync('message.txt', join(dir, 'src/app/link.txt'));
    symlinkSync('../docker', join(dir, 'src/app/docker-dir'));
    symlinkSync('.', join(dir, 'src/here'));
    linkSync(join(dir, 'src/app/message.txt'), join(dir, 'src/app/hard.txt'));
    const archive = tar(['.']);

    const got = await extract(archive, 'docker/app.Dockerfile');
    expect(got).toEqual({
      dir: got.dir,
      dockerfile: DOCKERFILE,
      sha256: createHash('sha256').update(archive).digest('hex'),
      size: archive.length,
      files: 6,
      bytes: got.bytes,
    });
    expect(dirname(got.dir)).toBe(work);
    expect(statSync(got.dir).mode & 0o777).toBe(0o700);
    const at = (p: string) => join(got.dir, p);
    expect(readFileSync(at('app/message.txt'), 'utf8')).toBe('hello from the archive\n');
    expect(readFileSync(at('app/link.txt'), 'utf8')).toBe('hello from the archive\n');
    expect(readlinkSync(at('app/docker-dir'))).toBe('../docker');
    expect(readlinkSync(at('here'))).toBe('.');
    expect(statSync(at('app/hard.txt')).ino).toBe(statSync(at('app/message.txt')).ino);
    const mode = (p: string) => lstatSync(at(p)).mode & 0o7777;
    expect(mode('app/run.sh')).toBe(0o755);
    expect(mode('app/secret-mode')).toBe(0o644);
    expect(mode('app/setuid')).toBe(0o755);
    expect(mode('app')).toBe(0o755);
    expect(mode('docker')).toBe(0o755);
  });

  it('takes a plain tar as well as a tar.gz, members stored as ./x or x', async () => {
    file('Dockerfile', DOCKERFILE);
    file('a/b', 'b');
    for (const archive of [
      tar(['./Dockerfile', './a'], [], false),
      tar(['Dockerfile', 'a'], ['--format=pax']),
    ]) {
      const got = await extract(archive);
      expect(got.dockerfile).toBe(DOCKERFILE);
      expect(readFileSync(join(got.dir, 'a/b'), 'utf8')).toBe('b');
      rmSync(got.dir, { recursive: true });
    }
  });

  it.each([
    ['../x', 'archive member "../x" is an absolute path or has a ".." segment'],
    ['/etc/x', 'archive member "/etc/x" is an absolute path or has a ".." segment'],
    ['a/../../x', 'archive member "a/../../x" is an absolute path or has a ".." segment'],
  ])('refuses a member named %s', async (evil, message) => {
    file('Dockerfile', DOCKERFILE);
    file('evil', 'x');
    await refused(tar(['Dockerfile', 'evil'], ['-P', `--transform=s,^evil$,${evil},`]), message);
  });

  it.each([
    [
      '/etc/passwd',
      'link',
      'symlink "link" points to "/etc/passwd"; link targets must be relative paths inside the context',
    ],
    ['../../x', 'a', 'symlink "a" points to "../../x", outside the context'],
    ['../../x', 'd/l', 'symlink "d/l" points to "../../x", outside the context'],
  ])('refuses a symlink to %s', async (target, name, message) => {
    file('Dockerfile', DOCKERFILE);
    const at = join(dir, 'src', name);
    mkdirSync(dirname(at), { recursive: true });
    symlinkSync(target, at);
    await refused(tar(['Dockerfile', name]), message);
  });

  it('refuses a member stored under a symlink, even one pointing inside', async () => {
    file('Dockerfile', DOCKERFILE);
    file('d/e/x', 'x');
    symlinkSync('..', join(dir, 'src/d/up'));
    // Written through a link, a member lands elsewhere than its name says, and a link in it could
    // then escape though its lexical target stays inside (d/up/d/l -> ../../x is d/x by name).
    await refused(
      tar(['Dockerfile', 'd/up', 'd/up/d/e/x']),
      'archive member "d/up/d/e/x" lies under the symlink "d/up"',
    );
  });

  it('allows a hard link only to a regular file earlier in the archive', async () => {
    file('Dockerfile', DOCKERFILE);
    file('d/a.txt', 'a');
    linkSync(join(dir, 'src/d/a.txt'), join(dir, 'src/d/hard'));
    const ok = await extract(tar(['Dockerfile', 'd/a.txt', 'd/hard']));
    expect(readFileSync(join(ok.dir, 'd/hard'), 'utf8')).toBe('a');
    rmSync(ok.dir, { recursive: true });

    const retarget = (to: string) =>
      tar(['Dockerfile', 'd/a.txt', 'd/hard'], ['-P', `--transform=s,^d/a.txt$,${to},RS`]);
    await refused(
      retarget('/etc/passwd'),
      'hard link "d/hard" points to "/etc/passwd" is an absolute path or has a ".." segment',
    );
    await refused(
      retarget('../a.txt'),
      'hard link "d/hard" points to "../a.txt" is an absolute path or has a ".." segment',
    );
    await refused(
      retarget('d/other'),
      'hard link "d/hard" points to "d/other", which is not a regular file earlier in the archive',
    );
    symlinkSync('a.txt', join(dir, 'src/d/sym'));
    linkSync(join(dir, 'src/d/sym'), join(dir, 'src/d/hard-to-sym'));
    await refused(
      tar(['Dockerfile', 'd/sym', 'd/hard-to-sym']),
      'hard link "d/hard-to-sym" points to "d/sym", which is not a regular file earlier in the archive',
    );
  });

  it('refuses FIFOs and a member that appears twice', async () => {
    file('Dockerfile', DOCKERFILE);
    execFileSync('mkfifo', [join(dir, 'src/fifo')]);
    await refused(
      tar(['Dockerfile', 'fifo']),
      'archive member "fifo" is a FIFO; a build context holds only files, directories and links',
    );
    await refused(tar(['Dockerfile', 'Dockerfile']), 'archive member "Dockerfile" appears more than once');
  });

  it('reports truncated and corrupt archives', async () => {
    file('Dockerfile', DOCKERFILE);
    file('big', randomBytes(300_000));
    const gz = tar(['Dockerfile', 'big']);
    await refused(
      gz.subarray(0, gz.length >> 1),
      'the archive is truncated or corrupt: unexpected end of file',
    );
    const plain = tar(['Dockerfile', 'big'], [], false);
    await refused(plain.subarray(0, 4096), 'the archive is truncated or corrupt: archive ends inside big');
    await refused(
      Buffer.from('this is not a tar archive\n'.repeat(40)),
      'the archive is truncated or corrupt: header checksum mismatch at byte 0',
    );
    const flipped = Buffer.from(gz);
    flipped[flipped.length - 6] = (flipped[flipped.length - 6] as number) ^ 0xff; // the CRC
    await refused(flipped, 'the archive is truncated or corrupt: incorrect data check');
  });

  it('needs the Dockerfile as a regular file at the given path', async () => {
    file('docker/app.Dockerfile', DOCKERFILE);
    file('other', 'x');
    await refused(
      tar(['docker', 'other']),
      'the Dockerfile "Dockerfile" is missing; the archive holds: docker, docker/app.Dockerfile, other',
    );
    symlinkSync('docker/app.Dockerfile', join(dir, 'src/Dockerfile'));
    await refused(tar(['docker', 'Dockerfile']), 'the Dockerfile "Dockerfile" is a symlink');
    await refused(
      gzipSync(Buffer.alloc(10240)),
      'the Dockerfile "Dockerfile" is missing: the archive is empty',
    );
    await expect(extract(tar(['docker']), '../Dockerfile')).rejects.toThrow(
      'dockerfile: context path "../Dockerfile" must not contain "..", "." or empty segments',
    );
  });

  it('limits the upload, what it unpacks to, and the member count', async () => {
    file('Dockerfile', DOCKERFILE);
    file('noise', randomBytes(50_000));
    await refused(
      tar(['Dockerfile', 'noise']),
      'the uploaded archive is larger than 20000 bytes',
      ContextTooLargeError,
      { maxBytes: 20_000 },
    );
    file('zeros', Buffer.alloc(200_000));
    const bomb = tar(['Dockerfile', 'zeros']);
    expect(bomb.length).toBeLessThan(20_000);
    await refused(bomb, 'the build context unpacks to more than 100000 bytes', ContextTooLargeError, {
      maxBytes: 100_000,
    });
    // zeros after the end of the archive count too
    await refused(
      gzipSync(Buffer.concat([tar(['Dockerfile'], [], false), Buffer.alloc(1 << 20)])),
      'the archive unpacks to more than 200000 bytes of tar stream',
      ContextTooLargeError,
      { maxBytes: 100_000 },
    );
    for (const n of [1, 2, 3, 4]) file(`f${n}`, 'x');
    await refused(
      tar(['Dockerfile', 'f1', 'f2', 'f3', 'f4']),
      'the archive has more than 3 members',
      ContextTooLargeError,
      { maxMembers: 3 },
    );
  });

  it('reports an upload that fails midway and removes what it wrote', async () => {
    file('Dockerfile', DOCKERFILE);
    const archive = tar(['Dockerfile']);
    async function* broken(): AsyncGenerator<Buffer> {
      yield archive.subarray(0, 10);
      throw new Error('aborted');
    }
    await expect(extractContext(broken(), { workDir: work, dockerfile: 'Dockerfile' })).rejects.toThrow(
      new ContextArchiveError('the upload failed: aborted'),
    );
    expect(readdirSync(work)).toEqual([]);
  });
});
