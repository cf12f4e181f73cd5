// The sign-in and upload attacks of issue 17 (findings 4, 5, 9 and 10), made exactly as an
// attacker would against a real `opencloud serve`: parallel password guesses, one address
// guessing across names, timing unknown against known names, a web session and registry tokens
// kept after `opencloud users passwd` / `users delete` run by the CLI under the running server,
// and a push-only user opening upload sessions without end. Each is refused.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, runCli, startServe, type ServeHandle } from '../support/cli.js';

const MAX_UPLOADS_PER_USER = 5;
const MAX_UPLOADS_PER_REPOSITORY = 8;

const basic = (user: string, secret: string) =>
  `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const count = (xs: number[], x: number) => xs.filter((y) => y === x).length;

/** Runs `opencloud` with `input` on its stdin (for --password-stdin). */
function cliWithInput(args: string[], input: string): Promise<{ code: number | null; stderr: string }> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OPENCLOUD_')) env[k] = v;
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env,
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(input);
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })));
}

/** A GET from a chosen loopback source address (127.0.0.2 …): another client as the server sees it. */
function getFrom(
  localAddress: string,
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(url, { localAddress, headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - started }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('sign-in and upload attacks (issue 17: 4, 5, 9, 10)', () => {
  let server: ServeHandle;
  let dataDir: string;
  const pw: Record<string, string> = {};
  const cli = (args: string[]) => runCli([...args, '--data-dir', dataDir]);
  const url = (path: string) => `${server.url}${path}`;
  const tokenFor = async (user: string, secret: string, scope?: string) => {
    const res = await fetch(url(`/auth/token${scope ? `?scope=${encodeURIComponent(scope)}` : ''}`), {
      headers: { authorization: basic(user, secret) },
    });
    expect(res.status, await res.clone().text()).toBe(200);
    return ((await res.json()) as { token: string }).token;
  };
  const v2 = (token: string) => fetch(url('/v2/'), { headers: { authorization: `Bearer ${token}` } });

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'opencloud-auth-attacks-'));
    for (const [name, admin] of [
      ['alice', true],
      ['bob', false],
      ['carol', false],
      ['dave', false],
      ['erin', false],
      ['pusher', false],
      ['pusher2', false],
    ] as const) {
      const r = await cli(['users', 'add', name, '--generate', ...(admin ? ['--admin'] : [])]);
      expect(r.code, r.stderr).toBe(0);
      pw[name] = /password: (\S+)/.exec(r.stdout)?.[1] as string;
    }
    for (const u of ['pusher', 'pusher2'])
      expect((await cli(['users', 'grant', u, 'team/**', 'push'])).code).toBe(0);
    server = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir], {
      env: {
        OPENCLOUD_REGISTRY_MAX_UPLOADS_PER_USER: String(MAX_UPLOADS_PER_USER),
        OPENCLOUD_REGISTRY_MAX_UPLOADS_PER_REPOSITORY: String(MAX_UPLOADS_PER_REPOSITORY),
      },
    });
  }, 120_000);

  afterAll(async () => {
    server?.child.kill('SIGTERM');
    await server?.exited;
  });

  it('12 wrong passwords in parallel, then the right one: locked (429), and the lockout is audited', async () => {
    const guesses = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        fetch(url('/auth/token'), { headers: { authorization: basic('bob', `wrong-guess-${i}`) } }),
      ),
    );
    const codes = guesses.map((r) => r.status);
    expect(count(codes, 401)).toBe(5);
    expect(count(codes, 429)).toBe(7);
    const right = await fetch(url('/auth/token'), { headers: { authorization: basic('bob', pw.bob!) } });
    expect(right.status).toBe(429);
    expect(((await right.json()) as { error: { code: string; message: string } }).error).toMatchObject({
      code: 'TOO_MANY_ATTEMPTS',
      message: expect.stringMatching(
        /^too many failed sign-ins for bob from 127\.0\.0\.1; try again in \d+ s$/,
      ),
    });
    // Every door is shut for bob from here: the registry with Basic, and the web sign-in.
    const registry = await fetch(url('/v2/'), { headers: { authorization: basic('bob', pw.bob!) } });
    expect(registry.status).toBe(429);
    expect(((await registry.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe(
      'TOOMANYREQUESTS',
    );
    const web = await fetch(url('/api/v1/session'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'bob', password: pw.bob }),
    });
    expect(web.status).toBe(429);

    const audit = await fetch(url('/api/v1/audit?limit=200'), {
      headers: { authorization: basic('alice', pw.alice!) },
    });
    expect(audit.status).toBe(200);
    const entries = (
      (await audit.json()) as { entries: { action: string; status: number; address: string }[] }
    ).entries;
    expect(
      entries.filter((e) => e.action === 'sign-in-failed' && e.status === 401).length,
    ).toBeGreaterThanOrEqual(5);
    expect(
      entries.filter((e) => e.action === 'sign-in-failed' && e.status === 429).length,
    ).toBeGreaterThanOrEqual(8);
    // The moment the name got locked is an entry of its own, naming the name.
    expect(entries).toContainEqual(
      expect.objectContaining({ action: 'sign-in-locked', status: 429, target: 'bob' }),
    );
  });

  it('one address guessing across many names is locked for every name; other addresses are not', async () => {
    const from = '127.0.0.2';
    const guesses = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        getFrom(from, url('/auth/token'), { authorization: basic(`ghost-${i % 6}`, `guess-${i}`) }),
      ),
    );
    const codes = guesses.map((g) => g.status);
    expect(count(codes, 401)).toBe(20);
    expect(count(codes, 429)).toBe(4);
    const alice = await getFrom(from, url('/auth/token'), { authorization: basic('alice', pw.alice!) });
    expect(alice.status).toBe(429);
    expect(JSON.parse(alice.body).error.message).toMatch(/^too many failed sign-ins from 127\.0\.0\.2;/);
    expect(
      (await getFrom('127.0.0.1', url('/auth/token'), { authorization: basic('alice', pw.alice!) })).status,
    ).toBe(200);
  });

  it('an unknown user name answers as slowly, and in the same words, as a known one', async () => {
    const from = '127.0.0.3';
    const known: number[] = [];
    const unknown: number[] = [];
    const bodies = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const k = await getFrom(from, url('/auth/token'), { authorization: basic('dave', `not-it-${i}`) });
      const u = await getFrom(from, url('/auth/token'), {
        authorization: basic(`nobody-${i}`, `not-it-${i}`),
      });
      expect([k.status, u.status]).toEqual([401, 401]);
      known.push(k.ms);
      unknown.push(u.ms);
      bodies.add(JSON.parse(k.body).error.message).add(JSON.parse(u.body).error.message);
    }
    expect([...bodies]).toEqual(['the user name, password or token is not valid']);
    // A scrypt check takes tens of milliseconds; a lookup that finds nobody, about one.
    expect(median(known)).toBeGreaterThan(15);
    expect(median(unknown)).toBeGreaterThan(median(known) * 0.5);
  });

  it('`users passwd` ends the web session and registry tokens at once; API tokens stay', async () => {
    const signIn = await fetch(url('/api/v1/session'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'carol', password: pw.carol }),
    });
    expect(signIn.status).toBe(200);
    const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0] as string;
    const session = () => fetch(url('/api/v1/session'), { headers: { cookie } });
    expect((await session()).status).toBe(200);
    const registryToken = await tokenFor('carol', pw.carol!);
    expect((await v2(registryToken)).status).toBe(200);
    const created = await fetch(url('/api/v1/users/carol/tokens'), {
      method: 'POST',
      headers: { authorization: basic('alice', pw.alice!), 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'ci' }),
    });
    expect(created.status).toBe(201);
    const apiToken = ((await created.json()) as { token: string }).token;
    // The old password is remembered by the server for a few seconds after a sign-in: use it now.
    expect((await fetch(url('/v2/'), { headers: { authorization: basic('carol', pw.carol!) } })).status).toBe(
      200,
    );

    const changed = await cliWithInput(
      ['users', 'passwd', 'carol', '--password-stdin', '--data-dir', dataDir],
      'a-brand-new-password\n',
    );
    expect(changed.code, changed.stderr).toBe(0);

    expect((await session()).status).toBe(401);
    const old = await v2(registryToken);
    expect(old.status).toBe(401);
    expect(old.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect((await fetch(url('/v2/'), { headers: { authorization: basic('carol', pw.carol!) } })).status).toBe(
      401,
    );
    expect((await v2(await tokenFor('carol', 'a-brand-new-password'))).status).toBe(200);
    expect((await fetch(url('/v2/'), { headers: { authorization: basic('carol', apiToken) } })).status).toBe(
      200,
    );
  });

  it('`users delete` ends the user’s registry tokens, API tokens and sessions at once', async () => {
    const registryToken = await tokenFor('erin', pw.erin!, 'repository:team/app:pull');
    expect((await v2(registryToken)).status).toBe(200);
    const created = await fetch(url('/api/v1/users/erin/tokens'), {
      method: 'POST',
      headers: { authorization: basic('alice', pw.alice!), 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'ci' }),
    });
    const apiToken = ((await created.json()) as { token: string }).token;
    expect((await fetch(url('/v2/'), { headers: { authorization: `Bearer ${apiToken}` } })).status).toBe(200);

    const r = await cli(['users', 'delete', 'erin']);
    expect(r.code, r.stderr).toBe(0);

    const after = await v2(registryToken);
    expect(after.status).toBe(401);
    expect(((await after.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe('UNAUTHORIZED');
    expect((await fetch(url('/v2/'), { headers: { authorization: `Bearer ${apiToken}` } })).status).toBe(401);
    expect((await fetch(url('/v2/'), { headers: { authorization: basic('erin', pw.erin!) } })).status).toBe(
      401,
    );
  });

  it('a push-only user opening 300 upload sessions gets the limit, then 429 TOOMANYREQUESTS', async () => {
    const token = await tokenFor('pusher', pw.pusher!, 'repository:team/app:push');
    const open = () =>
      fetch(url('/v2/team/app/blobs/uploads/'), {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      });
    const answers: Response[] = [];
    for (let batch = 0; batch < 15; batch++)
      answers.push(...(await Promise.all(Array.from({ length: 20 }, open))));
    const codes = answers.map((a) => a.status);
    expect(count(codes, 202)).toBe(MAX_UPLOADS_PER_USER);
    expect(count(codes, 429)).toBe(300 - MAX_UPLOADS_PER_USER);
    const refused = answers.find((a) => a.status === 429)!;
    expect(await refused.json()).toEqual({
      errors: [
        {
          code: 'TOOMANYREQUESTS',
          message:
            `user pusher has ${MAX_UPLOADS_PER_USER} upload sessions open and registry.maxUploadsPerUser allows ` +
            `${MAX_UPLOADS_PER_USER}: complete or cancel one (DELETE its Location), or wait until it expires ` +
            '(registry.uploadTtl)',
          detail: { limit: MAX_UPLOADS_PER_USER, key: 'registry.maxUploadsPerUser' },
        },
      ],
    });
    expect(readdirSync(join(dataDir, 'registry', 'uploads'))).toHaveLength(MAX_UPLOADS_PER_USER);

    // Cancelling one session makes room for one more, and no more.
    const location = answers.find((a) => a.status === 202)!.headers.get('location') as string;
    const cancel = await fetch(url(location), {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(cancel.status).toBe(204);
    expect((await open()).status).toBe(202);
    expect((await open()).status).toBe(429);

    // The repository's own limit holds whoever opens them.
    const other = await tokenFor('pusher2', pw.pusher2!, 'repository:team/app:push');
    const more = await Promise.all(
      Array.from({ length: 4 }, () =>
        fetch(url('/v2/team/app/blobs/uploads/'), {
          method: 'POST',
          headers: { authorization: `Bearer ${other}` },
        }),
      ),
    );
    expect(
      count(
        more.map((m) => m.status),
        202,
      ),
    ).toBe(MAX_UPLOADS_PER_REPOSITORY - MAX_UPLOADS_PER_USER);
    const byRepository = more.find((m) => m.status === 429)!;
    expect(((await byRepository.json()) as { errors: { message: string }[] }).errors[0]?.message).toMatch(
      /^repository team\/app has 8 upload sessions open and registry.maxUploadsPerRepository allows 8:/,
    );
  }, 120_000);
});
