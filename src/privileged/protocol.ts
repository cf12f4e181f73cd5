// The privileged helper's contract: what `opencloud-privileged` reads, what it writes and how it
// exits. Shared by the helper (src/privileged/) and the server's runner, which drives it through
// `sudo -n` (src/server/privileged-runner.ts). Types and constants only.
//
// How it is invoked (the sudoers drop-in allows exactly this, with no arguments):
//   echo '<request JSON>' | sudo -n /usr/lib/opencloud/bin/opencloud-privileged
// Any command-line argument is refused. stdin holds ONE JSON request (at most 1 MiB):
//
//   {"op":"services.plan"|"services.enable"|"services.disable",
//    "service":"container-registry",
//    "runId":"<lowercase uuid: the install run's id in the ledger>",
//    "actor":"<who asked, for the audit trail>", "address":"<their IP address>",
//    "options":{"source":"release"|"tarball"|"go", "tarball":"/abs/path", "sha256":"<64 hex>",
//               "mirror":"https://…", "init":"auto"|"systemd"|"direct", "purge":true|false,
//               "readyTimeout":<seconds>, "lockTimeout":<seconds>}}      (every option optional)
//
//   {"op":"ledger.apply", "document":{…an `opencloud ledger export` document…},
//    "runId":"<uuid naming this apply in the audit trail>", "actor":"…", "address":"…"}
//
// Unknown keys anywhere are refused. Through this path `sha256` may only be one of the pinned
// BuildKit release checksums or one listed in `installer.trustedSha256` of the root-owned
// /etc/opencloud/config.yaml (anything else needs root at the console), timeouts are at most
// 3600 s, a tarball is opened once, as the data dir's owner, without following a link, and must
// be a regular file, and a disable reverts only what the installer records (the installer's
// request policy, src/installer/request-policy.ts, as for a server running as root).
//
// stdout, one JSON object per line:
//   {"accepted":{"op":…,"runId":…,"dataDir":…}}   first, once the request is accepted
//   {"seq":n,"event":{…InstallerEvent…}}          every installer event (n as in the ledger)
//   {"say":"…"}                                     ledger.apply's human progress lines
//   {"result":{…}}                                  last: a RunResult, or apply's summary
//   {"error":{"code":…,"message":…}}                instead of a result when it could not run;
//       a refusal's code is the policy's (UNTRUSTED_SHA256, LEDGER_ARTIFACT_REFUSED,
//       TARBALL_REFUSED) or REFUSED (the request itself)
// stderr: one line saying why, when refused or failed.
//
// Exit status: see HELPER_EXIT. Every refusal and every accepted request is recorded in the audit
// trail (`privileged.refused` with status 403; `privileged.<op>` with 200 or 500).
import type { RunResult } from '../installer/engine.js';
import type { InstallerEvent } from '../installer/types.js';
import type { ServiceOutcome } from '../ledger/apply.js';

export const HELPER_EXIT = {
  /** The run succeeded (apply: every service action applied). */
  ok: 0,
  /** The run failed (and was rolled back), or the helper could not do it. */
  failed: 1,
  /** Refused: arguments, bad JSON, unknown op or key, a value outside what is allowed. */
  refused: 64,
  /** Another install run holds the installer lock: nothing was started. */
  busy: 75,
  /** Not run as root. */
  notRoot: 77,
  /** /etc/opencloud/config.yaml is invalid. */
  config: 78,
} as const;

/** The largest request read from stdin. */
export const MAX_REQUEST_BYTES = 1024 * 1024;

export const SERVICE_OPS = ['services.plan', 'services.enable', 'services.disable'] as const;
export type ServiceOp = (typeof SERVICE_OPS)[number];
export type HelperOp = ServiceOp | 'ledger.apply';

/** The outcome of `ledger.apply`, as `opencloud ledger apply --json` prints it. */
export interface ApplyResult {
  type: 'ledger-apply';
  differences: Record<string, unknown>[];
  services: ServiceOutcome[];
  summary: string[];
}

export type HelperLine =
  | { accepted: { op: HelperOp; runId: string; dataDir: string } }
  | { seq: number; event: InstallerEvent }
  | { say: string }
  | { result: RunResult | ApplyResult }
  | { error: { code: string; message: string } };
