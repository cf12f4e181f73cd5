// Opens the configured state store: PostgreSQL when `state.postgresUrl` is set (several registry
// nodes share it), otherwise SQLite in the data dir.
import type { Config } from '../config/schema.js';
import { openStateAsOwner } from './ownership.js';
import { openSqliteState } from './sqlite.js';
import type { StateStore } from './store.js';

export type StateConfig = Pick<Config, 'dataDir' | 'state'>;

// pg is loaded only when it is used.
const openPostgres = async (url: string) => (await import('./postgres.js')).openPostgresState(url);

export function openState(c: StateConfig): Promise<StateStore> {
  return c.state.postgresUrl ? openPostgres(c.state.postgresUrl) : openSqliteState(c.dataDir);
}

/**
 * The registry's state for a command run on the host (`users`, `webhooks`, `ledger export`):
 * the shared PostgreSQL when configured, else SQLite in the data dir opened as its owner.
 */
export function openStateForCommand(c: StateConfig): Promise<StateStore> {
  return c.state.postgresUrl ? openPostgres(c.state.postgresUrl) : openStateAsOwner(c.dataDir);
}
