// The `direct` init mode: no init system, so daemons are started here in the background, in
// their own session, with a pid file and a log file. Nothing restarts them and nothing starts
// them at boot; the installer says so plainly.
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, closeSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { atomicWrite } from './atomic-write.js';
import { tail } from './exec.js';

export const PID_DIR = '/run/opencloud';
export const LOG_DIR = '/var/log/opencloud';

export const pidFileFor = (name: string) => `${PID_DIR}/${name}.pid`;
export const logFileFor = (name: string) => `${LOG_DIR}/${name}.log`;

/** The process exists (EPERM: it does, owned by someone else). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid in the pid file when that process is alive and is the named program, else undefined. */
export async function daemonPid(pidFile: string, name: string): Promise<number | undefined> {
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return undefined;
  // "pid (comm) S …": a zombie (Z) is dead though kill(pid, 0) succeeds until it is reaped; a
  // reused pid running another program is not our daemon.
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const m = /^\d+ \((.*)\) (\S)/.exec(stat);
  return m && m[1] === name.slice(0, 15) && m[2] !== 'Z' && m[2] !== 'X' ? pid : undefined;
}

export async function startDaemon(name: string, binary: string, args: string[]): Promise<number> {
  const logFile = logFileFor(name);
  mkdirSync(dirname(logFile), { recursive: true });
  const fd = openSync(logFile, 'a', 0o640);
  try {
    const child = spawn(binary, args, { detached: true, stdio: ['ignore', fd, fd] });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('spawn', () => resolve(child.pid as number));
    });
    child.unref();
    await atomicWrite(pidFileFor(name), `${pid}\n`, { mode: 0o644 });
    return pid;
  } finally {
    closeSync(fd);
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; removes the pid file. A daemon already gone is fine. */
export async function stopDaemon(pidFile: string, name: string, graceMs = 10_000): Promise<void> {
  const pid = await daemonPid(pidFile, name);
  if (pid !== undefined) {
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
  await rm(pidFile, { force: true });
}

export async function logTail(name: string, lines = 20): Promise<string> {
  return tail(await readFile(logFileFor(name), 'utf8').catch(() => ''), lines);
}
