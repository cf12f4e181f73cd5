// The OCI distribution-spec conformance suite (built by the test setup, see GO_TOOLS in
// scripts/test-env/lib.sh) against the real `opencloud serve`, with every API and data type it can
// test switched on. Judged by the junit.xml and results.yaml it writes, not by its exit code; when
// it fails, the message lists each failing or skipped case with what went wrong.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { runCli, startServe } from '../support/cli.js';
import { missing, titled } from '../support/env.js';
import { sharedEngines } from '../support/scale-out.js';
import { tool } from '../support/tools.js';

const reason = missing('conformance');
const SUITE_TIMEOUT_MS = 4 * 60_000;
const MESSAGE_CHARS = 300;
const LISTED_CASES = 80;

// The variables the pinned suite reads (conformance/config.go): OCI_<FIELD> for each setting, nested
// with `_`. OCI_VERSION only picks defaults, so every switch is set explicitly; OCI_REGISTRY and
// OCI_RESULTS_DIR are added per run. The suite's deprecated OCI_ROOT_URL / OCI_NAMESPACE /
// OCI_CROSSMOUNT_NAMESPACE / OCI_TEST_* still work but print warnings, so they are not used.
const SUITE_ENV: Record<string, string> = {
  OCI_VERSION: '1.1', // spec version; "1.1+dev" would only change defaults, all set below
  OCI_TLS: 'disabled', // plain http to the registry
  OCI_REPO1: 'conformance/repo1', // where content is pushed
  OCI_REPO2: 'conformance/repo2', // the other side of cross-repository mounts
  OCI_LOG: 'warn', // the suite's own log on stderr (the reports hold everything anyway)
  // APIs
  OCI_API_PING: 'true', // GET /v2/
  OCI_API_PULL: 'true', // manifest and blob GET/HEAD, including range requests
  OCI_API_PUSH: 'true', // monolithic, POST-only, chunked and streamed blob uploads; manifest PUT
  OCI_API_BLOBS_ATOMIC: 'true', // a deleted blob is gone immediately
  OCI_API_BLOBS_DELETE: 'true',
  OCI_API_BLOBS_DIGEST_HEADER: 'true', // Docker-Content-Digest required on blob responses
  OCI_API_BLOBS_MOUNT_ANONYMOUS: 'true', // mount=<digest> without from= (automatic cross-mount)
  OCI_API_BLOBS_UPLOAD_CANCEL: 'true', // DELETE of an upload session
  OCI_API_MANIFESTS_ATOMIC: 'true', // a deleted manifest is gone immediately
  OCI_API_MANIFESTS_DELETE: 'true',
  OCI_API_MANIFESTS_DIGEST_HEADER: 'true', // Docker-Content-Digest required on manifest responses
  OCI_API_MANIFESTS_TAG_PARAM: 'true', // PUT by digest with ?tag=… answered with OCI-Tag headers
  OCI_API_TAGS_ATOMIC: 'true', // a deleted tag is gone immediately
  OCI_API_TAGS_DELETE: 'true',
  OCI_API_TAGS_LIST: 'true', // content discovery: tags/list
  OCI_API_REFERRER: 'true', // content discovery: the referrers API
  // Data pushed and pulled through those APIs
  OCI_DATA_IMAGE: 'true',
  OCI_DATA_INDEX: 'true',
  OCI_DATA_INDEX_LIST: 'true', // an index holding an index
  OCI_DATA_SPARSE: 'true', // manifests referencing blobs/manifests never pushed
  OCI_DATA_ARTIFACT: 'true', // artifactType
  OCI_DATA_SUBJECT: 'true', // subject (referrers)
  OCI_DATA_SUBJECT_MISSING: 'true', // subject pointing at a manifest that does not exist
  OCI_DATA_ARTIFACT_LIST: 'true',
  OCI_DATA_SUBJECT_LIST: 'true',
  OCI_DATA_DATA_FIELD: 'true', // descriptors with embedded data
  OCI_DATA_NONDISTRIBUTABLE: 'true', // foreign layers that are never pushed
  OCI_DATA_CUSTOM_FIELDS: 'true', // fields beyond the spec
  OCI_DATA_NO_LAYERS: 'true', // an image manifest with an empty layer list
  OCI_DATA_EMPTY_BLOB: 'true', // a zero-byte blob
  OCI_DATA_SHA512: 'true', // everything again with sha512 digests
};

type Status = 'passed' | 'failure' | 'error' | 'skipped';

interface TestCase {
  name: string;
  status: Status;
  /** What went wrong (failures, errors) or why it did not run (skips); '' for passes. */
  message: string;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** XML character data to text: entities decoded, CDATA sections taken as they are. */
function xmlText(s: string): string {
  return s.replace(
    /<!\[CDATA\[([\s\S]*?)\]\]>|&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g,
    (whole, cdata: string | undefined, entity: string | undefined) => {
      if (cdata !== undefined) return cdata;
      const e = entity ?? '';
      if (e.startsWith('#x')) return String.fromCodePoint(parseInt(e.slice(2), 16));
      if (e.startsWith('#')) return String.fromCodePoint(parseInt(e.slice(1), 10));
      return ENTITIES[e] ?? whole;
    },
  );
}

function xmlAttributes(s: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  for (const m of s.matchAll(/([\w:.-]+)\s*=\s*"([^"]*)"/g)) attrs[m[1] as string] = xmlText(m[2] as string);
  return attrs;
}

function xmlChild(body: string, tag: string): { attrs: Record<string, string>; text: string } | undefined {
  const m = new RegExp(`<${tag}\\b([^>]*?)(?:/>|>([\\s\\S]*?)</${tag}>)`).exec(body);
  return m ? { attrs: xmlAttributes(m[1] ?? ''), text: xmlText(m[2] ?? '') } : undefined;
}

/** The last request in the suite's request/response dump of a case: "PUT <url> → 400". */
function lastExchange(dump: string): string {
  const requests = [...dump.matchAll(/~~~ REQUEST ~~~\s*\nMethod: (\S+)\s*\nURL: (\S+)/g)];
  const last = requests.at(-1);
  if (!last || last.index === undefined) return '';
  const status = /~~~ RESPONSE ~~~\s*\nStatus: (\d+)/.exec(dump.slice(last.index));
  return `${last[1]} ${new URL(last[2] as string).pathname}${status ? ` → ${status[1]}` : ''}`;
}

/**
 * The cases in a junit.xml. This suite marks each <testcase> with status="passed|failure|error|
 * skipped", puts its errors in <system-out> and its request/response dump in <system-err>; the usual
 * <failure>/<error>/<skipped> children are understood too.
 */
function parseJunit(xml: string): TestCase[] {
  const cases: TestCase[] = [];
  for (const m of xml.matchAll(/<testcase\b([^>]*?)(?:\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const attrs = xmlAttributes(m[1] ?? '');
    const body = m[2] ?? '';
    const failure = xmlChild(body, 'failure');
    const error = xmlChild(body, 'error');
    const skipped = xmlChild(body, 'skipped');
    const out = xmlChild(body, 'system-out')?.text.trim() ?? '';
    const dump = xmlChild(body, 'system-err')?.text ?? '';
    const status = (attrs.status ??
      (error ? 'error' : failure ? 'failure' : skipped ? 'skipped' : 'passed')) as Status;
    let message = '';
    if (status !== 'passed') {
      const element = error ?? failure ?? skipped;
      const parts = [out, element?.attrs.message ?? '', element?.text.trim() ?? ''].filter(Boolean);
      if (status === 'skipped' && parts.length === 0) {
        // e.g. "…: skipping test:\n  api Blob upload cancel is disabled in the configuration"
        parts.push(dump.replace(/^[\s\S]*?skipping test:\s*/, '').trim());
      }
      const exchange = status === 'skipped' ? '' : lastExchange(dump);
      message = parts.join('\n').replace(/\s*\n\s*/g, ' | ');
      if (message.length > MESSAGE_CHARS) message = `${message.slice(0, MESSAGE_CHARS)}…`;
      if (exchange) message += ` [last request: ${exchange}]`;
    }
    cases.push({ name: attrs.name ?? '(unnamed)', status, message });
  }
  return cases;
}

/** One line per failing or skipped case, identical ones folded, at most LISTED_CASES lines. */
function listing(cases: TestCase[]): string {
  const lines = new Map<string, number>();
  for (const c of cases) {
    const line = `${c.status.toUpperCase()} ${c.name.replace(/^OCI Conformance Test\//, '')}: ${c.message}`;
    lines.set(line, (lines.get(line) ?? 0) + 1);
  }
  const all = [...lines].map(([line, n]) => (n > 1 ? `${line} (×${n})` : line));
  const shown = all.slice(0, LISTED_CASES).map((l) => `  - ${l}`);
  if (all.length > LISTED_CASES) shown.push(`  … and ${all.length - LISTED_CASES} more lines`);
  return shown.join('\n');
}

interface SuiteRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
}

/** Runs the suite against REGISTRY (host:port), writing its reports to WORK/results. */
async function runSuite(
  registry: string,
  work: string,
  extra: Record<string, string> = {},
): Promise<SuiteRun> {
  const env: NodeJS.ProcessEnv = {};
  // Nothing from outside steers the suite: no OCI_* of the caller, no oci-conformance.yaml (cwd).
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OCI_')) env[k] = v;
  Object.assign(env, SUITE_ENV, extra, { OCI_REGISTRY: registry, OCI_RESULTS_DIR: join(work, 'results') });
  const stdout = openSync(join(work, 'suite.stdout'), 'w');
  const stderr = openSync(join(work, 'suite.stderr'), 'w');
  try {
    const child = spawn(tool('conformance'), [], { cwd: work, env, stdio: ['ignore', stdout, stderr] });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, SUITE_TIMEOUT_MS);
    return await new Promise<SuiteRun>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, timedOut });
      });
    });
  } finally {
    closeSync(stdout);
    closeSync(stderr);
  }
}

const tail = (file: string, chars = 2000) =>
  existsSync(file) ? readFileSync(file, 'utf8').slice(-chars) : '';

/** Runs the whole suite against a fresh `opencloud serve` (with `serverEnv`) and judges its reports. */
async function passesEverything(signedIn: boolean, serverEnv: Record<string, string> = {}): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'opencloud-conformance-'));
  const login: Record<string, string> = {};
  if (signedIn) {
    const r = await runCli([
      'users',
      'add',
      'conformance',
      '--admin',
      '--generate',
      '--data-dir',
      join(work, 'data'),
    ]);
    expect(r.code, r.stderr).toBe(0);
    Object.assign(login, {
      OCI_USERNAME: 'conformance',
      OCI_PASSWORD: /password: (\S+)/.exec(r.stdout)?.[1] as string,
    });
  }
  // Sparse manifests (OCI_DATA_SPARSE) are a server option, off by default: switch it on here.
  const server = await startServe(['--listen', '127.0.0.1:0', '--data-dir', join(work, 'data')], {
    env: { OPENCLOUD_REGISTRY_ALLOW_SPARSE_MANIFESTS: 'true', ...serverEnv },
  });
  let run: SuiteRun;
  try {
    run = await runSuite(new URL(server.url).host, work, login);
  } finally {
    server.child.kill('SIGTERM');
  }
  // It drains for up to shutdownTimeout (30 s); one that hangs past that is cut, and reported below.
  const killer = setTimeout(() => server.child.kill('SIGKILL'), 45_000);
  const served = await server.exited;
  clearTimeout(killer);

  const junit = join(work, 'results', 'junit.xml');
  const how = run.timedOut
    ? `killed after ${SUITE_TIMEOUT_MS / 1000} s`
    : `exit ${run.code ?? run.signal ?? '?'}`;
  expect(
    existsSync(junit),
    `the suite wrote no junit.xml (${how}); its stderr ends:\n${tail(join(work, 'suite.stderr'))}`,
  ).toBe(true);

  const cases = parseJunit(readFileSync(junit, 'utf8'));
  const count = (...s: Status[]) => cases.filter((c) => s.includes(c.status)).length;
  const [passed, failed, errored, skipped] = [
    count('passed'),
    count('failure'),
    count('error'),
    count('skipped'),
  ];
  console.log(
    `conformance: ${passed} passed, ${failed + errored} failed, ${skipped} skipped of ${cases.length}`,
  );
  expect(cases.length, `junit.xml (${junit}) holds no test case (${how})`).toBeGreaterThan(0);

  // What the suite reports as switched off: a misspelt variable would leave a default in place.
  const results = parseYaml(readFileSync(join(work, 'results', 'results.yaml'), 'utf8')) as {
    apis?: Record<string, string>;
    data?: Record<string, string>;
  };
  const switchedOff = [
    ...Object.entries(results.apis ?? {}).map(([k, v]) => [`api ${k}`, v]),
    ...Object.entries(results.data ?? {}).map(([k, v]) => [`data ${k}`, v]),
  ]
    .filter(([, v]) => v === 'Disabled')
    .map(([k]) => k as string);

  const bad = cases.filter((c) => c.status !== 'passed');
  const message = [
    `OCI conformance: ${passed} passed, ${failed} failed, ${errored} errored, ${skipped} skipped of ${cases.length} (${how})`,
    ...(switchedOff.length ? [`switched off in the suite: ${switchedOff.join(', ')}`] : []),
    ...(served.code === 0 ? [] : [`opencloud serve exited ${served.code ?? served.signal} at the end`]),
    listing(bad),
    `full report: ${join(work, 'results', 'report.html')} (every request and response); junit: ${junit}`,
    '',
  ].join('\n');
  expect({ failed, errored, skipped, switchedOff }, message).toEqual({
    failed: 0,
    errored: 0,
    skipped: 0,
    switchedOff: [],
  });
  expect(served.code, `opencloud serve exit status after SIGTERM:\n${served.stderr}`).toBe(0);
  rmSync(work, { recursive: true, force: true });
}

describe.skipIf(reason)(titled('OCI distribution-spec conformance', reason), () => {
  // Twice: open, and with authentication on (the suite signs in through the token flow).
  it.each([
    ['', false],
    [', signed in through the Docker token flow', true],
  ])(
    'passes every test, with every API and data type switched on%s',
    (_title, signedIn) => passesEverything(signedIn),
    SUITE_TIMEOUT_MS + 60_000,
  );

  // A node of a scale-out layout: blobs in S3 (SeaweedFS), state in PostgreSQL.
  const engines = missing('postgres', 's3');
  it.skipIf(engines)(
    titled('passes every test on a node with S3 blobs and PostgreSQL state', engines),
    async () => {
      const shared = await sharedEngines('conformance');
      try {
        await passesEverything(false, shared.env);
      } finally {
        await shared.drop();
      }
    },
    SUITE_TIMEOUT_MS + 60_000,
  );
});
