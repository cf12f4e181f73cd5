// PUT /api/v1/account/password against a real server: a user changes their own password given
// the current one; the old one stops working for the API, the registry's Basic sign-in and the
// token flow, every other web session ends while the caller's browser gets a new session, and
// API tokens stay. Refused (an API token, scoped or not, makes and lists no tokens either): anonymous callers (401), an API token (403), a wrong current password
// (403, then 429 once guesses pile up), a missing CSRF token, a short, oversized or unknown body
// (400), with authentication off (409); an encoded path is the same route.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, startServe, type ServeHandle } from '../support/cli.js';

const PW = 'account-password-1';
const NEW_PW = 'account-password-2';
const dataDir = mkdtempSync(join(tmpdir(), 'opencloud-account-'));
let server: ServeHandle;

const basic = (user: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});

interface Browser {
  cookie: string;
  csrf: string;
}

async function signIn(user: string, password: string): Promise<Browser> {
  const res = await fetch(`${server.url}/api/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: user, password }),
  });
  expect(res.status).toBe(200);
  const { csrfToken } = (await res.json()) as { csrfToken: string };
  return { cookie: (res.headers.get('set-cookie') ?? '').split(';')[0] as string, csrf: csrfToken };
}

const change = (headers: Record<string, string>, body: unknown, path = '/api/v1/account/password') =>
  fetch(`${server.url}${path}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

const sessionHeaders = (b: Browser) => ({ cookie: b.cookie, 'x-csrf-token': b.csrf });

const whoami = async (b: Browser) =>
  (await fetch(`${server.url}/api/v1/session`, { headers: { cookie: b.cookie } })).status;

beforeAll(async () => {
  for (const user of ['alice', 'bob']) {
    const r = spawnSync(
      process.execPath,
      [BIN, 'users', 'add', user, '--password-stdin', '--data-dir', dataDir],
      {
        input: `${PW}\n`,
        encoding: 'utf8',
      },
    );
    expect(r.status, r.stderr).toBe(0);
  }
  server = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir]);
}, 60_000);

afterAll(async () => {
  server?.child.kill('SIGTERM');
  await server?.exited;
});

describe('PUT /api/v1/account/password', () => {
  it('refuses anonymous callers, API tokens, a missing CSRF token and bad bodies; changes nothing', async () => {
    const good = { currentPassword: PW, newPassword: NEW_PW };
    expect((await change({}, good)).status).toBe(401);
    const made = await fetch(`${server.url}/api/v1/users/bob/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...basic('bob', PW) },
      body: JSON.stringify({ name: 'script' }),
    });
    expect(made.status).toBe(201);
    const { token } = (await made.json()) as { token: string };
    const byToken = await change(basic('bob', token), good);
    expect(byToken.status).toBe(403);
    expect(((await byToken.json()) as { error: { message: string } }).error.message).toMatch(/API token/);
    // Nor can it make or list tokens (a token without scopes is still a token).
    expect(
      (await fetch(`${server.url}/api/v1/users/bob/tokens`, { headers: basic('bob', token) })).status,
    ).toBe(403);
    const minted = await fetch(`${server.url}/api/v1/users/bob/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...basic('bob', token) },
      body: JSON.stringify({ name: 'minted' }),
    });
    expect(minted.status).toBe(403);
    // The token is not the current password either.
    expect((await change(basic('bob', PW), { ...good, currentPassword: token })).status).toBe(403);
    const bob = await signIn('bob', PW);
    expect((await change({ cookie: bob.cookie }, good)).status).toBe(403); // no CSRF token
    for (const bad of [
      { currentPassword: PW, newPassword: 'short' },
      { currentPassword: PW, newPassword: 'x'.repeat(1025) },
      { currentPassword: 'x'.repeat(1025), newPassword: NEW_PW },
      { ...good, user: 'alice' },
      { newPassword: NEW_PW },
      'not json',
    ])
      expect((await change(sessionHeaders(bob), bad)).status, JSON.stringify(bad)).toBe(400);
    // Bob's password is unchanged: he signs in with it.
    await signIn('bob', PW);
  });

  it('a wrong current password is refused, then refused as too many guesses', async () => {
    // A browser left signed in: whoever sits at it may not guess the password to take the account.
    const bob = await signIn('bob', PW);
    const statuses = [];
    for (let i = 0; i < 7; i++)
      statuses.push(
        (await change(sessionHeaders(bob), { currentPassword: `guess-${i}-x`, newPassword: NEW_PW })).status,
      );
    expect(statuses.slice(0, 5)).toEqual([403, 403, 403, 403, 403]);
    expect(statuses.slice(5)).toEqual([429, 429]);
  });

  it('changes it: the old password stops working everywhere, other sessions end, this one is renewed', async () => {
    const other = await signIn('alice', PW);
    const here = await signIn('alice', PW);
    const tokenMade = await fetch(`${server.url}/api/v1/users/alice/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...sessionHeaders(here) },
      body: JSON.stringify({ name: 'ci' }),
    });
    const { token } = (await tokenMade.json()) as { token: string };
    // An encoded spelling of the path is the same route.
    const res = await change(
      sessionHeaders(here),
      { currentPassword: PW, newPassword: NEW_PW },
      '/api/v1/account/%70assword',
    );
    expect(res.status, await res.clone().text()).toBe(200);
    const renewed: Browser = {
      cookie: (res.headers.get('set-cookie') ?? '').split(';')[0] as string,
      csrf: ((await res.json()) as { csrfToken: string }).csrfToken,
    };
    expect(res.headers.get('set-cookie')).toMatch(/HttpOnly; SameSite=Strict/);
    expect(renewed.cookie).not.toBe(here.cookie);
    expect(await whoami(other)).toBe(401);
    expect(await whoami(here)).toBe(401);
    expect(await whoami(renewed)).toBe(200);
    // The old password: no API, no registry Basic sign-in, no registry token.
    expect(
      (
        await fetch(`${server.url}/api/v1/session`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username: 'alice', password: PW }),
        })
      ).status,
    ).toBe(401);
    expect(
      (await fetch(`${server.url}/api/v1/users/alice/tokens`, { headers: basic('alice', PW) })).status,
    ).toBe(401);
    expect(
      (await fetch(`${server.url}/auth/token?service=opencloud`, { headers: basic('alice', PW) })).status,
    ).toBe(401);
    // The new one works; the API token made before stays.
    expect(
      (await fetch(`${server.url}/api/v1/users/alice/tokens`, { headers: basic('alice', NEW_PW) })).status,
    ).toBe(200);
    expect(
      (await fetch(`${server.url}/api/v1/users/alice/tokens`, { headers: basic('alice', token) })).status,
    ).toBe(403);
    expect((await fetch(`${server.url}/v2/`, { headers: basic('alice', token) })).status).toBe(200);
    // Signed in with Basic (no browser session): answered 204, no cookie handed out.
    const again = await change(basic('alice', NEW_PW), { currentPassword: NEW_PW, newPassword: PW });
    expect(again.status).toBe(204);
    expect(again.headers.get('set-cookie')).toBeNull();
  });

  it('with authentication off there is no account: 409', async () => {
    const open = await startServe([
      '--listen',
      '127.0.0.1:0',
      '--data-dir',
      mkdtempSync(join(tmpdir(), 'opencloud-account-open-')),
    ]);
    try {
      const res = await fetch(`${open.url}/api/v1/account/password`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ currentPassword: PW, newPassword: NEW_PW }),
      });
      expect(res.status).toBe(409);
    } finally {
      open.child.kill('SIGTERM');
      await open.exited;
    }
  });
});
