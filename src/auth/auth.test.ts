import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSqliteState } from '../state/sqlite.js';
import { allowedActions, isAdmin } from './access.js';
import { signToken, verifyToken } from './jwt.js';
import { hashPassword, verifyPassword } from './passwords.js';
import { matchesPattern, parseActions } from './patterns.js';
import { ANONYMOUS, AuthStore } from './store.js';

describe('passwords', () => {
  it('verifies the right password only, with a fresh salt each time', async () => {
    const a = await hashPassword('correct horse');
    const b = await hashPassword('correct horse');
    expect(a).not.toBe(b);
    expect(a).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(await verifyPassword('correct horse', a)).toBe(true);
    expect(await verifyPassword('correct horsf', a)).toBe(false);
    expect(await verifyPassword('x', 'plain$text')).toBe(false);
  });
});

describe('patterns', () => {
  it('* stays in one segment, ** spans any depth, the rest is literal', () => {
    expect(matchesPattern('team/*', 'team/app')).toBe(true);
    expect(matchesPattern('team/*', 'team/a/b')).toBe(false);
    expect(matchesPattern('team/**', 'team/a/b')).toBe(true);
    expect(matchesPattern('team/app', 'team/apps')).toBe(false);
    expect(matchesPattern('a.b/*', 'aXb/c')).toBe(false);
    expect(() => parseActions('pull,steal')).toThrow('"steal" is not an action');
  });
});

describe('registry tokens', () => {
  const key = Buffer.alloc(32, 7);
  const claims = {
    iss: 'o',
    sub: 'bob',
    aud: 'svc',
    iat: 0,
    exp: Math.floor(Date.now() / 1000) + 60,
    access: [],
  };
  it('accepts its own, unexpired tokens for its audience only', () => {
    const t = signToken(claims, key);
    expect(verifyToken(t, key, 'svc')?.sub).toBe('bob');
    expect(verifyToken(t, key, 'other')).toBeUndefined();
    expect(verifyToken(t, Buffer.alloc(32, 8), 'svc')).toBeUndefined();
    expect(verifyToken(signToken({ ...claims, exp: 1 }, key), key, 'svc')).toBeUndefined();
    const [h, , s] = t.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'alice' })).toString('base64url')}.${s}`;
    expect(verifyToken(forged, key, 'svc')).toBeUndefined();
  });
});

describe('grants and tokens', () => {
  it('unions own and anonymous grants, narrows by token scopes, and honours revocation', async () => {
    const state = await openSqliteState(mkdtempSync(join(tmpdir(), 'opencloud-authstore-')));
    try {
      const store = new AuthStore(state);
      await store.addUser('bob', 'bob-password', false);
      await store.addUser('root', 'root-password', true);
      await store.grant('bob', 'team/*', ['pull', 'push']);
      await store.grant('anonymous', 'public/**', ['pull']);
      const bob = await store.checkPassword('bob', 'bob-password');
      expect(bob).toMatchObject({ name: 'bob', admin: false });
      expect(await store.checkPassword('bob', 'nope')).toBeUndefined();
      expect([...(await allowedActions(store, bob!, 'team/app'))].sort()).toEqual(['pull', 'push']);
      expect([...(await allowedActions(store, bob!, 'public/x/y'))]).toEqual(['pull']);
      expect([...(await allowedActions(store, bob!, 'other/x'))]).toEqual([]);
      expect([...(await allowedActions(store, ANONYMOUS, 'team/app'))]).toEqual([]);
      const { id, token } = await store.createToken(
        'bob',
        'ci',
        [{ pattern: 'team/app', actions: ['pull'] }],
        null,
      );
      const viaToken = await store.checkToken(token);
      expect([...(await allowedActions(store, viaToken!, 'team/app'))]).toEqual(['pull']);
      expect([...(await allowedActions(store, viaToken!, 'team/other'))]).toEqual([]);
      expect(await store.checkToken(token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A'))).toBeUndefined();
      await store.revokeToken(id);
      expect(await store.checkToken(token)).toBeUndefined();
      const admin = await store.checkPassword('root', 'root-password');
      expect(isAdmin(admin!)).toBe(true);
      const narrowed = await store.createToken('root', 'ro', [{ pattern: 'x', actions: ['pull'] }], null);
      expect(isAdmin((await store.checkToken(narrowed.token))!)).toBe(false);
      const expired = await store.createToken('bob', 'old', null, new Date(Date.now() - 1000));
      expect(await store.checkToken(expired.token)).toBeUndefined();
      await expect(store.addUser('Bad Name', 'password1', false)).rejects.toThrow('is not a user name');
      await expect(store.grant('nobody', 'x', ['pull'])).rejects.toThrow('no user nobody');
      await store.deleteUser('bob');
      expect(await store.checkPassword('bob', 'bob-password')).toBeUndefined();
    } finally {
      await state.close();
    }
  });
});
