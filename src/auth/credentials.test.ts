// Signing in under attack, with real scrypt and a real SQLite state: parallel guesses count
// (the lockout is reserved before the slow check), limits per name and per address, a name that
// does not exist costs the same scrypt, and a password changed by another process (the CLI under
// a running server) stops working at once, ending the user's sessions and registry tokens.
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteState } from '../state/sqlite.js';
import type { StateStore } from '../state/store.js';
import { AttemptLimiter, clientNetwork } from './attempts.js';
import {
  parseAuthorization,
  Authenticator,
  FAILURES_PER_ADDRESS,
  FAILURES_PER_NAME,
  TooManyAttempts,
  type Lockout,
} from './credentials.js';
import { dummyHash, hashPassword } from './passwords.js';
import { safeEqual } from './safe-equal.js';
import { Sessions } from './sessions.js';
import { AuthStore } from './store.js';

const RIGHT = 'the-right-password';

/** How each attempt ended: "ok", "wrong" or "locked". */
async function outcome(p: Promise<unknown>): Promise<'ok' | 'wrong' | 'locked'> {
  try {
    return (await p) ? 'ok' : 'wrong';
  } catch (err) {
    if (err instanceof TooManyAttempts) return 'locked';
    throw err;
  }
}

const count = (xs: string[], x: string) => xs.filter((y) => y === x).length;

describe('sign-in under attack', () => {
  let dir: string;
  let state: StateStore;
  let store: AuthStore;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'opencloud-credentials-'));
    state = await openSqliteState(dir);
    store = new AuthStore(state);
    await store.addUser('bob', RIGHT, false);
  });
  afterEach(async () => {
    await state.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('12 wrong passwords in parallel get 5 checks, then even the right password is refused', async () => {
    const locks: Lockout[] = [];
    const authn = new Authenticator(store, { onLockout: (l) => locks.push(l) });
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => outcome(authn.basic('bob', `wrong-${i}`, '10.0.0.7'))),
    );
    expect(count(results, 'wrong')).toBe(FAILURES_PER_NAME);
    expect(count(results, 'locked')).toBe(12 - FAILURES_PER_NAME);
    await expect(authn.basic('bob', RIGHT, '10.0.0.7')).rejects.toThrow(TooManyAttempts);
    await expect(authn.basic('bob', RIGHT, '10.0.0.7')).rejects.toThrow(/too many failed sign-ins for bob/);
    expect(locks).toEqual([
      expect.objectContaining({ scope: 'name', user: 'bob', address: '10.0.0.7', failures: 5 }),
    ]);
    // The lock is per name and address: bob from elsewhere still signs in.
    expect(await authn.basic('bob', RIGHT, '10.0.0.8')).toMatchObject({ name: 'bob' });
  });

  it('the same credentials sent in parallel are checked once (a client with Basic on every request)', async () => {
    const authn = new Authenticator(store);
    const results = await Promise.all(
      Array.from({ length: 12 }, () => outcome(authn.basic('bob', RIGHT, '10.0.0.7'))),
    );
    expect(results).toEqual(Array(12).fill('ok'));
  });

  it('a successful sign-in clears the name’s failures', async () => {
    const authn = new Authenticator(store);
    for (let i = 0; i < FAILURES_PER_NAME - 1; i++)
      expect(await authn.basic('bob', `wrong-${i}`, '10.0.0.7')).toBeUndefined();
    expect(await authn.basic('bob', RIGHT, '10.0.0.7')).toMatchObject({ name: 'bob' });
    for (let i = 0; i < FAILURES_PER_NAME - 1; i++)
      expect(await authn.basic('bob', `again-${i}`, '10.0.0.7')).toBeUndefined();
    expect(await authn.basic('bob', RIGHT, '10.0.0.7')).toMatchObject({ name: 'bob' });
  });

  it('one address guessing across many names is locked for all names; another address is not', async () => {
    const locks: Lockout[] = [];
    const authn = new Authenticator(store, { onLockout: (l) => locks.push(l) });
    // Four names at a time (below the per-name limit), in parallel as an attacker would.
    const results = await Promise.all(
      Array.from({ length: FAILURES_PER_ADDRESS + 4 }, (_, i) =>
        outcome(authn.basic(`name-${i % 6}`, `guess-${i}`, '10.0.0.9')),
      ),
    );
    expect(count(results, 'wrong')).toBe(FAILURES_PER_ADDRESS);
    expect(count(results, 'locked')).toBe(4);
    await expect(authn.basic('bob', RIGHT, '10.0.0.9')).rejects.toThrow(
      /too many failed sign-ins from 10.0.0.9/,
    );
    expect(locks.filter((l) => l.scope === 'address')).toEqual([
      expect.objectContaining({ address: '10.0.0.9', failures: FAILURES_PER_ADDRESS }),
    ]);
    expect(await authn.basic('bob', RIGHT, '10.0.0.10')).toMatchObject({ name: 'bob' });
  });

  it('an unknown name runs the same scrypt as a known one (no timing tell)', async () => {
    const authn = new Authenticator(store);
    await dummyHash();
    const time = async (user: string, i: number) => {
      const t = performance.now();
      expect(await authn.basic(user, `wrong-${i}`, `10.1.0.${i}`)).toBeUndefined();
      return performance.now() - t;
    };
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 4; i++) {
      known.push(await time('bob', i));
      unknown.push(await time('nobody-by-this-name', i + 100));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    // scrypt with N=2^15 takes tens of milliseconds; a lookup that finds no row takes well under one.
    expect(median(known)).toBeGreaterThan(15);
    expect(median(unknown)).toBeGreaterThan(median(known) * 0.5);
    // The dummy hash has the parameters real hashes get.
    const params = (h: string) => h.split('$').slice(0, 4).join('$');
    expect(params(await dummyHash())).toBe(params(await hashPassword('x')));
    expect(await dummyHash()).toBe(await dummyHash());
  });

  it('an API token for another user (or a made-up name) is refused the same way', async () => {
    const authn = new Authenticator(store);
    const { token } = await store.createToken('bob', 'ci', null, null);
    expect(await authn.basic('bob', token, '10.0.0.7')).toMatchObject({ name: 'bob' });
    expect(await authn.basic('alice', token, '10.0.0.7')).toBeUndefined();
    expect(await authn.basic('nobody', token, '10.0.0.7')).toBeUndefined();
  });

  it('a password changed or a user deleted by another process stops working at once', async () => {
    const authn = new Authenticator(store);
    const sessions = new Sessions(state);
    expect(await authn.basic('bob', RIGHT, '10.0.0.7')).toMatchObject({ name: 'bob' });
    const before = Math.floor(Date.now() / 1000);
    expect(await store.tokenCurrent('bob', before)).toBe(true);
    const session = await sessions.create('bob');

    // Another process (the CLI) on the same database file.
    const other = await openSqliteState(dir);
    try {
      await new AuthStore(other).setPassword('bob', 'a-new-password');
    } finally {
      await other.close();
    }
    // Within the remembered-password window, and without forget(): refused.
    expect(await authn.basic('bob', RIGHT, '10.0.0.7')).toBeUndefined();
    expect(await authn.basic('bob', 'a-new-password', '10.0.0.7')).toMatchObject({ name: 'bob' });
    expect(await sessions.find(session.id)).toBeUndefined();
    expect(await store.tokenCurrent('bob', before)).toBe(false);
    expect(await store.tokenCurrent('bob', Math.floor(Date.now() / 1000))).toBe(true);

    const again = await sessions.create('bob');
    await store.createToken('bob', 'ci', null, null);
    await store.deleteUser('bob');
    expect(await authn.basic('bob', 'a-new-password', '10.0.0.7')).toBeUndefined();
    expect(await sessions.find(again.id)).toBeUndefined();
    expect(await store.tokenCurrent('bob', Math.floor(Date.now() / 1000))).toBe(false);
    expect(await store.listTokens('bob')).toEqual([]);
    expect(await state.db.selectFrom('sessions').selectAll().execute()).toEqual([]);
  });

  it('"anonymous" is not a user name', async () => {
    await expect(store.addUser('anonymous', 'password-1', false)).rejects.toThrow(/reserved/);
  });
});

describe('attempt limiter', () => {
  it('counts attempts under way, forgets failures after the window, and stays bounded', () => {
    const l = new AttemptLimiter(2, 1000, 50);
    l.reserve('a', 0);
    l.reserve('a', 0);
    expect(l.full('a', 0)).toBe(true);
    expect(l.lockedFor('a', 0)).toBe(0); // under way, not failed yet
    l.settle('a', true, 10);
    expect(l.settle('a', true, 20)).toBe(true);
    expect(l.lockedFor('a', 20)).toBe(1000);
    expect(l.lockedFor('a', 1019)).toBe(1);
    expect(l.lockedFor('a', 1020)).toBe(0);
    expect(l.full('a', 1020)).toBe(false);
    for (let i = 0; i < 5000; i++) {
      l.reserve(`spray-${i}`, 2000 + i);
      l.settle(`spray-${i}`, true, 2000 + i);
    }
    expect(l.size).toBeLessThanOrEqual(50);
  });

  it('counts an IPv6 client by its /64 and an IPv4-mapped one as IPv4', () => {
    expect(clientNetwork('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(clientNetwork('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(clientNetwork('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientNetwork('::1')).toBe('0:0:0:0::/64');
    expect(clientNetwork('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(clientNetwork('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(clientNetwork('192.0.2.1')).toBe('192.0.2.1');
  });
});

describe('safeEqual', () => {
  it('compares secrets of any length; a missing or repeated header equals nothing', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abd', 'abc')).toBe(false);
    expect(safeEqual('ab', 'abc')).toBe(false);
    expect(safeEqual('', 'abc')).toBe(false);
    expect(safeEqual(undefined, 'abc')).toBe(false);
    expect(safeEqual(['abc'], 'abc')).toBe(false);
  });
});

describe('parseAuthorization', () => {
  const basic = (text: string) => `Basic ${Buffer.from(text).toString('base64')}`;

  it('reads Basic and Bearer in any case of the scheme', () => {
    expect(parseAuthorization(basic('alice:pa:ss'))).toEqual({
      kind: 'basic',
      user: 'alice',
      secret: 'pa:ss',
    });
    expect(parseAuthorization(`bAsIc ${Buffer.from('bob:x').toString('base64')}`)).toEqual({
      kind: 'basic',
      user: 'bob',
      secret: 'x',
    });
    expect(parseAuthorization('Bearer abc.def.ghi')).toEqual({ kind: 'bearer', token: 'abc.def.ghi' });
    expect(parseAuthorization('BEARER oc_token')).toEqual({ kind: 'bearer', token: 'oc_token' });
    // What follows a second space is not part of the credentials.
    expect(parseAuthorization('Bearer tok extra')).toEqual({ kind: 'bearer', token: 'tok' });
  });

  it('finds nothing in a header that is not one of the two', () => {
    for (const header of [
      undefined,
      '',
      'Bearer',
      'Bearer ',
      'Basic',
      'Token abc',
      basic('no-colon'),
      ' Bearer x',
      'Bearerx y',
    ])
      expect(parseAuthorization(header), String(header)).toBeUndefined();
  });
});
