// What the commands that work on a data dir's state share (`users`, `webhooks`, `policies`): the
// data dir checked, the state opened and always closed, a change recorded in the audit trail as
// this OS user's, and the store's own refusals (`refusal`) turned into usage errors (exit 64).
import { userInfo } from 'node:os';
import type { Config } from '../config/schema.js';
import { usableDataDir } from '../doctor/data-dir.js';
import { UsageError } from '../errors.js';
import { AuditTrail } from '../ledger/audit.js';
import { openStateForCommand } from '../state/open.js';
import type { StateStore } from '../state/store.js';
import { configFrom, type ConfigOptions } from './options.js';

export interface CommandState<T> {
  /** The change to record once `fn` succeeded (none for a read). */
  audit?: (result: T) => { action: string; target: string };
  /** The store's error class whose messages are the user's mistakes. */
  refusal?: abstract new (...args: never[]) => Error;
}

export async function withCommandState<T>(
  opts: ConfigOptions,
  fn: (state: StateStore, config: Config) => Promise<T>,
  { audit, refusal }: CommandState<T> = {},
): Promise<T> {
  const { config } = configFrom(opts);
  await usableDataDir(config.dataDir);
  const state = await openStateForCommand(config);
  try {
    const result = await fn(state, config);
    if (audit)
      await new AuditTrail(state).record({
        ...audit(result),
        actor: `cli:${userInfo().username}`,
        address: 'local',
        status: 0,
      });
    return result;
  } catch (err) {
    if (refusal && err instanceof refusal) throw new UsageError(err.message);
    throw err;
  } finally {
    await state.close();
  }
}
