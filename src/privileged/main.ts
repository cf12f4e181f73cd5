// The privileged helper's entry (`bin/opencloud-privileged`, run by the server through `sudo -n`
// as the sudoers rule from `opencloud install` allows): no arguments, one JSON request on stdin,
// the configuration from /etc/opencloud/config.yaml only (never OPENCLOUD_* variables, --config or
// the working directory: root's file, which `opencloud install` writes 0640 root:opencloud). Its
// `installer.trustedSha256` counts only while no one but root can change that file or a directory
// on the way to it (guard.ts): the service user can read it, never widen it. Refusals are
// reported on stderr, recorded in the audit trail and exit 64; accepted requests are carried out
// by run.ts. The request and output formats are in protocol.ts.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../config/load.js';
import { PRIVILEGED_STATE_DIR } from '../deploy/paths.js';
import type { Config } from '../config/schema.js';
import { AuditTrail } from '../ledger/audit.js';
import { openSqliteState } from '../state/sqlite.js';
import type { StateStore } from '../state/store.js';
import { asOwner, ownerOf, restoreOwnership } from '../state/ownership.js';
import { HELPER_EXIT, MAX_REQUEST_BYTES, type HelperLine } from './protocol.js';
import { rootOnlyProblem } from './guard.js';
import { parseRequest, untrustedChecksum, type ParsedRequest } from './request.js';
import { execute, Refusal } from './run.js';

/** Root-only: the installer's backups of replaced files and its work files, for runs made here. */
export const INSTALLER_DIR = PRIVILEGED_STATE_DIR;
/** How much of a refused input the audit trail keeps. */
const EXCERPT_BYTES = 1024;

export interface HelperIo {
  args: string[];
  input: AsyncIterable<Buffer | string>;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** The real uid (the helper refuses to run as anyone but root). */
  uid: number;
  sudoUser?: string | undefined;
  /** The configuration; the helper's own reads /etc/opencloud/config.yaml and nothing else. */
  config?: () => Config;
  installerDir?: string;
  lockPath?: string;
  /** Called once a request is accepted, before anything starts (main() stops honouring signals). */
  started?: () => void;
}

/** A refusal, with the precise code the runner answers it with (REFUSED when there is none). */
type Refused = Extract<ParsedRequest, { ok: false }> & { code?: string };

interface HelperConfig {
  config: Config;
  /** Why installer.trustedSha256 was set aside, when it was. */
  trustNote?: string;
}

/**
 * Only the config file: OPENCLOUD_* variables and the working directory do not count here. Its
 * trusted checksums are dropped unless only root can change the file (see the header).
 */
async function fileConfig(): Promise<HelperConfig> {
  const { config, file } = loadConfig({ env: {}, cwd: '/' });
  if (!file || config.installer.trustedSha256.length === 0) return { config };
  const problem = await rootOnlyProblem(file);
  if (!problem) return { config };
  return {
    config: { ...config, installer: { ...config.installer, trustedSha256: [] } },
    trustNote: `its installer.trustedSha256 is not used: ${problem}; make it root's, writable by root alone`,
  };
}

async function readInput(
  input: AsyncIterable<Buffer | string>,
): Promise<{ text: string; tooLarge: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of input) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    chunks.push(b);
    size += b.length;
    if (size > MAX_REQUEST_BYTES) return { text: Buffer.concat(chunks).toString('utf8'), tooLarge: true };
  }
  return { text: Buffer.concat(chunks).toString('utf8'), tooLarge: false };
}

const excerpt = (raw: string) => Buffer.from(raw).subarray(0, EXCERPT_BYTES).toString('utf8');

async function recordRefusal(state: StateStore, r: Refused, raw: string, io: HelperIo): Promise<void> {
  await new AuditTrail(state).record({
    actor: r.actor,
    address: r.address ?? 'unknown',
    action: 'privileged.refused',
    target: r.op ?? 'unknown',
    status: 403,
    detail: {
      reason: r.reason,
      input: excerpt(raw),
      inputBytes: Buffer.byteLength(raw),
      ...(io.sudoUser ? { sudoUser: io.sudoUser } : {}),
    },
  });
}

/** The helper, with its inputs and outputs passed in; resolves to the exit status. */
export async function helper(io: HelperIo): Promise<number> {
  const say = (line: string) => io.stderr(`opencloud-privileged: ${line}\n`);
  const out = (line: HelperLine) => io.stdout(JSON.stringify(line) + '\n');
  if (io.uid !== 0) {
    say('must run as root, through `sudo -n` as the rule `opencloud install` writes allows');
    return HELPER_EXIT.notRoot;
  }
  let parsed: ParsedRequest | Refused;
  let raw: string;
  if (io.args.length > 0) {
    raw = JSON.stringify(io.args);
    parsed = {
      ok: false,
      reason: `takes no command-line arguments (got ${io.args.length}); the request is read from stdin`,
      actor: 'unknown',
      address: undefined,
      op: undefined,
    };
  } else {
    const input = await readInput(io.input);
    raw = input.text;
    parsed = input.tooLarge
      ? {
          ok: false,
          reason: `the request is larger than ${MAX_REQUEST_BYTES} bytes`,
          actor: 'unknown',
          address: undefined,
          op: undefined,
        }
      : parseRequest(raw);
  }
  // Without a configuration and a state store a refusal is still refused, just not recorded.
  const fail = (why: string, exit: number) => {
    if (!parsed.ok) say(`refused: ${parsed.reason}`);
    say(parsed.ok ? why : `the refusal could not be recorded: ${why}`);
    return parsed.ok ? exit : HELPER_EXIT.refused;
  };
  let config: Config;
  let trustNote: string | undefined;
  try {
    ({ config, trustNote } = io.config ? { config: io.config() } : await fileConfig());
  } catch (err) {
    return fail((err as Error).message.replaceAll('\n', ' '), HELPER_EXIT.config);
  }
  if (trustNote) say(`/etc/opencloud/config.yaml: ${trustNote}`);
  if (parsed.ok) {
    const why = untrustedChecksum(parsed.request, config.installer.trustedSha256, trustNote);
    const r = parsed.request;
    if (why)
      parsed = {
        ok: false,
        reason: why,
        code: 'UNTRUSTED_SHA256',
        actor: r.actor,
        address: r.address,
        op: r.op,
      };
  }
  if (!existsSync(config.dataDir))
    return fail(
      `the data dir ${config.dataDir} does not exist (\`opencloud install\` creates it)`,
      HELPER_EXIT.failed,
    );
  const owner = await ownerOf(config.dataDir);
  await restoreOwnership(config.dataDir, owner);
  let state: StateStore;
  try {
    state = await asOwner(owner, () => openSqliteState(config.dataDir));
  } catch (err) {
    return fail(`cannot open the state in ${config.dataDir}: ${(err as Error).message}`, HELPER_EXIT.failed);
  }
  const refuse = async (r: Refused) => {
    say(`refused: ${r.reason}`);
    out({ error: { code: r.code ?? 'REFUSED', message: r.reason } });
    await recordRefusal(state, r, raw, io).catch((err: Error) =>
      say(`could not record the refusal in the audit trail: ${err.message}`),
    );
    return HELPER_EXIT.refused;
  };
  try {
    if (!parsed.ok) return await refuse(parsed);
    const req = parsed.request;
    io.started?.();
    try {
      return await execute(req, {
        state,
        config,
        installerDir: io.installerDir ?? INSTALLER_DIR,
        owner,
        ...(io.lockPath ? { lockPath: io.lockPath } : {}),
        ...(io.sudoUser ? { sudoUser: io.sudoUser } : {}),
        out,
        warn: (line) => io.stderr(line + '\n'),
      });
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      return await refuse({
        ok: false,
        reason: err.message,
        code: err.code,
        actor: req.actor,
        address: req.address,
        op: req.op,
      });
    }
  } finally {
    await asOwner(owner, () => state.close());
    await restoreOwnership(config.dataDir, owner);
  }
}

/** The process: real stdin/stdout, and once a run starts, signals no longer end it half-way. */
export async function main(): Promise<void> {
  process.stdout.on('error', () => undefined); // the server went away: the run still finishes
  // sudo passes the service's umask on (027 in opencloud.service): what root installs for everyone
  // (directories like /etc/buildkit, apt's maintainer scripts' files) must not inherit it.
  process.umask(0o022);
  // The `go` source runs `go install` as root; opencloud.service has ProtectHome=yes, which hides
  // root's home (Go's default GOPATH and cache) from this child of it: keep them root-only here.
  process.env.GOPATH = join(INSTALLER_DIR, 'go');
  process.env.GOCACHE = join(INSTALLER_DIR, 'go-cache');
  const keepGoing = (signal: string) => () =>
    process.stderr.write(`opencloud-privileged: ${signal} ignored: the run finishes (or rolls back) first\n`);
  try {
    process.exitCode = await helper({
      args: process.argv.slice(2),
      input: process.stdin,
      stdout: (text) => void process.stdout.write(text),
      stderr: (text) => void process.stderr.write(text),
      uid: process.getuid?.() ?? -1,
      sudoUser: process.env.SUDO_USER,
      started: () => {
        for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, keepGoing(s));
      },
    });
  } catch (err) {
    process.stderr.write(`opencloud-privileged: failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = HELPER_EXIT.failed;
  }
}
