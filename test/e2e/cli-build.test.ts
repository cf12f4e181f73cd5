// `opencloud login` and `opencloud build` against a real server with authentication on and the
// real buildkitd: a user signs in once (the password read from stdin, an API token kept in a 0600
// login file), then builds a directory whose .dockerignore leaves out a secret and a folder but
// brings one file of it back; the step log streams to stderr with the RUN output, the digest the
// registry serves alone on stdout, exit 0. A failing RUN exits 1 naming its step; no credentials,
// a token without build rights, another registry's host in -t, and a Dockerfile outside the
// context are refused with what to do. `opencloud logout` revokes the token on the server.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushBaseImage } from '../support/base-image.js';
import { BIN, startServe, type ServeHandle } from '../support/cli.js';
import { missing, testEnv, titled } from '../support/env.js';

const why = missing('buildkit', 'containerd', 'skopeo');
const PW = { admin: 'cli-build-admin-1', dev: 'cli-build-dev-1', reader: 'cli-build-reader-1' };

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe.skipIf(why)(titled('opencloud login and opencloud build', why), () => {
  let server: ServeHandle;
  let host: string;
  let base: string;
  const root = mkdtempSync(join(tmpdir(), 'opencloud-cli-build-'));
  const dataDir = join(root, 'data');
  const loginFile = join(root, 'home', 'opencloud', 'login.json');

  /** The CLI as a user runs it: its own login file, no token in the environment unless given. */
  function cli(args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<Run> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [BIN, ...args], {
        env: {
          PATH: process.env.PATH,
          HOME: join(root, 'home'),
          OPENCLOUD_LOGIN_FILE: loginFile,
          ...opts.env,
        },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdin.end(opts.input ?? '');
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  function file(dir: string, name: string, content: string): void {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), content);
  }

  const manifestDigest = async (ref: string) => {
    const res = await fetch(`${server.url}/v2/team/app/manifests/${ref}`, {
      method: 'HEAD',
      headers: {
        authorization: `Basic ${Buffer.from(`admin:${PW.admin}`).toString('base64')}`,
        accept: [
          'application/vnd.oci.image.manifest.v1+json',
          'application/vnd.oci.image.index.v1+json',
          'application/vnd.docker.distribution.manifest.v2+json',
          'application/vnd.docker.distribution.manifest.list.v2+json',
        ].join(', '),
      },
    });
    return res.headers.get('docker-content-digest');
  };

  beforeAll(async () => {
    const add = (name: string, pw: string, admin = false) => {
      const r = spawnSync(
        process.execPath,
        [BIN, 'users', 'add', name, ...(admin ? ['--admin'] : []), '--password-stdin', '--data-dir', dataDir],
        { input: `${pw}\n`, encoding: 'utf8' },
      );
      expect(r.status, r.stderr).toBe(0);
    };
    add('admin', PW.admin, true);
    add('dev', PW.dev);
    add('reader', PW.reader);
    for (const [user, actions] of [
      ['dev', 'pull,push,build'],
      ['reader', 'pull'],
    ])
      expect(
        spawnSync(process.execPath, [
          BIN,
          'users',
          'grant',
          user as string,
          'team/*',
          actions as string,
          '--data-dir',
          dataDir,
        ]).status,
      ).toBe(0);
    expect(
      spawnSync(process.execPath, [BIN, 'users', 'grant', 'dev', 'library/*', 'pull', '--data-dir', dataDir])
        .status,
    ).toBe(0);
    server = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir]);
    host = new URL(server.url).host;
    base = await pushBaseImage(testEnv!.cacheDir, host, { creds: `admin:${PW.admin}` });
  }, 120_000);

  afterAll(async () => {
    server?.child.kill('SIGTERM');
    await server?.exited;
    rmSync(root, { recursive: true, force: true });
  }, 60_000);

  it('refuses a build without credentials, saying how to sign in', async () => {
    const ctx = join(root, 'anon');
    file(ctx, 'Dockerfile', `FROM ${base}\n`);
    const r = await cli(['build', '--server', server.url, '-t', 'team/app:anon', ctx]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('wants credentials');
    expect(r.stderr).toContain(`opencloud login ${server.url}`);
  });

  it('login keeps a token in a 0600 file; a wrong password keeps nothing', async () => {
    const wrong = await cli(['login', server.url, '-u', 'dev', '--password-stdin'], { input: 'not-it\n' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/not valid/);
    const r = await cli(['login', server.url, '-u', 'dev', '--password-stdin'], { input: `${PW.dev}\n` });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`signed in to ${server.url} as dev`);
    expect(statSync(loginFile).mode & 0o777).toBe(0o600);
    expect(statSync(dirname(loginFile)).mode & 0o777).toBe(0o700);
    expect(r.stdout).not.toMatch(/oc_[0-9a-f]{16}_/);
  });

  it('builds a directory as .dockerignore says, streams the log, prints the pushed digest', async () => {
    const ctx = join(root, 'app');
    file(
      ctx,
      'Dockerfile',
      [
        `FROM ${base}`,
        'COPY . /ctx/',
        'RUN echo cli-build-step-ran && ls -R /ctx && test ! -e /ctx/secret.txt && test ! -e /ctx/cache/big.bin && test -e /ctx/keep/this.txt && test ! -e /ctx/keep/not-this.txt',
        '',
      ].join('\n'),
    );
    file(ctx, '.dockerignore', '# not for the image\nsecret.txt\ncache\nkeep\n!keep/this.txt\n');
    file(ctx, 'secret.txt', 'do-not-send');
    file(ctx, 'cache/big.bin', 'x'.repeat(100_000));
    file(ctx, 'keep/this.txt', 'kept');
    file(ctx, 'keep/not-this.txt', 'left out');
    file(ctx, 'src/main.txt', 'hello');
    const r = await cli(['build', '-t', `${host}/team/app:1`, '-t', 'team/app:latest', '--no-cache', ctx]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^#\d+ \d+\.\d cli-build-step-ran$/m);
    expect(r.stderr).toMatch(/^#\d+ DONE /m);
    expect(r.stderr).toContain(`pushed ${host}/team/app:1, ${host}/team/app:latest`);
    const digest = r.stdout.trim();
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await manifestDigest('1')).toBe(digest);
    expect(await manifestDigest('latest')).toBe(digest);
  }, 300_000);

  it('a failing RUN exits 1 naming the step', async () => {
    const ctx = join(root, 'failing');
    file(ctx, 'Dockerfile', `FROM ${base}\nRUN echo cli-about-to-fail && exit 3\n`);
    const r = await cli(['build', '-t', 'team/app:broken', ctx]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cli-about-to-fail');
    expect(r.stderr).toMatch(/failed at step .*RUN echo cli-about-to-fail && exit 3/);
    expect(await manifestDigest('broken')).toBeNull();
  }, 300_000);

  it('refuses a token without build rights, another registry in -t, and a Dockerfile outside the context', async () => {
    const ctx = join(root, 'refused');
    file(ctx, 'Dockerfile', `FROM ${base}\n`);
    file(root, 'outside.Dockerfile', `FROM ${base}\n`);
    const made = await fetch(`${server.url}/api/v1/users/reader/tokens`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Basic ${Buffer.from(`reader:${PW.reader}`).toString('base64')}`,
      },
      body: JSON.stringify({ name: 'ci' }),
    });
    const { token } = (await made.json()) as { token: string };
    const byReader = await cli(['build', '-t', 'team/app:nope', ctx], { env: { OPENCLOUD_TOKEN: token } });
    expect(byReader.code).toBe(1);
    expect(byReader.stderr).toMatch(/refused POST \/api\/v1\/builds: .*(build|push)/);
    expect(byReader.stderr).not.toContain(token);
    const elsewhere = await cli(['build', '-t', 'registry.example.com/team/app:1', ctx]);
    expect(elsewhere.code).toBe(64);
    expect(elsewhere.stderr).toContain(`the build pushes to ${host}, not registry.example.com`);
    const outside = await cli(['build', '-f', join(root, 'outside.Dockerfile'), '-t', 'team/app:1', ctx]);
    expect(outside.code).toBe(64);
    expect(outside.stderr).toContain('is not inside the context');
  });

  it('logout revokes the token on the server and forgets it', async () => {
    const kept = JSON.parse(readFileSync(loginFile, 'utf8')) as {
      servers: Record<string, { token: string; tokenId: string }>;
    };
    const login = kept.servers[server.url] as { token: string; tokenId: string };
    const r = await cli(['logout']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`token ${login.tokenId} revoked`);
    const res = await fetch(`${server.url}/v2/`, {
      headers: { authorization: `Basic ${Buffer.from(`dev:${login.token}`).toString('base64')}` },
    });
    expect(res.status).toBe(401);
    const again = await cli(['build', '--server', server.url, '-t', 'team/app:2', join(root, 'refused')]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('wants credentials');
  });
});
