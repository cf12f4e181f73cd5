// Runs the real `opencloud` program (bin/opencloud.js over dist/) as a child process.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(ROOT, 'bin/opencloud.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  env?: Record<string, string | undefined>;
  uid?: number;
  gid?: number;
  cwd?: string;
}

/** The environment a test run gives the program: no config file or OPENCLOUD_* from outside. */
function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OPENCLOUD_')) env[k] = v;
  env.OPENCLOUD_LOG_LEVEL = 'info';
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export function spawnCli(args: string[], opts: CliOptions = {}): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], {
    env: childEnv(opts.env),
    cwd: opts.cwd ?? ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(opts.uid === undefined ? {} : { uid: opts.uid, gid: opts.gid ?? opts.uid }),
  });
}

export function runCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  const child = spawnCli(args, opts);
  return collect(child);
}

export function collect(child: ChildProcess): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
}

export interface ServeHandle {
  url: string;
  child: ChildProcess;
  /** Resolves when the process exits. */
  exited: Promise<CliResult>;
}

/** Starts `opencloud serve` and waits for its "listening" log line (so the log level must be info or finer). */
export async function startServe(args: string[], opts: CliOptions = {}): Promise<ServeHandle> {
  const child = spawnCli(['serve', ...args], opts);
  const exited = collect(child);
  let buf = '';
  let timer: NodeJS.Timeout | undefined;
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (d: Buffer) => {
      buf += d.toString();
      const m = /"url":"(https?:\/\/[^"]+)"/.exec(buf);
      if (m) {
        child.stdout?.off('data', onData);
        resolve(m[1] as string);
      }
    };
    child.stdout?.on('data', onData);
    timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`serve did not log its "listening" line within 20 s:\n${buf}`));
    }, 20_000);
    void exited.then((r) =>
      reject(new Error(`serve exited (${r.code}) before listening:\n${r.stderr}${r.stdout}`)),
    );
  }).finally(() => clearTimeout(timer));
  return { url, child, exited };
}
