// The privileged runner with real child processes: a stand-in helper script speaking the
// protocol (events split across writes, noise, refusals, sudo's own refusal, a busy lock, a
// crash) in place of sudo, through the runner and through the services API; then the real
// helper (built, in dist/) as a child running a read-only plan on a temp data dir, and the real
// bin/opencloud-privileged refusing arguments. And the other way a request reaches the installer,
// a server running as root: held to the same request policy, with the same precise codes (a
// tripwire on PATH makes sure a broken policy could not touch this machine's packages).
import Fastify, { type FastifyInstance } from 'fastify';
import { spawnSync } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../config/load.js';
import { SUDOERS_FILE } from '../deploy/paths.js';
import type { Artifact } from '../installer/artifacts.js';
import type { InstallOptions } from '../installer/options.js';
import type { InstallerEvent } from '../installer/types.js';
import { AuditTrail } from '../ledger/audit.js';
import { Ledger } from '../ledger/records.js';
import { PACKAGE_ROOT } from '../paths.js';
import { openSqliteState } from '../state/sqlite.js';
import type { StateStore } from '../state/store.js';
import { installErrorHandlers } from './envelope.js';
import { callHelper, helperError, privilegedRunner, type HelperCommand } from './privileged-runner.js';
import { hostTripwire, type Tripwire } from '../../test/support/host-tripwire.js';
import { servicesApi } from './services-api.js';

const RECAP = { ok: 3, changed: 1, failed: 0, skipped: 0 };

// Behaves by the request's actor; echoes the request it read as the first event's message.
const STAND_IN = `
let input = '';
process.stdin.setEncoding('utf8');
for await (const c of process.stdin) input += c;
const req = JSON.parse(input);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const ev = (seq, type, extra = {}) => ({ seq, event: { type, runId: req.runId, time: new Date().toISOString(), ...extra } });
const result = (failed) => ({ result: { runId: req.runId, mode: 'apply', steps: [], artifacts: [], facts: {},
  recap: { ok: 3, changed: 1, failed, skipped: 0 } } });
switch (req.actor) {
  case 'ok':
  case 'failed': {
    out({ accepted: { op: req.op, runId: req.runId, dataDir: '/var/lib/opencloud' } });
    out(ev(0, 'run-start', { message: input }));
    const split = JSON.stringify(ev(1, 'log', { message: 'split across writes' })) + '\\n';
    process.stdout.write(split.slice(0, 15));
    await new Promise((r) => setTimeout(r, 50));
    process.stdout.write(split.slice(15) + 'not a protocol line\\n');
    out(ev(2, 'recap', { recap: { ok: 3, changed: 1, failed: req.actor === 'ok' ? 0 : 1, skipped: 0 } }));
    out(result(req.actor === 'ok' ? 0 : 1));
    process.exitCode = req.actor === 'ok' ? 0 : 1;
    break;
  }
  case 'refused':
    process.stderr.write('opencloud-privileged: refused: options.sha256 abc is not a pinned BuildKit release checksum\\n');
    out({ error: { code: 'REFUSED', message: 'options.sha256 abc is not a pinned BuildKit release checksum' } });
    process.exitCode = 64;
    break;
  case 'sudo':
    process.stderr.write('sudo: a password is required\\n');
    process.exitCode = 1;
    break;
  case 'busy':
    out({ error: { code: 'INSTALL_RUNNING', message: 'another install run (pid 42) holds /run/opencloud/installer.lock' } });
    process.exitCode = 75;
    break;
  default:
    out(ev(0, 'run-start'));
    process.stderr.write('opencloud-privileged: failed: boom\\n');
    process.exitCode = 3;
}
`;

function standIn(): HelperCommand {
  const dir = mkdtempSync(join(tmpdir(), 'opencloud-helper-'));
  writeFileSync(join(dir, 'helper.mjs'), STAND_IN);
  return { file: process.execPath, args: [join(dir, 'helper.mjs')] };
}

const OPTS: InstallOptions & { purge: boolean } = {
  source: 'tarball',
  tarball: '/x; rm -rf /',
  init: 'systemd',
  readyTimeout: 60,
  lockTimeout: 120,
  dataDir: '/var/lib/opencloud',
  registryHosts: ['127.0.0.1:5000'],
  purge: false,
};
const RUN_ID = '6a0e1c2d-3b4f-4a5b-9c6d-7e8f9a0b1c2d';

async function runAs(actor: string, command = standIn()) {
  const events: { seq: number; event: InstallerEvent }[] = [];
  const run = privilegedRunner(command, { actor, address: '127.0.0.1' });
  const result = run('enable', OPTS, { runId: RUN_ID, emit: (event, seq) => events.push({ seq, event }) });
  return { result, events };
}

describe('the privileged runner', () => {
  it('sends the request on stdin and streams the numbered events, then returns the result', async () => {
    const { result, events } = await runAs('ok');
    expect((await result).recap).toEqual(RECAP);
    expect(events.map((e) => [e.seq, e.event.type])).toEqual([
      [0, 'run-start'],
      [1, 'log'],
      [2, 'recap'],
    ]);
    expect(JSON.parse(events[0]?.event.message as string)).toEqual({
      op: 'services.enable',
      service: 'container-registry',
      runId: RUN_ID,
      actor: 'ok',
      address: '127.0.0.1',
      options: {
        source: 'tarball',
        tarball: '/x; rm -rf /',
        init: 'systemd',
        purge: false,
        readyTimeout: 60,
        lockTimeout: 120,
      },
    });
  });

  it('returns a failed run as a result too (exit 1 with a result line)', async () => {
    const { result } = await runAs('failed');
    expect((await result).recap.failed).toBe(1);
  });

  it('turns a refusal into 403 PRIVILEGED_REFUSED with the reason', async () => {
    await expect((await runAs('refused')).result).rejects.toMatchObject({
      statusCode: 403,
      code: 'PRIVILEGED_REFUSED',
      message:
        'the privileged helper refused the request: options.sha256 abc is not a pinned BuildKit release checksum',
    });
  });

  it('names the sudoers file and `opencloud install` when sudo itself refuses', async () => {
    const err = await (await runAs('sudo')).result.catch((e: Error) => e);
    expect(err).toMatchObject({ statusCode: 403, code: 'NEEDS_ROOT' });
    expect((err as Error).message).toContain('(sudo: a password is required)');
    expect((err as Error).message).toContain(SUDOERS_FILE);
    expect((err as Error).message).toContain('`opencloud install`');
  });

  it('answers 409 when another run holds the lock', async () => {
    await expect((await runAs('busy')).result).rejects.toMatchObject({
      statusCode: 409,
      code: 'INSTALL_RUNNING',
    });
  });

  it('fails with the helper’s stderr when it ends without a result', async () => {
    const { result, events } = await runAs('crash');
    await expect(result).rejects.toThrow('the privileged helper exited 3 without a result: failed: boom');
    expect(events).toHaveLength(1);
  });

  it('says so when the command cannot be started', async () => {
    const { result } = await runAs('ok', { file: '/nonexistent/sudo', args: ['-n'] });
    await expect(result).rejects.toMatchObject({ statusCode: 503, code: 'PRIVILEGED_UNAVAILABLE' });
  });
});

describe('the services API through the runner', () => {
  const open: { app: FastifyInstance; state: StateStore }[] = [];
  afterEach(async () => {
    vi.restoreAllMocks();
    for (const { app, state } of open.splice(0)) {
      await app.close();
      await state.close();
    }
  });

  async function api(privilegedHelper: HelperCommand | null, actor: string) {
    const dir = mkdtempSync(join(tmpdir(), 'opencloud-privileged-api-'));
    const state = await openSqliteState(dir);
    const { config } = loadConfig({ flags: { dataDir: dir, listen: '127.0.0.1:0' }, env: {} });
    const app = Fastify();
    installErrorHandlers(app);
    // What the auth hook would have set: the helper is told who asked.
    app.addHook('onRequest', async (req) => {
      req.principal = { kind: 'user', name: actor, admin: true } as never;
    });
    await app.register(servicesApi, { config, state, privilegedHelper, lockPath: join(dir, 'lock') });
    open.push({ app, state });
    return app;
  }

  it('runs the seed enable through the helper and answers with its recap', async () => {
    const app = await api(standIn(), 'ok');
    const res = await app.inject({
      method: 'POST',
      url: '/enable-service',
      payload: { service: 'container-registry' },
    });
    expect(res.json()).toMatchObject({
      success: true,
      recap: RECAP,
      message: 'recap: ok=3 changed=1 failed=0 skipped=0',
    });
  });

  it('answers a refusal with 403 and nothing started', async () => {
    const app = await api(standIn(), 'refused');
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/services/container-registry/enable',
      payload: {},
    });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ error: { code: 'PRIVILEGED_REFUSED' } });
  });

  it('keeps 403 NEEDS_ROOT without root or a helper, and says how to set the helper up', async () => {
    vi.spyOn(process, 'getuid').mockReturnValue(1000);
    const app = await api(null, 'ok');
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/services/container-registry/disable',
      payload: {},
    });
    expect(res.statusCode).toBe(403);
    const { error } = res.json() as { error: { code: string; message: string } };
    expect(error.code).toBe('NEEDS_ROOT');
    expect(error.message).toMatch(/runs as uid 1000 .*\/usr\/lib\/opencloud\/bin\/opencloud-privileged/);
    expect(error.message).toContain('run `opencloud install` as root');
  });
});

describe('the installer in this process (a server running as root): the same request policy', () => {
  const open: { app: FastifyInstance; state: StateStore }[] = [];
  let wire: Tripwire | undefined;
  afterEach(async () => {
    vi.restoreAllMocks();
    wire?.restore();
    wire = undefined;
    for (const { app, state } of open.splice(0)) {
      await app.close();
      await state.close();
    }
  });

  async function rootServer(opts: { trusted?: string[]; artifacts?: Artifact[] } = {}) {
    vi.spyOn(process, 'getuid').mockReturnValue(0);
    const dir = mkdtempSync(join(tmpdir(), 'opencloud-in-process-'));
    const state = await openSqliteState(dir);
    const ledger = new Ledger(state);
    if (opts.artifacts) {
      const recap = { ok: 1, changed: 1, failed: 0, skipped: 0 };
      await ledger.beginRun('forged', 'container-registry', 'enable', {});
      await ledger.finishRun(
        'container-registry',
        'enable',
        { runId: 'forged', mode: 'apply', steps: [], recap, artifacts: opts.artifacts, facts: {} },
        {},
      );
    }
    const env = opts.trusted ? { OPENCLOUD_INSTALLER_TRUSTED_SHA256: opts.trusted.join(',') } : {};
    const { config } = loadConfig({ flags: { dataDir: dir, listen: '127.0.0.1:0' }, env });
    const app = Fastify();
    installErrorHandlers(app);
    app.addHook('onRequest', async (req) => {
      req.principal = { kind: 'user', name: 'admin', admin: true } as never;
    });
    // null: no privileged helper, so a server that is root runs the installer itself.
    await app.register(servicesApi, { config, state, privilegedHelper: null, lockPath: join(dir, 'lock') });
    open.push({ app, state });
    wire = hostTripwire();
    return { app, dir, ledger };
  }

  const post = (app: FastifyInstance, action: string, payload: object) =>
    app.inject({ method: 'POST', url: `/api/v1/services/container-registry/${action}`, payload });

  /** A tarball of our own build (not the pinned release) and its checksum. */
  function ownTarball(dir: string): { path: string; sha256: string } {
    mkdirSync(join(dir, 'src', 'bin'), { recursive: true });
    writeFileSync(join(dir, 'src', 'bin', 'buildkitd'), 'own build');
    writeFileSync(join(dir, 'src', 'bin', 'buildctl'), 'own build');
    const path = join(dir, 'own.tgz');
    execFileSync('tar', ['-czf', path, '-C', join(dir, 'src'), 'bin']);
    return { path, sha256: createHash('sha256').update(readFileSync(path)).digest('hex') };
  }

  it('refuses the disable of finding 14 (openssh-server, sudo, systemd) with 403, reverting nothing', async () => {
    const attack: Artifact = { kind: 'package', names: ['openssh-server', 'sudo', 'systemd'] };
    const { app, ledger } = await rootServer({ artifacts: [attack] });
    const res = await post(app, 'disable', { init: 'systemd' });
    expect(res.statusCode, res.body).toBe(403);
    const { error } = res.json() as { error: { code: string; message: string } };
    expect(error.code).toBe('LEDGER_ARTIFACT_REFUSED');
    expect(error.message).toContain(
      'packages ["openssh-server","sudo","systemd"] are not packages the installer installs (containerd, containernetworking-plugins)',
    );
    expect(wire?.calls()).toEqual([]);
    expect(await ledger.runs('container-registry', 10)).toHaveLength(1);
    expect(await ledger.artifacts('container-registry')).toEqual([attack]);
  });

  it('refuses an unpinned checksum with 403 UNTRUSTED_SHA256 naming the key, unless the config trusts it', async () => {
    const { app, dir } = await rootServer();
    const own = ownTarball(dir);
    const body = { source: 'tarball', tarball: own.path, sha256: own.sha256, init: 'systemd' };
    for (const action of ['enable', 'plan']) {
      const res = await post(app, action, body);
      expect(res.statusCode, res.body).toBe(403);
      const { error } = res.json() as { error: { code: string; message: string } };
      expect(error.code).toBe('UNTRUSTED_SHA256');
      expect(error.message).toMatch(
        new RegExp(
          `^sha256 ${own.sha256} is neither a pinned BuildKit release checksum nor listed in installer\\.trustedSha256 of this server's configuration`,
        ),
      );
    }
    expect(wire?.calls()).toEqual([]);
  });

  it('accepts the same checksum once installer.trustedSha256 lists it (a plan: read-only)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opencloud-own-'));
    const own = ownTarball(dir);
    const { app, ledger } = await rootServer({ trusted: [own.sha256] });
    wire?.restore(); // a plan asks dpkg and apt what they would do (read-only)
    const res = await post(app, 'plan', {
      source: 'tarball',
      tarball: own.path,
      sha256: own.sha256,
      init: 'direct',
    });
    expect(res.statusCode, res.body).toBe(202);
    const { runId } = res.json() as { runId: string };
    for (let i = 0; i < 200 && (await ledger.run(runId))?.status === 'running'; i++)
      await new Promise((r) => setTimeout(r, 100));
    const events = await ledger.events(runId, -1);
    expect(events.some((e) => e.event.message?.startsWith(`sha256 ${own.sha256} is not a pinned`))).toBe(
      true,
    );
  }, 60_000);

  it('refuses a tarball that is a symbolic link with 400 TARBALL_REFUSED, nothing started', async () => {
    const { app, dir, ledger } = await rootServer();
    const own = ownTarball(dir);
    symlinkSync(own.path, join(dir, 'link.tgz'));
    const res = await post(app, 'enable', {
      source: 'tarball',
      tarball: join(dir, 'link.tgz'),
      init: 'systemd',
    });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json()).toMatchObject({ error: { code: 'TARBALL_REFUSED' } });
    expect((res.json() as { error: { message: string } }).error.message).toMatch(/is a symbolic link/);
    expect(await ledger.runs('container-registry', 10)).toEqual([]);
    expect(wire?.calls()).toEqual([]);
  });
});

const DIST_MAIN = join(PACKAGE_ROOT, 'dist', 'privileged', 'main.js');

describe.skipIf(!existsSync(DIST_MAIN))('the real helper as a child (dist/)', () => {
  it('runs a read-only plan through the runner: live events, the ledger row under our runId, the audit', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'opencloud-privileged-real-'));
    const script = join(dataDir, 'run-helper.mjs');
    // The helper with a temp data dir instead of /etc/opencloud/config.yaml's; everything else real.
    writeFileSync(
      script,
      `import { helper } from ${JSON.stringify(DIST_MAIN)};
import { loadConfig } from ${JSON.stringify(join(PACKAGE_ROOT, 'dist', 'config', 'load.js'))};
const dataDir = ${JSON.stringify(dataDir)};
process.exitCode = await helper({
  args: process.argv.slice(2), input: process.stdin, uid: 0, sudoUser: 'opencloud',
  stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t),
  config: () => loadConfig({ flags: { dataDir }, env: {} }).config,
  installerDir: dataDir + '/root-only', lockPath: dataDir + '/installer.lock',
});
`,
    );
    const events: { seq: number; event: InstallerEvent }[] = [];
    const run = privilegedRunner(
      { file: process.execPath, args: [script] },
      { actor: 'admin', address: '::1' },
    );
    const result = await run(
      'plan',
      { ...OPTS, source: 'release', tarball: undefined },
      {
        runId: RUN_ID,
        emit: (event, seq) => events.push({ seq, event }),
      },
    );
    expect(result.runId).toBe(RUN_ID);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i));
    expect(events.at(-1)?.event.type).toBe('recap');
    const state = await openSqliteState(dataDir);
    try {
      expect((await new Ledger(state).run(RUN_ID))?.recap).toEqual(result.recap);
      const [entry] = await new AuditTrail(state).list(1);
      expect(entry).toMatchObject({ action: 'privileged.services.plan', actor: 'admin', address: '::1' });
    } finally {
      await state.close();
    }
  });

  it.skipIf(existsSync('/etc/opencloud/config.yaml'))(
    'bin/opencloud-privileged refuses arguments with 64 and records it',
    async () => {
      // A copy of the program (as `opencloud install` lays it out), marked as a checkout so its
      // data dir is its own ./data and not /var/lib/opencloud.
      const root = mkdtempSync(join(tmpdir(), 'opencloud-program-'));
      mkdirSync(join(root, 'bin'));
      cpSync(join(PACKAGE_ROOT, 'bin', 'opencloud-privileged'), join(root, 'bin', 'opencloud-privileged'));
      cpSync(join(PACKAGE_ROOT, 'dist'), join(root, 'dist'), { recursive: true });
      cpSync(join(PACKAGE_ROOT, 'package.json'), join(root, 'package.json'));
      symlinkSync(join(PACKAGE_ROOT, 'node_modules'), join(root, 'node_modules'));
      mkdirSync(join(root, '.git'));
      mkdirSync(join(root, 'data'));
      const r = spawnSync(join(root, 'bin', 'opencloud-privileged'), ['--source', 'go'], {
        input: '{}',
        encoding: 'utf8',
        env: { PATH: `${resolve(process.execPath, '..')}:/usr/bin:/bin` },
      });
      expect(r.status).toBe(process.getuid?.() === 0 ? 64 : 77);
      if (r.status !== 64) return;
      expect(r.stderr).toMatch(/refused: takes no command-line arguments \(got 2\)/);
      const state = await openSqliteState(join(root, 'data'));
      try {
        const [entry] = await new AuditTrail(state).list(1);
        expect(entry).toMatchObject({ action: 'privileged.refused', detail: { input: '["--source","go"]' } });
      } finally {
        await state.close();
      }
    },
  );
});

describe('callHelper', () => {
  it('hands over every protocol line as it arrives', async () => {
    const lines: unknown[] = [];
    const exit = await callHelper(standIn(), { actor: 'ok', runId: RUN_ID, op: 'services.plan' }, (l) =>
      lines.push(l),
    );
    expect(exit).toMatchObject({ code: 0, lines: 5 });
    expect(lines[0]).toEqual({
      accepted: { op: 'services.plan', runId: RUN_ID, dataDir: '/var/lib/opencloud' },
    });
  });
});

describe('helperError', () => {
  const cmd = { file: '/usr/bin/sudo', args: ['-n', '/usr/lib/opencloud/bin/opencloud-privileged'] };
  const exit = (code: number, stderr: string, lines = 0) => ({ code, signal: null, lines, stderr });

  it('explains a sandbox that keeps sudo from becoming root', () => {
    const err = helperError(
      cmd,
      exit(1, 'sudo: The "no new privileges" flag is set, which prevents sudo from running as root.\n'),
    );
    expect(err).toMatchObject({ code: 'NEEDS_ROOT' });
    expect(err.message).toMatch(/runs with NoNewPrivileges/);
  });

  it('answers the request policy’s refusals with their own codes and statuses', () => {
    const refused = (code: string) => ({
      ...exit(64, `opencloud-privileged: refused: why ${code}\n`, 1),
      error: { code, message: `why ${code}` },
    });
    expect(helperError(cmd, refused('UNTRUSTED_SHA256'))).toMatchObject({
      statusCode: 403,
      code: 'UNTRUSTED_SHA256',
      message: 'the privileged helper refused the request: why UNTRUSTED_SHA256',
    });
    expect(helperError(cmd, refused('LEDGER_ARTIFACT_REFUSED'))).toMatchObject({
      statusCode: 403,
      code: 'LEDGER_ARTIFACT_REFUSED',
    });
    expect(helperError(cmd, refused('TARBALL_REFUSED'))).toMatchObject({
      statusCode: 400,
      code: 'TARBALL_REFUSED',
    });
    expect(helperError(cmd, refused('REFUSED'))).toMatchObject({
      statusCode: 403,
      code: 'PRIVILEGED_REFUSED',
    });
    expect(helperError(cmd, refused('toString'))).toMatchObject({
      statusCode: 403,
      code: 'PRIVILEGED_REFUSED',
    });
  });

  it('does not take sudo warnings for a refusal when the helper itself answered', () => {
    const stderr =
      'sudo: unable to resolve host box: Name or service not known\n' +
      'opencloud-privileged: refused: op must be one of services.plan\n';
    expect(helperError(cmd, exit(64, stderr))).toMatchObject({
      code: 'PRIVILEGED_REFUSED',
      message: 'the privileged helper refused the request: op must be one of services.plan',
    });
    expect(helperError(cmd, exit(1, stderr.replace('refused: ', 'failed: ')))).not.toMatchObject({
      code: 'NEEDS_ROOT',
    });
  });
});
