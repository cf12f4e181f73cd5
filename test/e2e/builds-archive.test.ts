// POST /api/v1/builds with an uploaded context (tar.gz or tar, options in the query string)
// against the real buildkitd: a Dockerfile kept at docker/app.Dockerfile COPYs files, a link and
// an executable script from the archive, containerd runs the image; the record names the archive
// by digest and size; the extracted context is gone afterwards. Unsafe or broken archives are
// 400s (a link leaving the context through another link included), an oversized upload, a
// compression bomb or too many files a 413, with nothing left behind in the data dir. The server
// runs with build.maxQueuedPerUser 1: a second build while one runs is a 429 in every form.
import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pushBaseImage } from '../support/base-image.js';
import { startServe, type ServeHandle } from '../support/cli.js';
import { missing, testEnv, titled } from '../support/env.js';
import { buildEnded, readSse } from '../support/sse.js';
import { postJson } from '../support/json-post.js';

const run = promisify(execFile);
const why = missing('buildkit', 'containerd', 'skopeo');
const MAX = 64 * 1024 * 1024;
const CONTEXT_MAX_BYTES = 8 * 1024 * 1024; // build.contextMaxBytes of the server under test
const CONTEXT_MAX_FILES = 1000; // build.contextMaxFiles

interface Build {
  id: string;
  state: string;
  digest: string | null;
  error: string | null;
  images: string[];
  definition: Record<string, unknown>;
}

describe.skipIf(why)(titled('builds from an uploaded context archive', why), () => {
  let server: ServeHandle;
  let host: string;
  let base: string;
  let dataDir: string;
  let src: string; // what the next archive holds

  const contextsLeft = () =>
    existsSync(join(dataDir, 'builds'))
      ? readdirSync(join(dataDir, 'builds')).filter((n) => n.startsWith('context-'))
      : [];

  function file(name: string, content: string | Buffer, mode = 0o644): void {
    const at = join(src, name);
    mkdirSync(dirname(at), { recursive: true });
    writeFileSync(at, content);
    chmodSync(at, mode);
  }
  /** tar -c[z]f - -C src <extra> <members>. */
  const tar = (members: string[], extra: string[] = [], gzip = true) =>
    execFileSync('tar', [gzip ? '-czf' : '-cf', '-', '-C', src, ...extra, ...members], {
      maxBuffer: 128 << 20,
    });

  const upload = async (
    body: Buffer | ReadableStream<Uint8Array>,
    query: string,
    type = 'application/gzip',
  ): Promise<{ status: number; body: Record<string, unknown> }> => {
    const res = await fetch(`${server.url}/api/v1/builds?${query}`, {
      method: 'POST',
      headers: { 'content-type': type },
      body,
      duplex: 'half',
    } as RequestInit);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const get = async (path: string) => (await (await fetch(`${server.url}${path}`)).json()) as Build;
  const follow = (id: string) =>
    readSse(`${server.url}/api/v1/builds/${id}/events`, { until: buildEnded, timeoutMs: 240_000 });
  /** The build's final record, once its extracted context is removed too. */
  const finished = async (id: string) => {
    const events = await follow(id);
    for (let i = 0; i < 50 && contextsLeft().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    return { events, build: await get(`/api/v1/builds/${id}`) };
  };

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'opencloud-builds-archive-'));
    server = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir], {
      env: {
        OPENCLOUD_BUILD_CONCURRENCY: '1',
        OPENCLOUD_BUILD_MAX_QUEUED_PER_USER: '1',
        OPENCLOUD_BUILD_CONTEXT_MAX_BYTES: String(CONTEXT_MAX_BYTES),
        OPENCLOUD_BUILD_CONTEXT_MAX_FILES: String(CONTEXT_MAX_FILES),
      },
    });
    host = new URL(server.url).host;
    base = await pushBaseImage(testEnv!.cacheDir, host);
  }, 120_000);

  afterAll(async () => {
    server?.child.kill('SIGTERM');
    await server?.exited;
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  beforeEach(() => {
    src = mkdtempSync(join(tmpdir(), 'opencloud-archive-src-'));
    return () => rmSync(src, { recursive: true, force: true });
  });

  it('builds a tar.gz context whose Dockerfile lives at docker/app.Dockerfile; ctr runs the image', async () => {
    file(
      'docker/app.Dockerfile',
      [
        'ARG BASE',
        'FROM $BASE',
        'COPY app/ /app/',
        'RUN test -x /app/run.sh && test "$(cat /app/link.txt)" = "$(cat /app/message.txt)" && test ! -e /app/ignored.txt',
        'CMD ["/app/run.sh"]',
      ].join('\n'),
    );
    file('docker/app.Dockerfile.dockerignore', 'app/ignored.txt\n');
    file('app/message.txt', 'hello from the uploaded context\n');
    file('app/ignored.txt', 'not for the image\n');
    file('app/run.sh', '#!/bin/sh\ncat /app/message.txt\n', 0o755);
    symlinkSync('message.txt', join(src, 'app/link.txt'));
    const archive = tar(['.']);

    const r = await upload(
      archive,
      `repository=demo/archive&tag=1&tag=latest&dockerfile=docker/app.Dockerfile&buildArg=BASE=${encodeURIComponent(base)}&label=org.example.from=archive`,
    );
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    const id = r.body.id as string;
    const { events, build } = await finished(id);
    expect(build.state, `${build.error}\n${events.map((e) => e.data).join('\n')}`).toBe('succeeded');
    expect(build.images).toEqual([`${host}/demo/archive:1`, `${host}/demo/archive:latest`]);
    expect(build.definition).toMatchObject({
      repository: 'demo/archive',
      tags: ['1', 'latest'],
      files: {},
      buildArgs: { BASE: base },
      labels: { 'org.example.from': 'archive' },
      archive: {
        sha256: createHash('sha256').update(archive).digest('hex'),
        size: archive.length,
        dockerfile: 'docker/app.Dockerfile',
      },
    });
    expect(JSON.stringify(build)).not.toContain(dataDir); // the temp dir is not part of the record
    expect(contextsLeft()).toEqual([]);

    const out = await run('ctr', [
      '-n',
      'buildkit',
      'run',
      '--rm',
      `${host}/demo/archive:1`,
      `oc-test-${id.slice(0, 8)}`,
    ]);
    expect(out.stdout).toBe('hello from the uploaded context\n');
  }, 300_000);

  it('builds a plain tar sent as application/x-tar, with the default Dockerfile name', async () => {
    file('Dockerfile', `FROM ${base}\nCOPY sub/greeting.txt /greeting.txt\nCMD ["cat", "/greeting.txt"]\n`);
    file('sub/greeting.txt', 'plain tar\n');
    const r = await upload(
      tar(['Dockerfile', 'sub'], [], false),
      'repository=demo/plain&noCache=true',
      'application/x-tar',
    );
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    const { build } = await finished(r.body.id as string);
    expect(build.state, build.error ?? '').toBe('succeeded');
    expect(build.definition).toMatchObject({ noCache: true, archive: { dockerfile: 'Dockerfile' } });
    expect(contextsLeft()).toEqual([]);
  }, 300_000);

  it('answers 400 CONTEXT_INVALID for unsafe, broken or incomplete archives, BUILD_INVALID for bad options, keeping nothing', async () => {
    file('Dockerfile', `FROM ${base}\n`);
    file('evil', 'x');
    file('big', Buffer.alloc(200_000, 'x'));
    mkdirSync(join(src, 'links'));
    symlinkSync('/etc/passwd', join(src, 'links/passwd'));
    symlinkSync('../../x', join(src, 'links/up'));
    // issue 17, finding 11: each link looks inside by its text; walked, esc2 is the data dir
    mkdirSync(join(src, 'd1'));
    symlinkSync('..', join(src, 'd1/up'));
    symlinkSync('d1/up/../..', join(src, 'esc2'));
    execFileSync('mkfifo', [join(src, 'fifo')]);
    const renamed = (to: string) => tar(['Dockerfile', 'evil'], ['-P', `--transform=s,^evil$,${to},`]);
    const whole = tar(['Dockerfile', 'big'], [], false);
    const cases: [string, Buffer, string, string?][] = [
      ['../x', renamed('../x'), 'archive member "../x" is an absolute path or has a ".." segment'],
      ['/etc/x', renamed('/etc/x'), 'archive member "/etc/x" is an absolute path or has a ".." segment'],
      [
        'symlink to /etc/passwd',
        tar(['Dockerfile', 'links/passwd']),
        'symlink "links/passwd" -> "/etc/passwd" leaves the context: its target is absolute',
      ],
      [
        'symlink to ../../x',
        tar(['Dockerfile', 'links/up']),
        'symlink "links/up" -> "../../x" leaves the context',
      ],
      [
        'd1/up -> .. and esc2 -> d1/up/../..',
        tar(['Dockerfile', 'd1', 'esc2']),
        'symlink "esc2" -> "d1/up/../.." leaves the context',
      ],
      [
        'a file written through esc2',
        tar(['Dockerfile', 'd1', 'esc2', 'evil'], ['--transform=s,^evil$,esc2/planted,']),
        'archive member "esc2/planted" lies under the symlink "esc2"',
      ],
      [
        'FIFO',
        tar(['Dockerfile', 'fifo']),
        'archive member "fifo" is a FIFO; a build context holds only files, directories and links',
      ],
      [
        'truncated',
        whole.subarray(0, 8192),
        'the archive is truncated or corrupt: archive ends inside big',
        'application/x-tar',
      ],
      ['no Dockerfile', tar(['evil']), 'the Dockerfile "Dockerfile" is missing; the archive holds: evil'],
    ];
    const dataDirBefore = readdirSync(dataDir).sort();
    for (const [what, archive, message, type] of cases) {
      const r = await upload(archive, 'repository=demo/bad', type);
      expect([what, r.status, r.body]).toEqual([
        what,
        400,
        { error: { code: 'CONTEXT_INVALID', message, requestId: expect.any(String) } },
      ]);
      expect(contextsLeft()).toEqual([]);
    }
    expect(readdirSync(dataDir).sort()).toEqual(dataDirBefore);
    expect(existsSync(join(dataDir, 'planted'))).toBe(false);

    // Refused at its first member with 48 MiB still to come (plain and gzipped): the answer gets
    // through all the same, and the rest is drained.
    file('huge', randomBytes(48 << 20));
    for (const gzip of [false, true]) {
      const early = await upload(
        tar(['evil', 'huge', 'Dockerfile'], ['-P', '--transform=s,^evil$,/evil,'], gzip),
        'repository=demo/bad',
        gzip ? 'application/x-gzip' : 'application/x-tar',
      );
      expect(early).toEqual({
        status: 400,
        body: {
          error: {
            code: 'CONTEXT_INVALID',
            message: 'archive member "/evil" is an absolute path or has a ".." segment',
            requestId: expect.any(String),
          },
        },
      });
    }

    file('Dockerfile', 'RUN echo no base\n');
    const noFrom = await upload(tar(['Dockerfile']), 'repository=demo/bad');
    expect(noFrom.status).toBe(400);
    expect(noFrom.body).toMatchObject({
      error: { code: 'BUILD_INVALID', message: expect.stringContaining('RUN before its first FROM') },
    });
    expect(contextsLeft()).toEqual([]);

    const query = async (q: string) => (await upload(tar(['Dockerfile']), q)).body;
    expect(await query('tag=1')).toEqual({
      error: {
        code: 'BUILD_INVALID',
        message: 'query parameter "repository" is required',
        requestId: expect.any(String),
      },
    });
    expect(await query('repository=demo/x&tags=1')).toMatchObject({
      error: { message: expect.stringContaining('unknown query parameter "tags"') },
    });
    expect(await query('repository=demo/x&dockerfile=../Dockerfile')).toMatchObject({
      error: { code: 'CONTEXT_INVALID', message: expect.stringContaining('"../Dockerfile"') },
    });
    expect(await query('repository=Demo/x')).toMatchObject({ error: { code: 'BUILD_INVALID' } });
  }, 120_000);

  it('answers 413 CONTEXT_TOO_LARGE for an upload over 64 MiB, announced or streamed, and stays usable', async () => {
    const zeros = Buffer.alloc(MAX + 1);
    const announced = await upload(zeros, 'repository=demo/huge', 'application/x-tar');
    expect(announced).toEqual({
      status: 413,
      body: {
        error: {
          code: 'CONTEXT_TOO_LARGE',
          message: `the uploaded archive is ${MAX + 1} bytes; at most ${MAX}`,
          requestId: expect.any(String),
        },
      },
    });
    // Without a length the bytes are counted as they come (GNU tar's zero end blocks, then more
    // zeros); with this server's small context limits, the tar stream's own cap (the content limit
    // plus a header block allowance per entry) is met before the 64 MiB upload limit.
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent > MAX + (1 << 20)) return c.close();
        const chunk = new Uint8Array(1 << 20);
        sent += chunk.length;
        c.enqueue(chunk);
      },
    });
    const streamed = await upload(stream, 'repository=demo/huge', 'application/x-tar');
    expect(streamed).toEqual({
      status: 413,
      body: {
        error: {
          code: 'CONTEXT_TOO_LARGE',
          message: `the archive's tar stream is longer than ${CONTEXT_MAX_BYTES + 4096 * CONTEXT_MAX_FILES + (1 << 20)} bytes (build.contextMaxBytes, plus 4096 bytes of headers for each entry build.contextMaxFiles allows and 1048576 for the archive's end)`,
          requestId: expect.any(String),
        },
      },
    });
    expect(contextsLeft()).toEqual([]);
    const list = await fetch(`${server.url}/api/v1/builds?limit=1`);
    expect(list.status).toBe(200);
  }, 120_000);

  it('answers 413 CONTEXT_TOO_LARGE for a compression bomb and for too many files, in both forms', async () => {
    const tooLarge = (message: string) => ({
      status: 413,
      body: { error: { code: 'CONTEXT_TOO_LARGE', message, requestId: expect.any(String) } },
    });
    // issue 17, finding 12: a tar.gz of about 60 KB that unpacks to 61 MB
    file('Dockerfile', `FROM ${base}\n`);
    execFileSync('truncate', ['-s', String(61 * 1000 * 1000), join(src, 'zeros')]);
    const bomb = tar(['Dockerfile', 'zeros']);
    expect(bomb.length).toBeLessThan(100_000);
    const dataDirBefore = readdirSync(dataDir).sort();
    expect(await upload(bomb, 'repository=demo/bomb')).toEqual(
      tooLarge(`the build context unpacks to more than ${CONTEXT_MAX_BYTES} bytes (build.contextMaxBytes)`),
    );
    rmSync(join(src, 'zeros'));
    for (let i = 0; i <= CONTEXT_MAX_FILES; i++) file(`many/${i}`, '');
    expect(await upload(tar(['Dockerfile', 'many']), 'repository=demo/many')).toEqual(
      tooLarge(
        `the archive has more than ${CONTEXT_MAX_FILES} files, directories and links (build.contextMaxFiles)`,
      ),
    );
    expect(contextsLeft()).toEqual([]);
    expect(readdirSync(dataDir).sort()).toEqual(dataDirBefore);

    const files = Object.fromEntries(Array.from({ length: CONTEXT_MAX_FILES }, (_, i) => [`f/${i}`, '']));
    const json = await fetch(`${server.url}/api/v1/builds`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ dockerfile: `FROM ${base}\n`, repository: 'demo/many', files }),
    });
    expect({ status: json.status, body: await json.json() }).toEqual(
      tooLarge(
        `the build context has ${CONTEXT_MAX_FILES + 1} files (the Dockerfile included); at most ${CONTEXT_MAX_FILES} (build.contextMaxFiles)`,
      ),
    );
  }, 120_000);

  it('answers 429 TOO_MANY_BUILDS to a second build while one is running (build.maxQueuedPerUser 1), in every form', async () => {
    const post = (path: string, body: unknown) => postJson(`${server.url}${path}`, body);
    const state = async (id: string) => (await get(`/api/v1/builds/${id}`)).state;
    const until = async (id: string, want: string[]) => {
      for (let i = 0; i < 600 && !want.includes(await state(id)); i++)
        await new Promise((r) => setTimeout(r, 100));
      return state(id);
    };

    const first = await post('/api/v1/builds', {
      dockerfile: `FROM ${base}\nRUN echo slow && sleep 60\n`,
      repository: 'demo/slow',
      noCache: true,
    });
    expect(first.status, JSON.stringify(first.body)).toBe(202);
    const id = first.body.id as string;
    expect(await until(id, ['running'])).toBe('running');

    const tooMany = {
      status: 429,
      body: {
        error: {
          code: 'TOO_MANY_BUILDS',
          message:
            'builds without a signed-in user already have 1 build queued or running; at most 1 per user (build.maxQueuedPerUser): wait for one to finish, or cancel one',
          requestId: expect.any(String),
        },
      },
    };
    expect(await post('/api/v1/builds', { dockerfile: `FROM ${base}\n`, repository: 'demo/second' })).toEqual(
      tooMany,
    );
    file('Dockerfile', `FROM ${base}\n`);
    expect(await upload(tar(['Dockerfile']), 'repository=demo/second')).toEqual(tooMany);
    expect(await post('/build-image', { dockerfile: `FROM ${base}\n`, imageName: 'demo/second:1' })).toEqual(
      tooMany,
    );
    expect(await post(`/api/v1/builds/${id}/repeat`, {})).toEqual(tooMany);
    expect(contextsLeft()).toEqual([]);
    expect(await state(id)).toBe('running'); // none of them touched the running build

    expect((await post(`/api/v1/builds/${id}/cancel`, {})).status).toBe(202);
    expect(await until(id, ['canceled'])).toBe('canceled');
    // the place is free again
    const next = await post('/api/v1/builds', { dockerfile: `FROM ${base}\n`, repository: 'demo/second' });
    expect(next.status, JSON.stringify(next.body)).toBe(202);
    const { build } = await finished(next.body.id as string);
    expect(build.state, build.error ?? '').toBe('succeeded');
  }, 300_000);
});
