// One install run at a time per host: an exclusive lock file holding the owner's pid. A lock
// left by a dead process is taken over; a live owner is named in the refusal.
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { OpenCloudError } from '../errors.js';
import { alive } from './host/direct.js';

export const DEFAULT_LOCK = '/run/opencloud/installer.lock';

export class InstallerBusyError extends OpenCloudError {}

export async function acquireLock(path = DEFAULT_LOCK): Promise<() => Promise<void>> {
  await mkdir(dirname(path), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o644);
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return async () => {
        await rm(path, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(owner) && owner > 0 && alive(owner)) {
        throw new InstallerBusyError(`another install run (pid ${owner}) holds ${path}`, {
          hint: 'wait for it to finish; it ends with a recap line',
        });
      }
      await rm(path, { force: true }); // stale: its owner is gone
    }
  }
  throw new InstallerBusyError(`could not take ${path}: another run keeps taking it`);
}
