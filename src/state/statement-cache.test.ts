import Sqlite from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { withStatementCache } from './statement-cache.js';

describe('withStatementCache', () => {
  const open = (limit?: number) => {
    const raw = new Sqlite(':memory:');
    raw.exec('create table t (a integer)');
    let prepared = 0;
    const counting = new Proxy(raw, {
      get(target, key) {
        if (key === 'prepare')
          return (sql: string) => {
            prepared++;
            return target.prepare(sql);
          };
        const v = Reflect.get(target, key) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    return { db: withStatementCache(counting, limit), prepared: () => prepared };
  };

  it('prepares each SQL text once and runs it with new parameters', () => {
    const { db, prepared } = open();
    for (let i = 0; i < 5; i++) db.prepare('insert into t (a) values (?)').run([i]);
    expect(db.prepare('select count(*) as n from t where a >= ?').all([2])).toEqual([{ n: 3 }]);
    expect(db.prepare('select count(*) as n from t where a >= ?').all([4])).toEqual([{ n: 1 }]);
    expect(prepared()).toBe(2);
  });

  it('keeps at most `limit` statements, dropping the least recently used', () => {
    const { db, prepared } = open(2);
    const q = (n: number) => db.prepare(`select ${n} as v`).all([]);
    q(1);
    q(2);
    q(1); // 1 is now the most recent
    q(3); // drops 2
    expect(prepared()).toBe(3);
    q(1);
    expect(prepared()).toBe(3);
    q(2);
    expect(prepared()).toBe(4);
  });
});
