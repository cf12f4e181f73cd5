// Runs host commands for the installer: arguments as an array (never a shell string), output
// captured, a deadline, and a StepError that carries the command's last output lines.
import { spawn } from 'node:child_process';
import { StepError } from '../types.js';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Called with each output line as it arrives (long apt and go runs show progress). */
  onLine?: (line: string) => void;
  /** Run as this user and group (an access check made as an unprivileged group member). */
  uid?: number;
  gid?: number;
}

export function exec(cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: { ...process.env, LC_ALL: 'C', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
      ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
    });
    let stdout = '';
    let stderr = '';
    let partial = '';
    const lines = (chunk: string) => {
      if (!opts.onLine) return;
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const l of parts) if (l.trim()) opts.onLine(l);
    };
    child.stdout.setEncoding('utf8').on('data', (d: string) => ((stdout += d), lines(d)));
    child.stderr.setEncoding('utf8').on('data', (d: string) => ((stderr += d), lines(d)));
    const timer = opts.timeoutMs
      ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs).unref()
      : undefined;
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new StepError(
          err.code === 'ENOENT' ? `${cmd} is not installed on this host` : `${cmd}: ${err.message}`,
        ),
      );
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL' && opts.timeoutMs) {
        reject(
          new StepError(
            `${cmd} ${args.join(' ')} did not finish within ${opts.timeoutMs / 1000} s`,
            tail(stdout + stderr),
          ),
        );
      } else resolve({ code: code ?? 128, stdout, stderr });
    });
  });
}

/** Like exec, but a non-zero exit is a StepError naming the command, with its last lines. */
export async function mustExec(cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const r = await exec(cmd, args, opts);
  if (r.code !== 0) {
    throw new StepError(`${cmd} ${args.join(' ')} failed (exit ${r.code})`, tail(r.stderr || r.stdout));
  }
  return r;
}

export function tail(text: string, n = 15): string {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}
