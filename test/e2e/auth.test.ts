// Authentication and permissions with real clients: once a user exists, /v2/ challenges with the
// Docker token flow; skopeo, crane and podman sign in with passwords or API tokens; grants decide
// pull/push/delete per repository pattern; anonymous pull where granted; the catalog shows only
// what the caller may pull; the JSON API needs a signed-in user and admin for the installer.
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBaseImage, type BaseImage } from '../support/base-image.js';
import { runCli, startServe, type ServeHandle } from '../support/cli.js';
import { missing, testEnv, titled } from '../support/env.js';
import { tool } from '../support/tools.js';

const exec = promisify(execFile);
const why = missing('skopeo', 'crane', 'podman');

async function fails(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    return e.stderr ?? e.message;
  }
  throw new Error('expected the command to fail');
}

describe.skipIf(why)(titled('authentication with real clients', why), () => {
  let server: ServeHandle;
  let host: string;
  let dataDir: string;
  let base: BaseImage;
  const pw: Record<string, string> = {};
  const cli = (args: string[]) => runCli([...args, '--data-dir', dataDir]);
  const skopeoCopy = (to: string, creds?: string) =>
    exec('skopeo', [
      'copy',
      '--preserve-digests',
      '--dest-tls-verify=false',
      ...(creds ? ['--dest-creds', creds] : []),
      `oci:${base.layout}:${base.tag}`,
      `docker://${host}/${to}`,
    ]);
  const inspect = (ref: string, creds?: string) =>
    exec('skopeo', [
      'inspect',
      '--tls-verify=false',
      ...(creds ? ['--creds', creds] : ['--no-creds']),
      `docker://${host}/${ref}`,
    ]);
  const api = (path: string, creds?: string, init: RequestInit = {}) =>
    fetch(`${server.url}${path}`, {
      ...init,
      headers: {
        ...(init.headers as Record<string, string>),
        ...(creds ? { authorization: `Basic ${Buffer.from(creds).toString('base64')}` } : {}),
      },
    });

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'opencloud-auth-'));
    base = ensureBaseImage(testEnv!.cacheDir);
    for (const [name, admin] of [
      ['alice', true],
      ['bob', false],
      ['carol', false],
    ] as const) {
      const r = await cli(['users', 'add', name, '--generate', ...(admin ? ['--admin'] : [])]);
      expect(r.code, r.stderr).toBe(0);
      pw[name] = /password: (\S+)/.exec(r.stdout)?.[1] as string;
    }
    expect((await cli(['users', 'grant', 'bob', 'team/*', 'pull,push'])).code).toBe(0);
    expect((await cli(['users', 'grant', 'anonymous', 'public/**', 'pull'])).code).toBe(0);
    server = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir]);
    host = new URL(server.url).host;
  }, 60_000);

  afterAll(async () => {
    server?.child.kill('SIGTERM');
    await server?.exited;
  });

  it('challenges with the token flow and refuses a push without credentials', async () => {
    const res = await fetch(`${server.url}/v2/`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer realm="http://${host}/auth/token",service="opencloud-registry"`,
    );
    const push = await fetch(`${server.url}/v2/team/app/blobs/uploads/`, { method: 'POST' });
    expect(push.status).toBe(401);
    expect(push.headers.get('www-authenticate')).toContain('scope="repository:team/app:pull,push"');
    expect(((await push.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe('UNAUTHORIZED');
    expect(await fails(skopeoCopy('team/app:1'))).toMatch(/authentication required|unauthorized|denied/i);
  });

  it('skopeo pushes and reads with a password where granted, and is denied elsewhere', async () => {
    await skopeoCopy('team/app:1', `bob:${pw.bob}`);
    const seen = JSON.parse((await inspect('team/app:1', `bob:${pw.bob}`)).stdout) as { Digest: string };
    expect(seen.Digest).toBe(base.digest);
    expect(await fails(skopeoCopy('other/app:1', `bob:${pw.bob}`))).toMatch(
      /denied|unauthorized|insufficient/i,
    );
    expect(await fails(skopeoCopy('team/app:2', `carol:${pw.carol}`))).toMatch(
      /denied|unauthorized|insufficient/i,
    );
    expect(await fails(skopeoCopy('team/app:3', `bob:not-his-password`))).toMatch(/unauthorized|invalid/i);
  }, 120_000);

  it('anonymous pulls where granted and nowhere else', async () => {
    await skopeoCopy('public/base:1', `alice:${pw.alice}`);
    await skopeoCopy('private/secret:1', `alice:${pw.alice}`);
    expect((JSON.parse((await inspect('public/base:1')).stdout) as { Digest: string }).Digest).toBe(
      base.digest,
    );
    expect(await fails(inspect('team/app:1'))).toMatch(/unauthorized|denied|authentication required/i);
  }, 120_000);

  it('a cross-repository mount needs pull on its source; otherwise it is a plain upload', async () => {
    const bob = `bob:${pw.bob}`;
    const manifest = (await (
      await api('/v2/team/app/manifests/1', bob, {
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      })
    ).json()) as { layers: { digest: string }[] };
    const layer = manifest.layers[0]?.digest as string;
    const mount = (from?: string) =>
      api(`/v2/team/mounted/blobs/uploads/?mount=${layer}${from ? `&from=${from}` : ''}`, bob, {
        method: 'POST',
      });
    expect((await mount('private/secret')).status).toBe(202); // bob may not pull private/secret
    expect((await mount()).status).toBe(202); // "any repository that has it" is for admins
    expect((await mount('team/app')).status).toBe(201);
  });

  it('crane signs in and sees only the repositories it may pull in the catalog', async () => {
    const crane = tool('crane');
    const env = { ...process.env, DOCKER_CONFIG: mkdtempSync(join(tmpdir(), 'opencloud-auth-crane-')) };
    await exec(crane, ['auth', 'login', host, '-u', 'bob', '-p', pw.bob as string, '--insecure'], { env });
    const catalog = (await exec(crane, ['catalog', '--insecure', host], { env })).stdout.trim().split('\n');
    expect(catalog).toEqual(expect.arrayContaining(['public/base', 'team/app']));
    expect(catalog).not.toContain('private/secret');
    expect((await exec(crane, ['ls', '--insecure', `${host}/team/app`], { env })).stdout.trim()).toBe('1');
    await exec(crane, ['tag', '--insecure', `${host}/team/app:1`, 'crane-tag'], { env });
    expect(await fails(exec(crane, ['delete', '--insecure', `${host}/team/app:crane-tag`], { env }))).toMatch(
      /denied|unauthorized|UNAUTHORIZED|DENIED/,
    );
  }, 120_000);

  it('podman logs in and pulls through the token flow', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opencloud-auth-podman-'));
    const env = { ...process.env, REGISTRY_AUTH_FILE: join(dir, 'auth.json') };
    // Its own image store: nothing left by other runs answers for the image.
    const podman = (args: string[]) =>
      exec('podman', ['--root', join(dir, 'root'), '--runroot', join(dir, 'run'), ...args], { env });
    await podman(['login', '--tls-verify=false', '-u', 'bob', '-p', pw.bob as string, host]);
    await podman(['pull', '--tls-verify=false', `${host}/team/app:1`]);
    const id = (
      await podman(['image', 'inspect', '--format', '{{.Digest}}', `${host}/team/app:1`])
    ).stdout.trim();
    expect(id).toBe(base.digest);
    await podman(['rmi', `${host}/team/app:1`]);
  }, 120_000);

  it('API tokens: scoped, usable as a registry password, revocable', async () => {
    const r = await cli([
      'users',
      'token',
      'create',
      'bob',
      'ci',
      '--scope',
      'team/*:pull',
      '--expires',
      '1',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const token = /^(oc_\S+)$/m.exec(r.stdout)?.[1] as string;
    const id = /^token ([0-9a-f]{16})/.exec(r.stdout)?.[1] as string;
    expect(JSON.parse((await inspect('team/app:1', `bob:${token}`)).stdout)).toMatchObject({
      Digest: base.digest,
    });
    // The token narrows bob's rights to pull: pushing with it is refused.
    expect(await fails(skopeoCopy('team/app:4', `bob:${token}`))).toMatch(
      /denied|unauthorized|insufficient/i,
    );
    const list = await fetch(`${server.url}/v2/team/app/tags/list`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(list.status).toBe(200);
    expect((await cli(['users', 'token', 'revoke', id])).code).toBe(0);
    const after = await fetch(`${server.url}/v2/team/app/tags/list`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(after.status).toBe(401);
  }, 120_000);

  it('the JSON API needs a signed-in user, and admin for the installer', async () => {
    expect((await api('/api/v1/services')).status).toBe(401);
    expect((await api('/api/v1/services', `bob:${pw.bob}`)).status).toBe(403);
    expect((await api('/api/v1/services', `alice:${pw.alice}`)).status).toBe(200);
    expect((await api('/api/v1/builds', `bob:${pw.bob}`)).status).toBe(200);
    const build = await api('/api/v1/builds', `bob:${pw.bob}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ repository: 'team/app', dockerfile: 'FROM scratch\n' }),
    });
    expect(build.status).toBe(403);
    expect(((await build.json()) as { error: { message: string } }).error.message).toBe(
      'bob may not build into team/app (needs build and push)',
    );
    expect((await api('/api/v1/system/info')).status).toBe(200);
  });

  it.skipIf(missing('buildkit'))(
    'a build pushes with its own short-lived token, revoked when it ends',
    async () => {
      expect((await cli(['users', 'grant', 'bob', 'team/*', 'pull,push,build'])).code).toBe(0);
      const submitted = await api('/api/v1/builds', `bob:${pw.bob}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        // The base comes from a repository bob may pull only through the anonymous grant.
        body: JSON.stringify({
          repository: 'team/built',
          tags: ['1'],
          dockerfile: `FROM ${host}/public/base:1\nRUN echo built-with-auth > /proof\n`,
        }),
      });
      expect(submitted.status).toBe(202);
      const { id } = (await submitted.json()) as { id: string };
      let build: { state: string; error: string | null; digest: string | null } = {
        state: 'queued',
        error: null,
        digest: null,
      };
      for (let i = 0; i < 240 && ['queued', 'running'].includes(build.state); i++) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        build = (await (await api(`/api/v1/builds/${id}`, `bob:${pw.bob}`)).json()) as typeof build;
      }
      expect(build.state, build.error ?? '').toBe('succeeded');
      const seen = JSON.parse((await inspect('team/built:1', `bob:${pw.bob}`)).stdout) as { Digest: string };
      expect(seen.Digest).toBe(build.digest);
      const tokens = JSON.parse((await cli(['users', 'token', 'list', 'bob', '--json'])).stdout) as {
        name: string;
        revokedAt: string | null;
      }[];
      const used = tokens.filter((t) => t.name === 'build team/built');
      expect(used).toHaveLength(1);
      expect(used[0]?.revokedAt).not.toBeNull();
    },
    300_000,
  );

  it('throttles password guessing', async () => {
    const guess = () => api('/auth/token?service=opencloud-registry', 'carol:wrong-guess');
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await guess()).status);
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses.slice(5)).toEqual([429, 429]);
    // The right password is refused too while the window lasts: that is what stops a guesser.
    expect((await api('/auth/token?service=opencloud-registry', `carol:${pw.carol}`)).status).toBe(429);
  });

  it('keeps an audit trail of who changed what, from where, readable by admins only', async () => {
    expect((await api('/api/v1/audit', `bob:${pw.bob}`)).status).toBe(403);
    const res = await api('/api/v1/audit?limit=1000', `alice:${pw.alice}`);
    expect(res.status).toBe(200);
    const { entries } = (await res.json()) as {
      entries: { actor: string; address: string; action: string; target: string; status: number }[];
    };
    const has = (e: Partial<(typeof entries)[number]>) =>
      entries.some((x) => Object.entries(e).every(([k, v]) => x[k as keyof typeof x] === v));
    expect(
      has({ actor: 'bob', action: 'push', target: 'team/app:1', status: 201, address: '127.0.0.1' }),
    ).toBe(true);
    expect(has({ actor: 'alice', action: 'push', target: 'private/secret:1', status: 201 })).toBe(true);
    expect(has({ action: 'user-add', target: 'alice (admin)', address: 'local' })).toBe(true);
    expect(has({ action: 'grant', target: 'anonymous public/** pull' })).toBe(true);
    expect(has({ action: 'token-revoke' })).toBe(true);
    expect(has({ actor: 'bob', action: 'build', target: 'team/app', status: 403 })).toBe(true);
    expect(has({ action: 'sign-in-failed', status: 429 })).toBe(true);
  });

  it('web sessions: an HttpOnly SameSite cookie, CSRF on every change, sign-out ends it on the server', async () => {
    const login = await api('/api/v1/session', undefined, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: pw.alice }),
    });
    expect(login.status).toBe(200);
    const setCookie = login.headers.get('set-cookie') as string;
    expect(setCookie).toMatch(/^oc_session=[^;]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
    const { csrfToken } = (await login.json()) as { csrfToken: string };
    const jar = { cookie: setCookie.split(';')[0] as string };
    expect((await api('/api/v1/services', undefined, { headers: jar })).status).toBe(200);
    const create = (headers: Record<string, string>) =>
      api('/api/v1/users', undefined, {
        method: 'POST',
        headers: { ...jar, 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ name: 'dave' }),
      });
    const forged = await create({});
    expect(forged.status).toBe(403);
    expect(((await forged.json()) as { error: { code: string } }).error.code).toBe('CSRF');
    const made = await create({ 'x-csrf-token': csrfToken });
    expect(made.status).toBe(201);
    const dave = (await made.json()) as { password: string };
    expect(dave.password.length).toBeGreaterThan(20);
    expect((await inspect('public/base:1', `dave:${dave.password}`)).stdout).toContain(base.digest);
    // The UI browses the registry with the same cookie; changing it needs the CSRF token too.
    const catalog = await api('/v2/_catalog', undefined, { headers: jar });
    expect(catalog.status).toBe(200);
    expect(((await catalog.json()) as { repositories: string[] }).repositories).toContain('private/secret');
    const del = await api('/v2/team/app/manifests/crane-tag', undefined, { method: 'DELETE', headers: jar });
    expect(del.status).toBe(403);
    expect(((await del.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe('DENIED');
    expect((await api('/api/v1/session', undefined, { method: 'DELETE', headers: jar })).status).toBe(204);
    expect((await api('/api/v1/services', undefined, { headers: jar })).status).toBe(401);
    const wrong = await api('/api/v1/session', undefined, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: 'not-it' }),
    });
    expect(wrong.status).toBe(401);
  });

  it('admins manage users, grants and tokens over the API', async () => {
    const admin = `alice:${pw.alice}`;
    const json = { 'content-type': 'application/json' };
    const grant = await api('/api/v1/users/dave/grants', admin, {
      method: 'PUT',
      headers: json,
      body: JSON.stringify({ pattern: 'dave/*', actions: ['pull', 'push'] }),
    });
    expect(grant.status).toBe(200);
    const tok = await api('/api/v1/users/dave/tokens', admin, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({
        name: 'ci',
        scopes: [{ pattern: 'dave/*', actions: ['pull'] }],
        expiresDays: 1,
      }),
    });
    expect(tok.status).toBe(201);
    const { id, token } = (await tok.json()) as { id: string; token: string };
    expect(token).toMatch(/^oc_[0-9a-f]{16}_/);
    expect((await api('/api/v1/users', `bob:${pw.bob}`)).status).toBe(403);
    const users = (await (await api('/api/v1/users', admin)).json()) as {
      users: { name: string; grants: unknown[] }[];
    };
    expect(users.users.find((u) => u.name === 'dave')?.grants).toEqual([
      { pattern: 'dave/*', actions: ['pull', 'push'] },
    ]);
    expect((await api(`/api/v1/tokens/${id}`, admin, { method: 'DELETE' })).status).toBe(204);
    expect((await api(`/api/v1/tokens/${id}`, admin, { method: 'DELETE' })).status).toBe(404);
    const bad = await api('/api/v1/users/dave/grants', admin, {
      method: 'PUT',
      headers: json,
      body: JSON.stringify({ pattern: 'dave/*', actions: ['steal'] }),
    });
    expect(bad.status).toBe(400);
    expect((await api('/api/v1/users/dave', admin, { method: 'DELETE' })).status).toBe(204);
    expect((await api('/api/v1/users/dave', admin, { method: 'DELETE' })).status).toBe(404);
  });
});
