import Sqlite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { describe, expect, it } from 'vitest';
import { Precompiled } from './precompiled.js';

interface Db {
  t: { a: string; b: number };
}

describe('Precompiled', () => {
  const db = () => {
    const raw = new Sqlite(':memory:');
    raw.exec("create table t (a text, b integer); insert into t values ('x', 1), ('x', 2), ('y', 3)");
    return new Kysely<Db>({ dialect: new SqliteDialect({ database: raw }) });
  };

  it('binds each value to its slot, whatever the order they appear in', async () => {
    const k = db();
    const q = new Precompiled<{ a: string; min: number }, { b: number }>(k as Kysely<unknown>, (slot) =>
      k.selectFrom('t').select('b').where('b', '>=', slot('min')).where('a', '=', slot('a')).orderBy('b'),
    );
    expect(await q.rows({ a: 'x', min: 2 })).toEqual([{ b: 2 }]);
    expect(await q.rows({ min: 0, a: 'x' })).toEqual([{ b: 1 }, { b: 2 }]);
    expect(await q.first({ a: 'y', min: 0 })).toEqual({ b: 3 });
    expect(await q.first({ a: 'z', min: 0 })).toBeUndefined();
  });

  it('refuses a query that binds a value that is not a slot', () => {
    const k = db();
    expect(
      () =>
        new Precompiled<{ a: string }, { b: number }>(k as Kysely<unknown>, (slot) =>
          k.selectFrom('t').select('b').where('a', '=', slot('a')).where('b', '=', 1),
        ),
    ).toThrow('a precompiled query binds only slots; it binds 1');
  });
});
