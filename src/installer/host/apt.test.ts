import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lockHolder } from './apt.js';

// A POSIX write lock on the whole file, as apt and dpkg take theirs.
const HOLD =
  'use Fcntl; open(my $f, ">>", $ARGV[0]) or die; my $l = pack("s s x4 q q i x4", F_WRLCK, 0, 0, 0, 0); fcntl($f, F_SETLK, $l) or die "lock: $!"; $| = 1; print "locked\\n"; sleep 30';

describe('lockHolder', () => {
  it('names the process holding a POSIX lock on the file, and nobody for a free file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opencloud-lock-'));
    const held = join(dir, 'lock-frontend');
    const free = join(dir, 'free');
    writeFileSync(free, '');
    const perl = spawn('perl', ['-e', HOLD, held], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        perl.stdout.once('data', () => resolve());
        perl.once('exit', (code) => reject(new Error(`perl exited ${code}`)));
      });
      expect(await lockHolder(held)).toBe(`pid ${perl.pid} (perl)`);
      expect(await lockHolder(free)).toBeUndefined();
      expect(await lockHolder(join(dir, 'missing'))).toBeUndefined();
    } finally {
      perl.kill('SIGKILL');
    }
  });
});
