// systemd operations the installer needs: unit state, enable/start/restart, daemon-reload and
// the unit's last journal lines for error evidence.
import { existsSync } from 'node:fs';
import { exec, mustExec } from './exec.js';

/** systemd is PID 1 exactly when this directory exists (sd_booted()'s test). */
export const systemdIsPid1 = () => existsSync('/run/systemd/system');

export interface UnitState {
  load: string;
  active: string;
  sub: string;
  fileState: string;
  restarts: number;
  mainPid: number;
}

export async function unitState(unit: string): Promise<UnitState> {
  const r = await mustExec('systemctl', [
    'show',
    '-p',
    'LoadState,ActiveState,SubState,UnitFileState,NRestarts,MainPID',
    unit,
  ]);
  const v = Object.fromEntries(
    r.stdout
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  ) as Record<string, string>;
  return {
    load: v.LoadState ?? '',
    active: v.ActiveState ?? '',
    sub: v.SubState ?? '',
    fileState: v.UnitFileState ?? '',
    restarts: Number(v.NRestarts ?? 0),
    mainPid: Number(v.MainPID ?? 0),
  };
}

export const systemctl = (...args: string[]) => mustExec('systemctl', args);

export async function journalTail(unit: string, lines = 20): Promise<string> {
  const r = await exec('journalctl', ['-u', unit, '-n', String(lines), '--no-pager', '-o', 'short-iso']);
  return r.stdout.trim() || r.stderr.trim();
}
