// A query built and compiled by Kysely once, then run many times with new values. Building and
// compiling is most of what a small lookup costs in Kysely (the registry's small-request profile
// spent 16% of its CPU there); the SQL text is the same every time, only the parameters change.
// The builder gets a `slot(name)` marker in place of each value; the marker's position among the
// compiled parameters says where each value goes, whatever order the dialect binds them in.
import type { Compilable, CompiledQuery, Kysely } from 'kysely';

const MARK = '\u0000slot:';

export class Precompiled<Values extends Record<string, string | number>, Row> {
  private readonly compiled: CompiledQuery<Row>;
  private readonly order: (keyof Values)[];

  constructor(
    private readonly db: Kysely<unknown>,
    build: (slot: <K extends keyof Values & string>(name: K) => Values[K]) => Compilable<Row>,
  ) {
    this.compiled = build((name) => `${MARK}${name}` as Values[typeof name]).compile();
    this.order = this.compiled.parameters.map((p) => {
      if (typeof p !== 'string' || !p.startsWith(MARK))
        throw new Error(`a precompiled query binds only slots; it binds ${JSON.stringify(p)}`);
      return p.slice(MARK.length);
    });
  }

  async rows(values: Values): Promise<Row[]> {
    const parameters = this.order.map((k) => values[k]);
    return (await this.db.executeQuery<Row>({ ...this.compiled, parameters })).rows;
  }

  async first(values: Values): Promise<Row | undefined> {
    return (await this.rows(values))[0];
  }
}
