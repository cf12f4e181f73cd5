// A tripwire for tests of refusals that, were the refusal broken, would change this machine: the
// host tools a revert or an install runs (apt-get, dpkg, systemctl, groupadd, groupdel) are put on
// PATH as stand-ins that record the call and fail. A test asserts no call was made; a broken
// check then fails the test instead of purging the packages of the machine the suite runs on.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Tripwire {
  /** The calls made, one "tool args…" line each. */
  calls(): string[];
  /** Puts PATH back as it was. */
  restore(): void;
}

export function hostTripwire(): Tripwire {
  const dir = mkdtempSync(join(tmpdir(), 'opencloud-tripwire-'));
  const log = join(dir, 'calls');
  for (const cmd of ['apt-get', 'dpkg', 'systemctl', 'groupadd', 'groupdel'])
    writeFileSync(join(dir, cmd), `#!/bin/sh\necho "${cmd} $*" >> ${log}\nexit 100\n`, { mode: 0o755 });
  const path = process.env.PATH;
  process.env.PATH = `${dir}:${path ?? ''}`;
  return {
    calls: () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []),
    restore: () => void (process.env.PATH = path),
  };
}
