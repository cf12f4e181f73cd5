// Commands that change the host need root: they re-run themselves through `sudo -n` (never
// prompting for a password) or refuse before touching anything.
import { spawnSync } from 'node:child_process';
import { EXIT, PermissionError } from '../errors.js';

/** undefined when already root; otherwise the exit status of the same command run via sudo. */
export function reexecAsRoot(): number | undefined {
  if (process.getuid?.() === 0) return undefined;
  const probe = spawnSync('sudo', ['-n', 'true'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    const why = probe.error
      ? 'sudo is not installed'
      : probe.stderr.trim() || `sudo -n exited ${probe.status}`;
    throw new PermissionError(
      `changing the host needs root, and passwordless sudo is not available (${why}); nothing was changed`,
      { hint: 'run as root, or allow this user `sudo` without a password for opencloud' },
    );
  }
  const again = spawnSync('sudo', ['-n', '--preserve-env', process.execPath, ...process.argv.slice(1)], {
    stdio: 'inherit',
  });
  return again.status ?? EXIT.failure;
}
