// Issue 6, "Done means" 1, 2 and 4 with real clients against a real server: skopeo, crane, oras,
// regctl and podman sign in and push/pull with a password and with an API token; a token scoped
// to one repository cannot push to another; anonymous requests get the token challenge; a
// read-only user cannot delete; revoked and expired tokens stop working on the next request; and
// malformed or forged credentials and injected scopes are each refused with a precise 401/403.
import { execFile, spawnSync, type ExecFileException } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, startServe, type ServeHandle } from '../support/cli.js';
import { missing, titled, type Component } from '../support/env.js';
import { writeImageLayout } from '../support/oci-layout.js';
import { podmanSandbox } from '../support/podman.js';
import { sha256 } from '../support/registry-client.js';
import { tool } from '../support/tools.js';

const work = join(tmpdir(), `opencloud-auth-clients-${randomBytes(6).toString('hex')}`);
mkdirSync(join(work, 'home'), { recursive: true });
const dataDir = join(work, 'data');
let server: ServeHandle;
let host: string;
let image: { dir: string; digest: string; config: string };
const SERVICE = 'opencloud-registry';
const PW = { admin: `adm-${randomBytes(9).toString('hex')}`, dev: `dev-${randomBytes(9).toString('hex')}` };
const READER_PW = `rd-${randomBytes(9).toString('hex')}`;
/** dev's unscoped API token (dev's full rights), and one scoped to team/a only. */
let devToken: string;
let scopedToken: string;

const baseEnv: NodeJS.ProcessEnv = {
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OPENCLOUD_'))),
  HOME: join(work, 'home'),
  DOCKER_CONFIG: join(work, 'docker'),
};

interface Ran {
  stdout: string;
  stderr: string;
}

function exec(cmd: string, args: string[], env: Record<string, string> = {}, cwd = work) {
  return new Promise<Ran & { err: ExecFileException | null }>((resolve) => {
    execFile(
      cmd,
      args,
      { cwd, env: { ...baseEnv, ...env }, maxBuffer: 64 * 1024 * 1024, timeout: 90_000 },
      (err, stdout, stderr) => resolve({ err, stdout, stderr }),
    );
  });
}

async function client(cmd: string, args: string[], env: Record<string, string> = {}, cwd = work) {
  const r = await exec(cmd, args, env, cwd);
  if (r.err)
    throw new Error(
      `\`${[basename(cmd), ...args].join(' ')}\` failed (${r.err.signal ?? `exit ${String(r.err.code)}`}):\n` +
        `--- stderr\n${r.stderr}--- stdout\n${r.stdout}`,
    );
  return r as Ran;
}

async function clientFails(cmd: string, args: string[], env: Record<string, string> = {}, cwd = work) {
  const r = await exec(cmd, args, env, cwd);
  if (!r.err) throw new Error(`\`${basename(cmd)} ${args.join(' ')}\` succeeded but should fail`);
  return r.stderr + r.stdout;
}

/** `opencloud …` on this file's data dir, with stdin given (for --password-stdin). */
function cli(args: string[], input = ''): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args, '--data-dir', dataDir], {
    input,
    env: { ...baseEnv, OPENCLOUD_LOG_LEVEL: 'info' },
    encoding: 'utf8',
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function createToken(user: string, name: string, ...flags: string[]): { id: string; token: string } {
  const r = cli(['users', 'token', 'create', user, name, ...flags]);
  expect(r.code, r.stderr).toBe(0);
  return {
    id: /^token ([0-9a-f]{16})/.exec(r.stdout)?.[1] as string,
    token: /^(oc_\S+)$/m.exec(r.stdout)?.[1] as string,
  };
}

const basic = (user: string, secret: string) =>
  `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`;

async function req(path: string, authorization?: string, init: RequestInit = {}) {
  const res = await fetch(`${server.url}${path}`, {
    ...init,
    headers: {
      ...(init.headers as Record<string, string>),
      ...(authorization === undefined ? {} : { authorization }),
    },
  });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, headers: res.headers, body: body as Record<string, unknown> };
}

interface Access {
  type: string;
  name: string;
  actions: string[];
}
const claimsOf = (jwt: string) =>
  JSON.parse(Buffer.from(jwt.split('.')[1] as string, 'base64url').toString('utf8')) as {
    sub: string;
    aud: string;
    exp: number;
    access: Access[];
  };

const ociError = (body: unknown) => (body as { errors: { code: string; message: string }[] }).errors;
const apiError = (body: unknown) => (body as { error: { code: string; message: string } }).error;

const challengeFor = (scope?: string, error?: string) =>
  `Bearer realm="http://${host}/auth/token",service="${SERVICE}"` +
  (scope ? `,scope="${scope}"` : '') +
  (error ? `,error="${error}"` : '');

beforeAll(async () => {
  for (const [name, pw, admin] of [
    ['admin', PW.admin, true],
    ['dev', PW.dev, false],
    ['reader', READER_PW, false],
  ] as const) {
    const r = cli(['users', 'add', name, '--password-stdin', ...(admin ? ['--admin'] : [])], `${pw}\n`);
    expect(r.code, r.stderr).toBe(0);
  }
  for (const [who, pattern, actions] of [
    ['dev', 'team/*', 'pull,push,delete'],
    ['reader', 'team/*', 'pull'],
  ]) {
    const r = cli(['users', 'grant', who as string, pattern as string, actions as string]);
    expect(r.code, r.stderr).toBe(0);
  }
  devToken = createToken('dev', 'clients').token;
  scopedToken = createToken('dev', 'only-a', '--scope', 'team/a:pull,push').token;
  expect(devToken).toMatch(/^oc_[0-9a-f]{16}_/);
  server = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir]);
  host = new URL(server.url).host;
  const dir = join(work, 'layout');
  const digest = writeImageLayout(dir, [
    { 'etc/name': 'auth-clients' },
    { 'data/random.bin': randomBytes(32 * 1024).toString('base64') },
  ]);
  const manifest = JSON.parse(readFileSync(join(dir, 'blobs/sha256', digest.slice(7)), 'utf8')) as {
    config: { digest: string };
  };
  image = { dir, digest, config: manifest.config.digest };
  // team/a:1 exists for the permission checks below (pushed by dev with the password).
  const push = await exec('skopeo', [
    'copy',
    '--preserve-digests',
    '--dest-tls-verify=false',
    '--dest-creds',
    `dev:${PW.dev}`,
    `oci:${image.dir}:latest`,
    `docker://${host}/team/a:1`,
  ]);
  if (push.err && !missing('skopeo')) throw new Error(push.stderr);
}, 120_000);

afterAll(async () => {
  if (server) {
    server.child.kill('SIGTERM');
    await server.exited;
  }
  rmSync(work, { recursive: true, force: true });
});

/** Where one client case keeps its config and scratch files. */
function scratch(name: string): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

const CREDS = [
  ['a password', () => PW.dev],
  ['an API token', () => devToken],
] as const;

function clientSuite(component: Component, cases: (kind: string, secret: () => string) => void) {
  const why = missing(component);
  describe.skipIf(why)(titled(`${component} signs in and pushes/pulls`, why), () => {
    for (const [kind, secret] of CREDS) cases(kind, secret);
  });
}

clientSuite('skopeo', (kind, secret) => {
  it(`skopeo login, copy in and out, with ${kind}`, async () => {
    const dir = scratch(`skopeo-${kind.replace(/ /g, '-')}`);
    const authfile = join(dir, 'auth.json');
    const repo = `${host}/team/skopeo-${kind === 'a password' ? 'pw' : 'tok'}`;
    await client('skopeo', [
      'login',
      '--tls-verify=false',
      '--authfile',
      authfile,
      '-u',
      'dev',
      '-p',
      secret(),
      host,
    ]);
    expect(JSON.parse(readFileSync(authfile, 'utf8')).auths[host].auth).toBe(
      Buffer.from(`dev:${secret()}`).toString('base64'),
    );
    await client('skopeo', [
      'copy',
      '--preserve-digests',
      '--authfile',
      authfile,
      '--dest-tls-verify=false',
      `oci:${image.dir}:latest`,
      `docker://${repo}:1`,
    ]);
    await client('skopeo', [
      'copy',
      '--src-tls-verify=false',
      '--src-creds',
      `dev:${secret()}`,
      `docker://${repo}:1`,
      `oci:${join(dir, 'out')}:pulled`,
    ]);
    const index = JSON.parse(readFileSync(join(dir, 'out', 'index.json'), 'utf8')) as {
      manifests: { digest: string }[];
    };
    expect(index.manifests[0]?.digest).toBe(image.digest);
    // Without the login the same pull is refused.
    expect(
      await clientFails('skopeo', ['inspect', '--tls-verify=false', '--no-creds', `docker://${repo}:1`]),
    ).toMatch(/authentication required|unauthorized/i);
  }, 120_000);
});

clientSuite('crane', (kind, secret) => {
  it(`crane auth login, push, digest, pull with ${kind}`, async () => {
    const crane = tool('crane');
    const dir = scratch(`crane-${kind.replace(/ /g, '-')}`);
    const env = { DOCKER_CONFIG: join(dir, 'docker') };
    const ref = `${host}/team/crane-${kind === 'a password' ? 'pw' : 'tok'}:1`;
    await client(crane, ['auth', 'login', host, '-u', 'dev', '-p', secret(), '--insecure'], env);
    const { stdout } = await client(crane, ['push', '--insecure', image.dir, ref], env);
    expect(stdout.trim()).toBe(`${ref.replace(/:1$/, '')}@${image.digest}`);
    expect((await client(crane, ['digest', '--insecure', ref], env)).stdout.trim()).toBe(image.digest);
    await client(crane, ['pull', '--insecure', '--format', 'oci', ref, join(dir, 'out')], env);
    expect(readFileSync(join(dir, 'out', 'index.json'), 'utf8')).toContain(image.digest);
    // Another DOCKER_CONFIG (no login): refused.
    expect(
      await clientFails(crane, ['digest', '--insecure', ref], { DOCKER_CONFIG: join(dir, 'none') }),
    ).toMatch(/UNAUTHORIZED|authentication required/);
  }, 120_000);
});

clientSuite('oras', (kind, secret) => {
  it(`oras login, push and pull an artifact with ${kind}`, async () => {
    const oras = tool('oras');
    const dir = scratch(`oras-${kind.replace(/ /g, '-')}`);
    const config = join(dir, 'config.json');
    const repo = `${host}/team/oras-${kind === 'a password' ? 'pw' : 'tok'}`;
    const payload = randomBytes(50_000);
    writeFileSync(join(dir, 'payload.bin'), payload);
    if (kind === 'a password') {
      await client(oras, [
        'login',
        '--plain-http',
        '--registry-config',
        config,
        '-u',
        'dev',
        '-p',
        secret(),
        host,
      ]);
    }
    const auth = kind === 'a password' ? ['--registry-config', config] : ['-u', 'dev', '-p', secret()];
    const pushed = JSON.parse(
      (
        await client(
          oras,
          [
            'push',
            '--plain-http',
            ...auth,
            '--format',
            'json',
            `${repo}:1`,
            'payload.bin:application/octet-stream',
          ],
          {},
          dir,
        )
      ).stdout,
    ) as { digest: string };
    expect(pushed.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    await client(oras, ['pull', '--plain-http', ...auth, '-o', join(dir, 'out'), `${repo}:1`]);
    expect(readFileSync(join(dir, 'out', 'payload.bin')).equals(payload)).toBe(true);
    expect(sha256(readFileSync(join(dir, 'out', 'payload.bin')))).toBe(sha256(payload));
    expect(
      await clientFails(oras, [
        'pull',
        '--plain-http',
        '--registry-config',
        join(dir, 'none.json'),
        '-o',
        join(dir, 'x'),
        `${repo}:1`,
      ]),
    ).toMatch(/401|unauthorized/i);
  }, 120_000);
});

clientSuite('regctl', (kind, secret) => {
  it(`regctl registry login, image copy in and out with ${kind}`, async () => {
    const regctl = tool('regctl');
    const dir = scratch(`regctl-${kind.replace(/ /g, '-')}`);
    const env = { REGCTL_CONFIG: join(dir, 'config.json') };
    const ref = `${host}/team/regctl-${kind === 'a password' ? 'pw' : 'tok'}:1`;
    await client(regctl, ['registry', 'set', '--tls', 'disabled', host], env);
    await client(regctl, ['registry', 'login', host, '-u', 'dev', '-p', secret()], env);
    await client(regctl, ['image', 'copy', `ocidir://${image.dir}:latest`, ref], env);
    expect((await client(regctl, ['image', 'digest', ref], env)).stdout.trim()).toBe(image.digest);
    await client(regctl, ['image', 'copy', ref, `ocidir://${join(dir, 'out')}:pulled`], env);
    expect(readFileSync(join(dir, 'out', 'index.json'), 'utf8')).toContain(image.digest);
    const other = { REGCTL_CONFIG: join(dir, 'anon.json') };
    await client(regctl, ['registry', 'set', '--tls', 'disabled', host], other);
    expect(await clientFails(regctl, ['image', 'digest', ref], other)).toMatch(/unauthorized|401/i);
  }, 120_000);
});

clientSuite('podman', (kind, secret) => {
  it(`podman login, push and pull with ${kind}`, async () => {
    const dir = scratch(`podman-${kind.replace(/ /g, '-')}`);
    const { env, policy } = podmanSandbox(dir);
    const podman = (args: string[]) => client('podman', args, env);
    const ref = `${host}/team/podman-${kind === 'a password' ? 'pw' : 'tok'}:1`;
    const id = image.config.slice('sha256:'.length);
    try {
      await podman(['login', '--tls-verify=false', '-u', 'dev', '-p', secret(), host]);
      expect(JSON.parse(readFileSync(env.REGISTRY_AUTH_FILE, 'utf8')).auths[host].auth).toBe(
        Buffer.from(`dev:${secret()}`).toString('base64'),
      );
      await podman(['pull', '--signature-policy', policy, `oci:${image.dir}:latest`]);
      await podman(['tag', id, ref]);
      await podman(['push', '--tls-verify=false', '--signature-policy', policy, ref]);
      await podman(['rmi', '--all', '--force']);
      const pulled = await podman(['pull', '--tls-verify=false', '--signature-policy', policy, ref]);
      expect(pulled.stdout.trim().split('\n').at(-1)).toBe(id);
      await podman(['logout', host]);
      await podman(['rmi', '--all', '--force']);
      expect(
        await clientFails('podman', ['pull', '--tls-verify=false', '--signature-policy', policy, ref], env),
      ).toMatch(/authentication required|unauthorized/i);
    } finally {
      await exec('podman', ['rmi', '--all', '--force'], env);
    }
  }, 180_000);
});

describe('permissions: scopes, anonymous, read-only, revoked and expired tokens', () => {
  it('a token scoped to team/a pushes there but not to team/b: client fails, registry says 403 DENIED', async () => {
    const reason = missing('skopeo');
    if (!reason) {
      await client('skopeo', [
        'copy',
        '--dest-tls-verify=false',
        '--dest-creds',
        `dev:${scopedToken}`,
        `oci:${image.dir}:latest`,
        `docker://${host}/team/a:scoped`,
      ]);
      expect(
        await clientFails('skopeo', [
          'copy',
          '--dest-tls-verify=false',
          '--dest-creds',
          `dev:${scopedToken}`,
          `oci:${image.dir}:latest`,
          `docker://${host}/team/b:scoped`,
        ]),
      ).toMatch(/denied|insufficient|unauthorized/i);
    }
    for (const auth of [basic('dev', scopedToken), `Bearer ${scopedToken}`]) {
      const r = await req('/v2/team/b/blobs/uploads/', auth, { method: 'POST' });
      expect(r.status).toBe(403);
      expect(ociError(r.body)).toEqual([
        expect.objectContaining({ code: 'DENIED', message: 'dev may not push team/b' }),
      ]);
      // The same token may push to team/a: an upload session opens.
      expect((await req('/v2/team/a/blobs/uploads/', auth, { method: 'POST' })).status).toBe(202);
    }
    // Through the token flow: the signed token holds nothing for team/b, and using it for a push
    // there is refused with the scope the client should have asked for.
    const t = await req(
      `/auth/token?service=${SERVICE}&scope=${encodeURIComponent('repository:team/b:pull,push')}&scope=${encodeURIComponent('repository:team/a:pull,push')}`,
      basic('dev', scopedToken),
    );
    expect(t.status).toBe(200);
    const jwt = t.body.token as string;
    expect(claimsOf(jwt).access).toEqual([
      { type: 'repository', name: 'team/b', actions: [] },
      { type: 'repository', name: 'team/a', actions: ['pull', 'push'] },
    ]);
    const denied = await req('/v2/team/b/blobs/uploads/', `Bearer ${jwt}`, { method: 'POST' });
    expect(denied.status).toBe(401);
    expect(denied.headers.get('www-authenticate')).toBe(
      challengeFor('repository:team/b:pull,push', 'insufficient_scope'),
    );
    expect(ociError(denied.body)[0]).toMatchObject({
      code: 'UNAUTHORIZED',
      message: 'the token does not allow push on team/b',
    });
  }, 120_000);

  it('anonymous requests get 401 with the exact Bearer challenge', async () => {
    const base = await req('/v2/');
    expect(base.status).toBe(401);
    expect(base.headers.get('www-authenticate')).toBe(challengeFor());
    const pull = await req('/v2/team/a/manifests/1');
    expect(pull.status).toBe(401);
    expect(pull.headers.get('www-authenticate')).toBe(challengeFor('repository:team/a:pull'));
    expect(ociError(pull.body)[0]?.code).toBe('UNAUTHORIZED');
    const del = await req('/v2/team/a/manifests/1', undefined, { method: 'DELETE' });
    expect(del.headers.get('www-authenticate')).toBe(challengeFor('repository:team/a:delete'));
    const cat = await req('/v2/_catalog');
    expect(cat.headers.get('www-authenticate')).toBe(challengeFor('registry:catalog:*'));
    // An anonymous token holds nothing on team/a (no anonymous grant there).
    const t = await req(`/auth/token?service=${SERVICE}&scope=repository:team/a:pull`);
    expect(t.status).toBe(200);
    expect(claimsOf(t.body.token as string)).toMatchObject({
      sub: 'anonymous',
      aud: SERVICE,
      access: [{ type: 'repository', name: 'team/a', actions: [] }],
    });
  });

  it('a read-only user pulls but cannot delete a manifest (403 DENIED)', async () => {
    const auth = basic('reader', READER_PW);
    const head = await req('/v2/team/a/manifests/1', auth, {
      method: 'HEAD',
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(head.status).toBe(200);
    const digest = head.headers.get('docker-content-digest') as string;
    expect(digest).toBe(image.digest);
    const del = await req(`/v2/team/a/manifests/${digest}`, auth, { method: 'DELETE' });
    expect(del.status).toBe(403);
    expect(ociError(del.body)).toEqual([
      expect.objectContaining({ code: 'DENIED', message: 'reader may not delete team/a' }),
    ]);
    const t = await req(`/auth/token?service=${SERVICE}&scope=repository:team/a:pull,delete,push`, auth);
    expect(claimsOf(t.body.token as string).access).toEqual([
      { type: 'repository', name: 'team/a', actions: ['pull'] },
    ]);
    const regctlWhy = missing('regctl');
    if (!regctlWhy) {
      const regctl = tool('regctl');
      const env = { REGCTL_CONFIG: join(scratch('regctl-reader'), 'config.json') };
      await client(regctl, ['registry', 'set', '--tls', 'disabled', host], env);
      await client(regctl, ['registry', 'login', host, '-u', 'reader', '-p', READER_PW], env);
      expect(await clientFails(regctl, ['manifest', 'delete', `${host}/team/a@${digest}`], env)).toMatch(
        /unauthorized|denied|insufficient|401|403/i,
      );
    }
    // Still there.
    expect((await req(`/v2/team/a/manifests/${digest}`, auth, { method: 'HEAD' })).status).toBe(200);
  }, 60_000);

  it('a revoked token stops working on the very next request (Basic and Bearer)', async () => {
    const { id, token } = createToken('dev', 'to-revoke');
    const viaBasic = basic('dev', token);
    const viaBearer = `Bearer ${token}`;
    expect((await req('/v2/team/a/tags/list', viaBasic)).status).toBe(200);
    expect((await req('/v2/team/a/tags/list', viaBearer)).status).toBe(200);
    expect((await req('/api/v1/builds', viaBearer)).status).toBe(200);
    // A registry token the endpoint signed for the API token (what docker-style clients use).
    const issuedFor = await req(`/auth/token?service=${SERVICE}&scope=repository:team/a:pull`, viaBasic);
    expect(issuedFor.status).toBe(200);
    const jwt = `Bearer ${issuedFor.body.token as string}`;
    expect((await req('/v2/team/a/tags/list', jwt)).status).toBe(200);
    const r = cli(['users', 'token', 'revoke', id]);
    expect(r.code, r.stderr).toBe(0);
    const b = await req('/v2/team/a/tags/list', viaBasic);
    expect(b.status).toBe(401);
    expect(ociError(b.body)[0]).toMatchObject({
      code: 'UNAUTHORIZED',
      message: 'the user name, password or token is not valid',
    });
    expect((await req('/v2/team/a/tags/list', viaBearer)).status).toBe(401);
    const signed = await req('/v2/team/a/tags/list', jwt);
    expect(signed.status).toBe(401);
    expect(signed.headers.get('www-authenticate')).toBe(
      challengeFor('repository:team/a:pull', 'invalid_token'),
    );
    expect(ociError(signed.body)[0]).toMatchObject({
      code: 'UNAUTHORIZED',
      message: 'the API token this token was issued for is revoked or expired',
    });
    expect((await req(`/auth/token?service=${SERVICE}&scope=repository:team/a:pull`, viaBasic)).status).toBe(
      401,
    );
    const api = await req('/api/v1/builds', viaBearer);
    expect(api.status).toBe(401);
    expect(apiError(api.body)).toMatchObject({
      code: 'UNAUTHORIZED',
      message: 'the user name, password or token is not valid',
    });
  });

  it('an expired token (CLI --expires in fractions of a day) is refused once its time is up', async () => {
    // 0.00004 days = 3.456 s.
    const r = cli(['users', 'token', 'create', 'dev', 'short', '--expires', '0.00004']);
    expect(r.code, r.stderr).toBe(0);
    const token = /^(oc_\S+)$/m.exec(r.stdout)?.[1] as string;
    const expires = Date.parse(/expires (\S+):/.exec(r.stdout)?.[1] as string);
    expect(expires - Date.now()).toBeLessThan(3500);
    const before = await req(
      `/auth/token?service=${SERVICE}&scope=repository:team/a:pull`,
      basic('dev', token),
    );
    const jwt = `Bearer ${before.body.token as string}`;
    if (Date.now() < expires) {
      expect(before.status).toBe(200);
      expect((await req('/v2/team/a/tags/list', jwt)).status).toBe(200);
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expires - Date.now()) + 200));
    for (const auth of [basic('dev', token), `Bearer ${token}`, jwt]) {
      const after = await req('/v2/team/a/tags/list', auth);
      expect(after.status).toBe(401);
      expect(ociError(after.body)[0]?.code).toBe('UNAUTHORIZED');
    }
    expect((await req('/api/v1/builds', `Bearer ${token}`)).status).toBe(401);
    expect((await req(`/auth/token?service=${SERVICE}`, basic('dev', token))).status).toBe(401);
  });
});

describe('bad input: each a precise 401/403, never a 5xx', () => {
  const key = () => readFileSync(join(dataDir, 'auth', 'token.key'));
  const b64 = (x: unknown) =>
    Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');
  const sign = (claims: object, k: Buffer, header: object = { alg: 'HS256', typ: 'JWT' }) => {
    const head = `${b64(header)}.${b64(claims)}`;
    return `${head}.${createHmac('sha256', k).update(head).digest('base64url')}`;
  };
  const claims = (over: object = {}) => {
    const now = Math.floor(Date.now() / 1000);
    return {
      iss: 'opencloud',
      sub: 'dev',
      aud: SERVICE,
      iat: now,
      exp: now + 300,
      access: [{ type: 'repository', name: 'team/a', actions: ['pull', 'push', 'delete'] }],
      ...over,
    };
  };

  it('a correctly signed token works (the control for the forgeries below)', async () => {
    expect((await req('/v2/team/a/tags/list', `Bearer ${sign(claims(), key())}`)).status).toBe(200);
  });

  const MALFORMED_MSG =
    'the Authorization header is malformed: expected "Basic base64(user:password)" or "Bearer TOKEN"';
  const NOT_VALID = 'the user name, password or token is not valid';
  const BAD_JWT = 'the token is invalid or expired';
  // What /v2/ answers (message, challenge error), /api/v1/ and /auth/token answer (message).
  const MALFORMED: [string, string, string, string | undefined, string][] = [
    ['Basic with no payload', 'Basic', MALFORMED_MSG, undefined, MALFORMED_MSG],
    ['Basic with a blank payload', 'Basic    ', MALFORMED_MSG, undefined, MALFORMED_MSG],
    ['Basic with invalid base64', 'Basic !!!not*base64$$$', MALFORMED_MSG, undefined, MALFORMED_MSG],
    [
      'Basic without a colon',
      `Basic ${Buffer.from('devonly').toString('base64')}`,
      MALFORMED_MSG,
      undefined,
      MALFORMED_MSG,
    ],
    ['an unknown scheme', 'Digest username="dev", realm="x"', MALFORMED_MSG, undefined, MALFORMED_MSG],
    ['a scheme alone', 'Bearer', MALFORMED_MSG, undefined, MALFORMED_MSG],
    [
      'Basic with an empty user and password',
      `Basic ${Buffer.from(':').toString('base64')}`,
      NOT_VALID,
      undefined,
      NOT_VALID,
    ],
    ['Bearer with garbage', 'Bearer garbage', BAD_JWT, 'invalid_token', NOT_VALID],
    ['Bearer with three garbage parts', 'Bearer a.b.c', BAD_JWT, 'invalid_token', NOT_VALID],
    ['Bearer with a malformed API token', 'Bearer oc_zz_short', NOT_VALID, undefined, NOT_VALID],
  ];
  for (const [what, header, v2Message, error, message] of MALFORMED) {
    it(`/v2/, /api/v1/ and /auth/token refuse ${what} (401)`, async () => {
      const v2 = await req('/v2/team/a/tags/list', header);
      expect(v2.status).toBe(401);
      expect(v2.headers.get('www-authenticate')).toBe(challengeFor('repository:team/a:pull', error));
      expect(ociError(v2.body)).toEqual([
        expect.objectContaining({ code: 'UNAUTHORIZED', message: v2Message }),
      ]);
      const api = await req('/api/v1/builds', header);
      expect(api.status).toBe(401);
      expect(api.headers.get('www-authenticate')).toBe('Basic realm="opencloud"');
      expect(apiError(api.body)).toMatchObject({ code: 'UNAUTHORIZED', message });
      // Never an anonymous token for credentials that cannot be read.
      const token = await req(`/auth/token?service=${SERVICE}&scope=repository:team/a:pull`, header);
      expect(token.status).toBe(401);
      expect(token.body.token).toBeUndefined();
      expect(apiError(token.body)).toMatchObject({ code: 'UNAUTHORIZED', message });
    });
  }

  it('a 100 KiB Authorization header is refused before it reaches the server (431)', async () => {
    const huge = `Basic ${'A'.repeat(100 * 1024)}`;
    for (const path of ['/v2/team/a/tags/list', '/api/v1/builds', '/auth/token']) {
      const r = await fetch(`${server.url}${path}`, { headers: { authorization: huge } });
      expect(r.status).toBe(431);
    }
    expect((await req('/v2/')).status).toBe(401); // still serving
  });

  const FORGED: [string, () => string, string][] = [
    ['a JWT signed with another key', () => sign(claims(), randomBytes(32)), 'invalid_token'],
    [
      'a JWT with alg=none and no signature',
      () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims())}.`,
      'invalid_token',
    ],
    [
      'a JWT with alg=none and a signature made with the key',
      () => sign(claims(), key(), { alg: 'none', typ: 'JWT' }),
      'invalid_token',
    ],
    [
      'a JWT whose claims were edited after signing',
      () => {
        const t = sign(claims({ access: [] }), key()).split('.');
        return `${t[0]}.${b64(claims())}.${t[2]}`;
      },
      'invalid_token',
    ],
    [
      'an expired JWT',
      () => sign(claims({ iat: 1, exp: Math.floor(Date.now() / 1000) - 10 }), key()),
      'invalid_token',
    ],
    ['a JWT for another service', () => sign(claims({ aud: 'some-other-registry' }), key()), 'invalid_token'],
    ['a JWT with no exp', () => sign(claims({ exp: undefined }), key()), 'invalid_token'],
  ];
  for (const [what, token, error] of FORGED) {
    it(`/v2/ refuses ${what} (401 ${error}), /api/v1/ too`, async () => {
      const r = await req('/v2/team/a/tags/list', `Bearer ${token()}`);
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toBe(challengeFor('repository:team/a:pull', error));
      expect(ociError(r.body)).toEqual([
        expect.objectContaining({ code: 'UNAUTHORIZED', message: 'the token is invalid or expired' }),
      ]);
      const api = await req('/api/v1/builds', `Bearer ${token()}`);
      expect(api.status).toBe(401);
      expect(apiError(api.body)).toMatchObject({
        code: 'UNAUTHORIZED',
        message: 'the user name, password or token is not valid',
      });
    });
  }

  it('a valid JWT for one repository gives nothing on another (401 insufficient_scope)', async () => {
    const jwt = sign(claims({ access: [{ type: 'repository', name: 'team/a', actions: ['pull'] }] }), key());
    const r = await req('/v2/team/b/tags/list', `Bearer ${jwt}`);
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toBe(
      challengeFor('repository:team/b:pull', 'insufficient_scope'),
    );
    const del = await req(`/v2/team/a/manifests/${image.digest}`, `Bearer ${jwt}`, { method: 'DELETE' });
    expect(del.status).toBe(401);
    expect(ociError(del.body)[0]?.message).toBe('the token does not allow delete on team/a');
  });

  /** The token the endpoint issues to dev (pull,push,delete on team/*) for one scope string. */
  async function issued(scope: string, auth = basic('dev', PW.dev)) {
    const r = await req(`/auth/token?service=${SERVICE}&scope=${encodeURIComponent(scope)}`, auth);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const c = claimsOf(r.body.token as string);
    expect(c.aud).toBe(SERVICE);
    return c.access;
  }

  it('scope injection: a wildcard or extra actions never grant more than the user holds', async () => {
    expect(await issued('repository:team/a:pull,push,delete,*')).toEqual([
      { type: 'repository', name: 'team/a', actions: ['pull', 'push', 'delete', '*'] },
    ]);
    expect(await issued('repository:team/a:pull,push,delete,*', basic('reader', READER_PW))).toEqual([
      { type: 'repository', name: 'team/a', actions: ['pull'] },
    ]);
    expect(await issued('repository:team/a:pull,build,admin,*', basic('dev', scopedToken))).toEqual([
      { type: 'repository', name: 'team/a', actions: ['pull'] },
    ]);
    expect(await issued('repository:other/x:pull,push,delete,*')).toEqual([
      { type: 'repository', name: 'other/x', actions: [] },
    ]);
  });

  it('scope injection: path traversal, upper case, newlines and huge scopes grant nothing usable', async () => {
    expect(await issued('repository:../../etc:pull')).toEqual([
      { type: 'repository', name: '../../etc', actions: [] },
    ]);
    expect(await issued('repository:team/../team/a:pull')).toEqual([
      { type: 'repository', name: 'team/../team/a', actions: [] },
    ]);
    // team/* matches one segment of lower-case names; "TEAM/A" is another (invalid) name.
    expect(await issued('repository:TEAM/A:pull')).toEqual([
      { type: 'repository', name: 'TEAM/A', actions: [] },
    ]);
    // A newline cannot smuggle a second scope in: the whole string is one (odd) name.
    const nl = await issued('repository:other/x:pull\nrepository:team/a:delete');
    expect(nl).toHaveLength(1);
    expect(nl.some((a) => a.name === 'team/a')).toBe(false);
    expect(nl.some((a) => a.name === 'other/x' && a.actions.length > 0)).toBe(false);
    // Raw %0a in the query string as well.
    const raw = await req(
      `/auth/token?service=${SERVICE}&scope=repository:other/x:pull%0arepository:other/y:push`,
      basic('dev', PW.dev),
    );
    expect(raw.status).toBe(200);
    expect(claimsOf(raw.body.token as string).access.every((a) => a.actions.length === 0)).toBe(true);
    const big = await issued(`repository:team/${'a'.repeat(10 * 1024)}:pull`);
    expect(big).toHaveLength(1);
    // Whatever name such a token carries, the registry only matches it against real names.
    const t = await req(
      `/auth/token?service=${SERVICE}&scope=${encodeURIComponent('repository:../../etc:pull')}`,
      basic('dev', PW.dev),
    );
    const r = await req('/v2/team/b/tags/list', `Bearer ${t.body.token as string}`);
    expect(r.status).toBe(401);
  });

  it('registry:catalog:* for a non-admin lists only what that user may pull', async () => {
    const t = await req(
      `/auth/token?service=${SERVICE}&scope=registry:catalog:*`,
      basic('reader', READER_PW),
    );
    expect(t.status).toBe(200);
    expect(claimsOf(t.body.token as string).access).toEqual([
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
    // admin pushes a repository nobody else may see.
    const adminAuth = basic('admin', PW.admin);
    const up = await req('/v2/secret/x/blobs/uploads/', adminAuth, { method: 'POST' });
    expect(up.status).toBe(202);
    const cat = await req('/v2/_catalog', `Bearer ${t.body.token as string}`);
    expect(cat.status).toBe(200);
    const repos = (cat.body as { repositories: string[] }).repositories;
    expect(repos).toContain('team/a');
    expect(repos.every((r) => r.startsWith('team/'))).toBe(true);
  });

  it('the token endpoint refuses bad credentials and unknown grant types precisely', async () => {
    const wrong = await req(`/auth/token?service=${SERVICE}`, basic('dev', 'not-the-password'));
    expect(wrong.status).toBe(401);
    expect(apiError(wrong.body)).toMatchObject({
      code: 'UNAUTHORIZED',
      message: 'the user name, password or token is not valid',
    });
    const other = await req(`/auth/token?service=${SERVICE}`, basic('reader', devToken));
    expect(other.status).toBe(401); // dev's token presented as reader's
    const forged = await req(`/auth/token?service=${SERVICE}`, `Bearer ${sign(claims(), randomBytes(32))}`);
    expect(forged.status).toBe(401);
    const grant = await req('/auth/token', undefined, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=refresh_token&refresh_token=x&service=opencloud-registry',
    });
    expect(grant.status).toBe(400);
    expect(apiError(grant.body)).toMatchObject({
      code: 'UNSUPPORTED_GRANT',
      message: 'grant_type refresh_token is not supported; use password',
    });
    const post = await req('/auth/token', undefined, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'password',
        username: 'dev',
        password: PW.dev,
        service: SERVICE,
        scope: 'repository:team/a:pull,push,delete,* repository:other/x:pull',
      }).toString(),
    });
    expect(post.status).toBe(200);
    expect(claimsOf(post.body.access_token as string).access).toEqual([
      { type: 'repository', name: 'team/a', actions: ['pull', 'push', 'delete', '*'] },
      { type: 'repository', name: 'other/x', actions: [] },
    ]);
  });
});
