// Build contexts uploaded as tar / tar.gz, made with the system's GNU tar: what is extracted (and
// how: modes, links), what the result records, and every archive that is refused: unsafe names,
// escaping links (judged by the whole tree: links through links), members under a symlink,
// devices and FIFOs, truncation, limits. A refused archive leaves nothing behind in the work dir,
// and the attacks below leave a sentinel outside it untouched.
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
  realpathSync,
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

type Limits = { maxUpload?: number; maxBytes?: number; maxFiles?: number };
const extract = (archive: Buffer, dockerfile = 'Dockerfile', limits: Limits = {}) =>
  extractContext(chunks(archive), { workDir: work, dockerfile, ...limits });

/** Extraction fails with the error class and message, and leaves no context dir behind. */
async function refused(
  archive: Buffer,
  message: string,
  kind: typeof ContextArchiveError | typeof ContextTooLargeError = ContextArchiveError,
  limits: Limits = {},
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
    ['/etc/passwd', 'link', 'symlink "link" -> "/etc/passwd" leaves the context: its target is absolute'],
    ['../../x', 'a', 'symlink "a" -> "../../x" leaves the context'],
    ['../../x', 'd/l', 'symlink "d/l" -> "../../x" leaves the context'],
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
    await refused(retarget('/etc/passwd'), 'hard link "d/hard" -> "/etc/passwd" leaves the context');
    await refused(retarget('../a.txt'), 'hard link "d/hard" -> "../a.txt" leaves the context');
    await refused(
      retarget('d/other'),
      'hard link "d/hard" -> "d/other" is not a regular file earlier in the archive',
    );
    symlinkSync('a.txt', join(dir, 'src/d/sym'));
    linkSync(join(dir, 'src/d/sym'), join(dir, 'src/d/hard-to-sym'));
    await refused(
      tar(['Dockerfile', 'd/sym', 'd/hard-to-sym']),
      'hard link "d/hard-to-sym" -> "d/sym" is not a regular file earlier in the archive',
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
      { maxUpload: 20_000 },
    );
    file('zeros', Buffer.alloc(200_000));
    const bomb = tar(['Dockerfile', 'zeros']);
    expect(bomb.length).toBeLessThan(20_000);
    await refused(
      bomb,
      'the build context unpacks to more than 100000 bytes (build.contextMaxBytes)',
      ContextTooLargeError,
      { maxBytes: 100_000 },
    );
    // zeros after the end of the archive count too: 100000 + 10 * 4096 + 1 MiB of tar stream at most
    await refused(
      gzipSync(Buffer.concat([tar(['Dockerfile'], [], false), Buffer.alloc(2 << 20)])),
      "the archive's tar stream is longer than 1189536 bytes (build.contextMaxBytes, plus 4096 bytes of headers for each entry build.contextMaxFiles allows and 1048576 for the archive's end)",
      ContextTooLargeError,
      { maxBytes: 100_000, maxFiles: 10 },
    );
    for (const n of [1, 2, 3, 4]) file(`f${n}`, 'x');
    await refused(
      tar(['Dockerfile', 'f1', 'f2', 'f3', 'f4']),
      'the archive has more than 3 files, directories and links (build.contextMaxFiles)',
      ContextTooLargeError,
      { maxFiles: 3 },
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

// The attacks of issue 17 (findings 11 and 12), each as an archive GNU tar makes: refused, the
// work dir left empty, and nothing outside it written (a snapshot of everything around it,
// sentinel files included, is the same after).
describe('extractContext against escaping archives and bombs', () => {
  let outside: string;
  beforeEach(() => {
    outside = join(dir, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'sentinel.txt'), 'untouched\n');
    writeFileSync(join(dir, 'sentinel.txt'), 'untouched\n');
    mkdirSync(work);
    file('Dockerfile', DOCKERFILE);
    file('payload', 'owned\n');
  });

  /** Every path under dir but src/, with its content or link target. */
  function snapshot(at = dir, out: Record<string, string> = {}): Record<string, string> {
    for (const name of readdirSync(at)) {
      const p = join(at, name);
      if (p === join(dir, 'src')) continue;
      const st = lstatSync(p);
      if (st.isSymbolicLink()) out[p] = `-> ${readlinkSync(p)}`;
      else if (st.isDirectory()) {
        out[p] = 'dir';
        snapshot(p, out);
      } else out[p] = readFileSync(p, 'utf8');
    }
    return out;
  }

  /** Refused with the message; the work dir stays empty and nothing around it changes. */
  async function attack(
    archive: Buffer,
    message: string,
    kind: typeof ContextArchiveError | typeof ContextTooLargeError = ContextArchiveError,
    limits: Limits = {},
  ): Promise<void> {
    const before = snapshot();
    await refused(archive, message, kind, limits);
    expect(snapshot()).toEqual(before);
    expect(readFileSync(join(outside, 'sentinel.txt'), 'utf8')).toBe('untouched\n');
  }

  const payloadAt = (name: string) => [`--transform=s,^payload$,${name},`];

  it('refuses d1/up -> .. with esc2 -> d1/up/../.. (the data dir, as GNU tar would extract it)', async () => {
    mkdirSync(join(dir, 'src/d1'));
    symlinkSync('..', join(dir, 'src/d1/up'));
    symlinkSync('d1/up/../..', join(dir, 'src/esc2'));
    const archive = tar(['Dockerfile', 'd1', 'esc2']);
    // What the finding saw: extracted as tar does it, esc2 is the parent of the extraction dir's parent.
    const plain = join(dir, 'plain/ctx');
    mkdirSync(plain, { recursive: true });
    execFileSync('tar', ['-xzf', '-', '-C', plain], { input: archive });
    expect(realpathSync.native(join(plain, 'esc2'))).toBe(realpathSync.native(dir));
    rmSync(join(dir, 'plain'), { recursive: true });

    await attack(archive, 'symlink "esc2" -> "d1/up/../.." leaves the context');
    // and a member written through it (into the work dir) is refused before anything is written
    await attack(
      tar(['Dockerfile', 'd1', 'esc2', 'payload'], payloadAt('esc2/sentinel.txt')),
      'archive member "esc2/sentinel.txt" lies under the symlink "esc2"',
    );
  });

  it('refuses an absolute link, and a member written through one', async () => {
    symlinkSync(outside, join(dir, 'src/abs'));
    await attack(
      tar(['Dockerfile', 'abs', 'payload'], payloadAt('abs/sentinel.txt')),
      `symlink "abs" -> "${outside}" leaves the context: its target is absolute`,
    );
    rmSync(join(dir, 'src/abs'));
    symlinkSync('/etc', join(dir, 'src/link'));
    await attack(
      tar(['Dockerfile', 'link', 'payload'], payloadAt('link/passwd')),
      'symlink "link" -> "/etc" leaves the context: its target is absolute',
    );
  });

  it('refuses a member written through a link that stays inside', async () => {
    file('sub/keep', 'x');
    symlinkSync('sub', join(dir, 'src/in'));
    await attack(
      tar(['Dockerfile', 'sub', 'in', 'payload'], payloadAt('in/keep')),
      'archive member "in/keep" lies under the symlink "in"',
    );
  });

  it('refuses link chains that leave through other links, and loops', async () => {
    mkdirSync(join(dir, 'src/d1'));
    symlinkSync('..', join(dir, 'src/d1/up'));
    symlinkSync('d1/up', join(dir, 'src/l1'));
    symlinkSync('l1/..', join(dir, 'src/l2'));
    await attack(tar(['Dockerfile', 'd1', 'l1', 'l2']), 'symlink "l2" -> "l1/.." leaves the context');

    symlinkSync('d1/esc', join(dir, 'src/x'));
    symlinkSync('up/..', join(dir, 'src/d1/esc'));
    await attack(
      tar(['Dockerfile', 'x', 'd1/up', 'd1/esc']),
      'symlink "x" -> "d1/esc" leaves the context (through symlink "d1/esc" -> "up/..")',
    );

    symlinkSync('b', join(dir, 'src/a'));
    symlinkSync('a', join(dir, 'src/b'));
    await attack(
      tar(['Dockerfile', 'a', 'b']),
      'symlink "a" -> "b" does not resolve: a loop, or more than 40 links on the way',
    );
  });

  it('refuses hard links to outside, also through a link that leaves', async () => {
    file('d/a.txt', 'a');
    linkSync(join(dir, 'src/d/a.txt'), join(dir, 'src/d/hard'));
    const retarget = (to: string, more: string[] = []) =>
      tar(['Dockerfile', ...more, 'd/a.txt', 'd/hard'], ['-P', `--transform=s,^d/a.txt$,${to},RS`]);
    await attack(
      retarget(join(outside, 'sentinel.txt')),
      `hard link "d/hard" -> "${join(outside, 'sentinel.txt')}" leaves the context`,
    );
    await attack(
      retarget('../../sentinel.txt'),
      'hard link "d/hard" -> "../../sentinel.txt" leaves the context',
    );
    mkdirSync(join(dir, 'src/d1'));
    symlinkSync('..', join(dir, 'src/d1/up'));
    symlinkSync('d1/up/../..', join(dir, 'src/esc2'));
    await attack(
      retarget('esc2/sentinel.txt', ['d1', 'esc2']),
      'hard link "d/hard" -> "esc2/sentinel.txt" goes through the symlink "esc2"; it must name a regular file earlier in the archive',
    );
  });

  it('refuses device nodes', async () => {
    const dev = execFileSync('tar', ['-cf', '-', '-C', '/', 'dev/null']);
    await attack(
      dev,
      'archive member "dev/null" is a character device; a build context holds only files, directories and links',
    );
  });

  it('stops a 61 KB tar.gz that expands to 61 MB at the limit, from its header', async () => {
    execFileSync('truncate', ['-s', String(61 * 1000 * 1000), join(dir, 'src/zeros')]);
    const bomb = tar(['Dockerfile', 'zeros']);
    expect(bomb.length).toBeLessThan(100_000);
    let pulled = 0;
    async function* counting(): AsyncGenerator<Buffer> {
      for await (const c of chunks(bomb, 4096)) {
        pulled += c.length;
        yield c;
      }
    }
    const before = snapshot();
    const err = await extractContext(counting(), {
      workDir: work,
      dockerfile: 'Dockerfile',
      maxBytes: 1 << 20,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ContextTooLargeError);
    expect((err as Error).message).toBe(
      'the build context unpacks to more than 1048576 bytes (build.contextMaxBytes)',
    );
    expect(pulled).toBeLessThan(bomb.length); // refused while streaming, not after
    expect(readdirSync(work)).toEqual([]);
    expect(snapshot()).toEqual(before);
  });

  it('stops many files at the byte limit while streaming, and too many files at the count', async () => {
    for (let i = 0; i < 10; i++) file(`f${i}`, Buffer.alloc(50_000, 1));
    const plain = tar(['Dockerfile', ...Array.from({ length: 10 }, (_, i) => `f${i}`)], [], false);
    let pulled = 0;
    async function* counting(): AsyncGenerator<Buffer> {
      for await (const c of chunks(plain, 16384)) {
        pulled += c.length;
        yield c;
      }
    }
    const err = await extractContext(counting(), {
      workDir: work,
      dockerfile: 'Dockerfile',
      maxBytes: 120_000,
    }).catch((e: unknown) => e);
    expect((err as Error).message).toBe(
      'the build context unpacks to more than 120000 bytes (build.contextMaxBytes)',
    );
    expect(pulled).toBeLessThan(200_000); // the third file's header, not the whole 500 KB
    expect(readdirSync(work)).toEqual([]);

    for (let i = 0; i < 1000; i++) file(`many/${i}`, '');
    await attack(
      tar(['Dockerfile', 'many']),
      'the archive has more than 100 files, directories and links (build.contextMaxFiles)',
      ContextTooLargeError,
      { maxFiles: 100 },
    );
  });
});
