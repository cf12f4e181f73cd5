// The state store contract on SQLite: a fresh state.db in a temp dir per test, and a second
// store on the same file standing in for a second process.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteState } from './sqlite.js';
import { describeStateStoreContract } from './store.contract.js';

describeStateStoreContract('state store on SQLite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'opencloud-state-'));
  const state = await openSqliteState(dir);
  return {
    state,
    openAnother: () => openSqliteState(dir),
    cleanup: async () => {
      await state.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
