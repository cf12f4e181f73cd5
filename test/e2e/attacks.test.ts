// Issue 17's findings, each made exactly as the attacker made it against the real program, and
// refused: encoded paths to admin routes (1, 2), another user's build read and cancelled by a
// user without grants (6, on real BuildKit), a build target smuggled past the permission check
// (7), a scoped token's catalog (8), and a build argument in the request log (13). The others
// have their own files: webhooks (3), sign-in and upload caps (4, 5, 9, 10: auth-attacks),
// contexts (11, 12: builds-archive), the privileged helper (14: src/privileged).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushBaseImage } from '../support/base-image.js';
import { runCli, startServe, type ServeHandle } from '../support/cli.js';
import { missing, testEnv, titled } from '../support/env.js';
import { rawRequest } from '../support/raw-http.js';

describe('the attacks of issue 17, refused', () => {
  let server: ServeHandle;
  let port: number;
  let dataDir: string;
  let log = '';
  const pw: Record<string, string> = {};
  const cli = (args: string[]) => runCli([...args, '--data-dir', dataDir]);
  const basic = (user: string) => `Basic ${Buffer.from(`${user}:${pw[user]}`).toString('base64')}`;
  const api = (path: string, user?: string, init: RequestInit = {}) =>
    fetch(`${server.url}${path}`, {
      ...init,
      headers: {
        ...(init.body ? { 'content-type': 'application/json' } : {}),
        ...(init.headers as Record<string, string>),
        ...(user ? { authorization: basic(user) } : {}),
      },
    });
  const audit = async () =>
    (
      (await (await api('/api/v1/audit?limit=1000', 'admin')).json()) as {
        entries: { actor: string; action: string; target: string; status: number }[];
      }
    ).entries;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'opencloud-attacks-'));
    for (const [name, admin] of [
      ['admin', true],
      ['alice', false],
      ['bob', false],
      ['carol', false],
      ['nobody', false],
    ] as const) {
      const r = await cli(['users', 'add', name, '--generate', ...(admin ? ['--admin'] : [])]);
      expect(r.code, r.stderr).toBe(0);
      pw[name] = /password: (\S+)/.exec(r.stdout)?.[1] as string;
    }
    for (const [who, pattern, actions] of [
      ['alice', 'alice/**', 'pull,push,build'],
      ['alice', 'library/**', 'pull'],
      ['bob', 'bob/**', 'pull,push,build'],
      ['carol', 'alice/app', 'pull'],
    ])
      expect((await cli(['users', 'grant', who as string, pattern as string, actions as string])).code).toBe(
        0,
      );
    server = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir]);
    server.child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
    port = Number(new URL(server.url).port);
  }, 60_000);

  afterAll(async () => {
    server?.child.kill('SIGTERM');
    await server?.exited;
  });

  it('1: an anonymous POST /%61pi/v1/users is refused, creates nobody, and is audited', async () => {
    const body = JSON.stringify({ name: 'evil', password: 'evilpass123', admin: true });
    const a = await rawRequest(port, {
      method: 'POST',
      target: '/%61pi/v1/users',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(a.status).toBe(401);
    expect((await rawRequest(port, { method: 'GET', target: '/%61pi/v1/users' })).status).toBe(401);
    expect((await rawRequest(port, { method: 'DELETE', target: '/%61pi/v1/tokens/x' })).status).toBe(401);
    const users = (await (await api('/api/v1/users', 'admin')).json()) as { users: { name: string }[] };
    expect(users.users.map((u) => u.name)).not.toContain('evil');
    expect(await audit()).toContainEqual(
      expect.objectContaining({ actor: 'anonymous', action: 'user-add', status: 401 }),
    );
  });

  it('2: an ordinary user reaches no admin route through encoded paths', async () => {
    const auth = { authorization: basic('bob') };
    for (const target of ['/api/v1/%75sers', '/api/%761/users', '/%61pi/v1/users', '/api/v1/%75sers/']) {
      const a = await rawRequest(port, { method: 'GET', target, headers: auth });
      expect([403, 404], `${target}: ${a.body}`).toContain(a.status);
      expect(a.body).not.toContain('"users"');
    }
    const made = await rawRequest(port, {
      method: 'POST',
      target: '/api/v1/%75sers',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'evil2', password: 'evilpass123', admin: true }),
    });
    expect(made.status).toBe(403);
    const users = (await (await api('/api/v1/users', 'admin')).json()) as { users: { name: string }[] };
    expect(users.users.map((u) => u.name)).not.toContain('evil2');
    expect(await audit()).toContainEqual(
      expect.objectContaining({ actor: 'bob', action: 'user-add', status: 403 }),
    );
  });

  it('a browser loading an API page gets no Basic challenge; a script does', async () => {
    const page = await fetch(`${server.url}/api/v1/users`, {
      headers: {
        accept: 'text/html,application/xhtml+xml',
        'sec-fetch-dest': 'document',
        'sec-fetch-site': 'none',
      },
    });
    expect(page.status).toBe(401);
    expect(page.headers.get('www-authenticate')).toBeNull();
    const script = await fetch(`${server.url}/api/v1/users`);
    expect(script.status).toBe(401);
    expect(script.headers.get('www-authenticate')).toBe('Basic realm="opencloud"');
  });

  it('a CSRF token of the wrong length or value is refused like a missing one', async () => {
    const login = await api('/api/v1/session', undefined, {
      method: 'POST',
      body: JSON.stringify({ username: 'admin', password: pw.admin }),
    });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] as string;
    const { csrfToken } = (await login.json()) as { csrfToken: string };
    for (const csrf of [
      csrfToken.slice(0, -1),
      `${csrfToken}x`,
      csrfToken.replace(/./, (c) => (c === 'A' ? 'B' : 'A')),
    ]) {
      const r = await api('/api/v1/system/log-level', undefined, {
        method: 'PUT',
        headers: { cookie, 'x-csrf-token': csrf },
        body: JSON.stringify({ level: 'debug' }),
      });
      expect(r.status).toBe(403);
    }
    const ok = await api('/api/v1/system/log-level', undefined, {
      method: 'PUT',
      headers: { cookie, 'x-csrf-token': csrfToken },
      body: JSON.stringify({ level: 'info' }),
    });
    expect(ok.status).toBe(200);
  });

  it('7: /build-image judges the image it pushes, and refuses a smuggled repository field', async () => {
    const smuggled = await api('/build-image', 'alice', {
      method: 'POST',
      body: JSON.stringify({ dockerfile: 'FROM scratch\n', imageName: 'bob/app:pwn', repository: 'alice/x' }),
    });
    expect(smuggled.status).toBe(400);
    expect(await smuggled.text()).toMatch(/repository|additional/i);
    const plain = await api('/build-image', 'alice', {
      method: 'POST',
      body: JSON.stringify({ dockerfile: 'FROM scratch\n', imageName: 'bob/app:pwn' }),
    });
    expect(plain.status).toBe(403);
    expect(await plain.text()).toContain('alice may not build into bob/app');
    // The JSON form refuses unknown properties too, and the archive form judges its query.
    const json = await api('/api/v1/builds', 'alice', {
      method: 'POST',
      body: JSON.stringify({ dockerfile: 'FROM scratch\n', repository: 'bob/app' }),
    });
    expect(json.status).toBe(403);
    const archive = await api('/api/v1/builds?repository=bob/app', 'alice', {
      method: 'POST',
      headers: { 'content-type': 'application/x-tar' },
      body: Buffer.alloc(1024),
    });
    expect(archive.status).toBe(403);
  });

  const noSkopeo = missing('skopeo');
  it.skipIf(noSkopeo)(
    titled('8: a registry token issued for a scoped API token lists only its scope in the catalog', noSkopeo),
    async () => {
      for (const repo of ['alice/app', 'alice/other'])
        await pushBaseImage(testEnv!.cacheDir, `127.0.0.1:${port}`, {
          to: `${repo}:1`,
          creds: `admin:${pw.admin}`,
        });
      const r = await cli(['users', 'token', 'create', 'alice', 'ci', '--scope', 'alice/app:pull']);
      expect(r.code, r.stderr).toBe(0);
      const token = /^(oc_\S+)$/m.exec(r.stdout)?.[1] as string;
      const issued = await fetch(
        `${server.url}/auth/token?service=opencloud-registry&scope=registry:catalog:*`,
        {
          headers: { authorization: `Basic ${Buffer.from(`alice:${token}`).toString('base64')}` },
        },
      );
      expect(issued.status).toBe(200);
      const { token: jwt } = (await issued.json()) as { token: string };
      const catalog = await fetch(`${server.url}/v2/_catalog`, {
        headers: { authorization: `Bearer ${jwt}` },
      });
      expect(catalog.status).toBe(200);
      expect(((await catalog.json()) as { repositories: string[] }).repositories).toEqual(['alice/app']);
      // alice herself, signed in with her password, sees both.
      const own = await fetch(`${server.url}/v2/_catalog`, { headers: { authorization: basic('alice') } });
      expect(((await own.json()) as { repositories: string[] }).repositories).toEqual([
        'alice/app',
        'alice/other',
      ]);
    },
    120_000,
  );

  it('a base image stand-in the requester may not pull is refused before the build starts, in both forms', async () => {
    const body = (baseImages: Record<string, string>, repository = 'alice/x') =>
      JSON.stringify({ dockerfile: 'FROM node:20\n', repository, baseImages });
    const post = (user: string | undefined, b: string) =>
      api('/api/v1/builds', user, { method: 'POST', body: b });
    expect((await post(undefined, body({ 'node:20': 'library/node:20' }))).status).toBe(401);
    const nobody = await post('nobody', body({ 'node:20': 'library/node:20' }));
    expect(nobody.status).toBe(403);
    expect(await nobody.text()).toContain('nobody may not build into alice/x');
    const json = await post('alice', body({ 'node:20': 'bob/base:1' }));
    expect(json.status).toBe(403);
    expect(await json.text()).toContain('alice may not pull bob/base, named as a base image');
    // The archive form, its query percent-encoded as a client may send it.
    const archive = await api(
      '/api/v1/builds?repository=alice%2Fx&baseImage=node%3A20%3Dbob%2Fbase%40sha256%3A' + 'a'.repeat(64),
      'alice',
      { method: 'POST', headers: { 'content-type': 'application/x-tar' }, body: Buffer.alloc(1024) },
    );
    expect(archive.status).toBe(403);
    expect(await archive.text()).toContain('alice may not pull bob/base, named as a base image');
    const many = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`b${i}`, 'library/node:20']));
    const tooMany = await post('alice', body(many));
    expect(tooMany.status).toBe(400);
    expect(await tooMany.text()).toMatch(/baseImages.*fewer than 16|must NOT have more than 16/);
  });

  it("an API token asking for more than its user's grants is refused, whatever the spelling", async () => {
    const create = (user: string | undefined, scopes: unknown) =>
      api(`/api/v1/users/alice/tokens`, user, {
        method: 'POST',
        body: JSON.stringify({ name: 'scoped', scopes }),
      });
    expect((await create(undefined, [{ pattern: 'alice/app', actions: ['pull'] }])).status).toBe(401);
    expect((await create('nobody', [{ pattern: 'alice/app', actions: ['pull'] }])).status).toBe(403);
    for (const scopes of [
      [{ pattern: 'alice/**', actions: ['delete'] }],
      [{ pattern: '**', actions: ['pull'] }],
      [{ pattern: 'bob/app', actions: ['pull'] }],
      [{ pattern: 'alice%2F**', actions: ['pull'] }],
      [
        { pattern: 'alice/app', actions: ['pull'] },
        { pattern: 'library/*', actions: ['push'] },
      ],
    ]) {
      const r = await create('alice', scopes);
      expect(r.status, JSON.stringify(scopes)).toBe(403);
      expect(await r.text()).toContain("a token cannot hold more than its user's grants");
    }
    const ok = await create('alice', [
      { pattern: 'alice/app', actions: ['pull', 'push'] },
      { pattern: 'library/*', actions: ['pull'] },
    ]);
    expect(ok.status).toBe(201);
  });

  it('13: a build argument in the archive form never reaches the request log', async () => {
    const secret = `npm_${process.pid}_secret_value`;
    const res = await api(`/api/v1/builds?repository=alice/app&buildArg=NPM_TOKEN%3D${secret}`, 'alice', {
      method: 'POST',
      headers: { 'content-type': 'application/x-tar' },
      body: Buffer.alloc(1024),
    });
    expect(res.status).toBeGreaterThanOrEqual(400); // an empty archive: no Dockerfile
    await new Promise((r) => setTimeout(r, 200));
    expect(log).toContain('buildArg=NPM_TOKEN=***');
    expect(log).not.toContain(secret);
  });

  const noBuildKit = missing('buildkit', 'containerd', 'skopeo');
  it.skipIf(noBuildKit)(
    titled(
      "6: another user's build is neither read nor cancelled without rights; its arguments stay its requester's",
      noBuildKit,
    ),
    async () => {
      await pushBaseImage(testEnv!.cacheDir, `127.0.0.1:${port}`, { creds: `admin:${pw.admin}` });
      const NPM_TOKEN = `npm_${process.pid}_build_arg`;
      const submitted = await api('/api/v1/builds', 'alice', {
        method: 'POST',
        body: JSON.stringify({
          repository: 'alice/app',
          tags: ['slow'],
          dockerfile: `FROM 127.0.0.1:${port}/library/busybox:1\nARG NPM_TOKEN\nRUN sleep 60\n`,
          buildArgs: { NPM_TOKEN },
          noCache: true,
        }),
      });
      expect(submitted.status, await submitted.clone().text()).toBe(202);
      const { id } = (await submitted.json()) as { id: string };
      for (const user of ['nobody', 'bob']) {
        for (const path of [
          `/api/v1/builds/${id}`,
          `/api/v1/builds/${id}/logs`,
          `/api/v1/builds/${id}/events`,
        ]) {
          const a = await api(path, user);
          expect(a.status, `${user} ${path}`).toBe(404);
          expect(await a.text()).not.toContain(NPM_TOKEN);
        }
        const cancel = await api(`/api/v1/builds/${id}/cancel`, user, { method: 'POST' });
        expect(cancel.status).toBe(404);
        const repeat = await api(`/api/v1/builds/${id}/repeat`, user, { method: 'POST', body: '{}' });
        expect(repeat.status).toBe(404);
        const list = (await (await api('/api/v1/builds', user)).json()) as { builds: { id: string }[] };
        expect(list.builds.map((b) => b.id)).not.toContain(id);
      }
      // carol may pull alice/app: she reads the build, without its argument values, and cannot cancel it.
      const seen = (await (await api(`/api/v1/builds/${id}`, 'carol')).json()) as {
        definition: { buildArgs: Record<string, string> };
      };
      expect(seen.definition.buildArgs).toEqual({ NPM_TOKEN: '***' });
      expect((await api(`/api/v1/builds/${id}/cancel`, 'carol', { method: 'POST' })).status).toBe(403);
      const listed = (await (await api('/api/v1/builds', 'carol')).json()) as {
        builds: { id: string; definition: { buildArgs: Record<string, string> } }[];
      };
      expect(listed.builds.find((b) => b.id === id)?.definition.buildArgs).toEqual({ NPM_TOKEN: '***' });
      const state = (await (await api(`/api/v1/builds/${id}`, 'alice')).json()) as {
        state: string;
        definition: { buildArgs: Record<string, string> };
      };
      expect(['queued', 'running']).toContain(state.state);
      expect(state.definition.buildArgs).toEqual({ NPM_TOKEN });
      expect((await api(`/api/v1/builds/${id}/cancel`, 'alice', { method: 'POST' })).status).toBe(202);
      expect(await audit()).toContainEqual(
        expect.objectContaining({ actor: 'nobody', action: 'build-cancel', target: id, status: 404 }),
      );
    },
    180_000,
  );
});
