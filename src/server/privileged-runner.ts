// Install runs through the privileged helper, for a server that is not root: the request goes as
// JSON on the stdin of `sudo -n /usr/lib/opencloud/bin/opencloud-privileged` (the one command
// the sudoers rule of `opencloud install` allows), and the helper's stdout lines feed the same
// events a run in this process emits. The helper writes the ledger itself, under the runId given
// here. The protocol is in src/privileged/protocol.ts. Both ways a request reaches the installer
// (the helper, and the installer in this process when the server runs as root) are held to the
// same request policy (src/installer/request-policy.ts), and its refusals answer with the same
// codes: UNTRUSTED_SHA256 and LEDGER_ARTIFACT_REFUSED (403), TARBALL_REFUSED (400).
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { PRIVILEGED_HELPER, SUDOERS_FILE } from '../deploy/paths.js';
import type { RunResult } from '../installer/engine.js';
import type { InstallOptions } from '../installer/options.js';
import { POLICY_STATUS, type PolicyCode } from '../installer/request-policy.js';
import { HELPER_EXIT, type HelperLine } from '../privileged/protocol.js';
import { requestOptions } from '../privileged/request.js';
import { HttpError } from './envelope.js';
import type { Action, Runner } from './install-runs.js';

/** The command that runs the helper: `sudo -n PRIVILEGED_HELPER`, or a stand-in in tests. */
export interface HelperCommand {
  file: string;
  args: string[];
}

/** Who asked, for the helper's audit entry. */
export interface Requester {
  actor: string;
  address: string;
}

/** An executable named `name` in a PATH directory (absolute ones only). */
export function onPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir || !isAbsolute(dir)) continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      if (statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** `sudo -n PRIVILEGED_HELPER` when the helper is installed and sudo is on PATH; else undefined. */
export function detectHelper(): HelperCommand | undefined {
  if (!existsSync(PRIVILEGED_HELPER)) return undefined;
  const sudo = onPath('sudo');
  return sudo ? { file: sudo, args: ['-n', PRIVILEGED_HELPER] } : undefined;
}

export interface HelperExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The helper's last `result` line. */
  result?: unknown;
  /** Its `error` line, when it could not run or refused. */
  error?: { code: string; message: string };
  /** How many protocol lines it wrote (0 when sudo itself refused). */
  lines: number;
  /** The start of stderr (sudo's refusal, the helper's reason). */
  stderr: string;
  /** The command could not be started at all. */
  spawnError?: Error;
}

const STDERR_CAP = 64 * 1024;

/** Runs the helper with `request` on stdin; every protocol line goes to `onLine` as it arrives. */
export function callHelper(
  command: HelperCommand,
  request: object,
  onLine: (line: HelperLine) => void,
): Promise<HelperExit> {
  return new Promise((resolve) => {
    const exit: HelperExit = { code: null, signal: null, lines: 0, stderr: '' };
    const child = spawn(command.file, command.args, { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.on('error', () => undefined); // it may exit (refusing) before reading everything
    child.stdin.end(JSON.stringify(request));
    let partial = '';
    const take = (text: string) => {
      let line: unknown;
      try {
        line = JSON.parse(text);
      } catch {
        return; // not a protocol line
      }
      if (line === null || typeof line !== 'object') return;
      const l = line as HelperLine;
      exit.lines++;
      if ('result' in l) exit.result = l.result;
      if ('error' in l) exit.error = l.error;
      onLine(l);
    };
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const p of parts) if (p.trim()) take(p);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      if (exit.stderr.length < STDERR_CAP) exit.stderr += chunk.slice(0, STDERR_CAP - exit.stderr.length);
    });
    child.on('error', (err) => {
      exit.spawnError = err;
    });
    child.on('close', (code, signal) => {
      if (partial.trim()) take(partial);
      exit.code = code;
      exit.signal = signal;
      resolve(exit);
    });
  });
}

const firstLine = (s: string) =>
  s
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l !== '') ?? '';

/** The helper's own first stderr line (sudo may have warned before it). */
const helperLine = (stderr: string) =>
  stderr
    .split('\n')
    .find((l) => l.startsWith('opencloud-privileged:'))
    ?.trim();

/** The helper said something itself (sudo ran it), as opposed to sudo refusing to. */
const helperSpoke = (exit: HelperExit) => exit.lines > 0 || /^opencloud-privileged:/m.test(exit.stderr);

/** The error a helper that did not produce a result stands for. */
export function helperError(command: HelperCommand, exit: HelperExit): Error {
  const shown = [command.file, ...command.args].join(' ');
  const said = (helperLine(exit.stderr) ?? firstLine(exit.stderr)).replace(
    /^opencloud-privileged: (refused: )?/,
    '',
  );
  const reason = exit.error?.message ?? (said || 'no output');
  if (exit.spawnError) {
    return new HttpError(
      503,
      'PRIVILEGED_UNAVAILABLE',
      `cannot run ${shown}: ${exit.spawnError.message}; nothing was started`,
    );
  }
  // sudo -n never prompts: "a password is required", "… is not allowed to execute …", "… is not in
  // the sudoers file", or a sandbox that forbids setuid ("no new privileges"); all exit 1.
  if (exit.code === 1 && !helperSpoke(exit) && /^sudo:/m.test(exit.stderr)) {
    const sudoSays =
      exit.stderr
        .split('\n')
        .find((l) => l.startsWith('sudo:'))
        ?.trim() ?? '';
    const why = /no new privileges/i.test(exit.stderr)
      ? 'this server runs with NoNewPrivileges (or a sandboxing option of its unit that implies it), ' +
        'under which sudo cannot become root'
      : `the rule in ${SUDOERS_FILE} is missing or does not match`;
    return new HttpError(
      403,
      'NEEDS_ROOT',
      `sudo refused to run ${PRIVILEGED_HELPER} for this server (${sudoSays}): ${why}; run ` +
        '`opencloud install` as root to set up the privileged path; nothing was started',
    );
  }
  switch (exit.code) {
    case HELPER_EXIT.refused: {
      const code = exit.error?.code;
      const message = `the privileged helper refused the request: ${reason}`;
      if (code !== undefined && Object.hasOwn(POLICY_STATUS, code))
        return new HttpError(POLICY_STATUS[code as PolicyCode], code, message);
      return new HttpError(403, 'PRIVILEGED_REFUSED', message);
    }
    case HELPER_EXIT.busy:
      return new HttpError(409, 'INSTALL_RUNNING', reason);
    case HELPER_EXIT.notRoot:
      return new HttpError(
        500,
        'PRIVILEGED_FAILED',
        `the privileged helper did not run as root (${shown}): ${reason}`,
      );
    case HELPER_EXIT.config:
      return new HttpError(
        500,
        'PRIVILEGED_FAILED',
        `the privileged helper cannot use its configuration: ${reason}`,
      );
  }
  const how = exit.code === null ? `was killed by ${exit.signal ?? 'a signal'}` : `exited ${exit.code}`;
  return new Error(`the privileged helper ${how} without a result: ${reason}`);
}

/** A Runner (install-runs.ts) that runs plan/enable/disable through the helper. */
export function privilegedRunner(command: HelperCommand, who: Requester): Runner {
  return async (action: Action, opts: InstallOptions & { purge: boolean }, hooks) => {
    const request = {
      op: `services.${action}`,
      service: 'container-registry',
      runId: hooks.runId,
      actor: who.actor,
      address: who.address,
      options: requestOptions(opts),
    };
    const exit = await callHelper(command, request, (line) => {
      if ('seq' in line) hooks.emit(line.event, line.seq);
    });
    const ran = exit.code === HELPER_EXIT.ok || exit.code === HELPER_EXIT.failed;
    if (ran && exit.result !== undefined) return exit.result as RunResult;
    throw helperError(command, exit);
  };
}
