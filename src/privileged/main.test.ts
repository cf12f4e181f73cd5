// The privileged helper end to end in this process, on a temp data dir and a real state store:
// refusals (arguments, bad JSON, extra keys, a forged ledger, packages root needs, a checksum
// root does not trust, a tarball that is a link, a FIFO or not a file) are answered with 64 and
// recorded; a plan runs for real (read-only) and streams its events, with a checksum root trusts
// too; an apply with nothing to do succeeds. Also that files it creates stay the data dir owner's.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chownSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.js';
import type { Artifact } from '../installer/artifacts.js';
import { AuditTrail } from '../ledger/audit.js';
import { emptyDocument } from '../ledger/document.js';
import { Ledger } from '../ledger/records.js';
import { openSqliteState } from '../state/sqlite.js';
import { hostTripwire } from '../../test/support/host-tripwire.js';
import { helper, type HelperIo } from './main.js';
import type { HelperLine } from './protocol.js';

const RUN_ID = '3c1d2b4a-5e6f-4a7b-8c9d-0e1f2a3b4c5d';
const enable = {
  op: 'services.enable',
  service: 'container-registry',
  runId: RUN_ID,
  actor: 'admin',
  address: '10.0.0.7',
  options: {},
};

async function* chunks(text: string) {
  yield Buffer.from(text);
}

interface Ran {
  code: number;
  lines: HelperLine[];
  stderr: string;
  dataDir: string;
}

async function run(input: unknown, extra: Partial<HelperIo> & { dataDir?: string } = {}): Promise<Ran> {
  const dataDir = extra.dataDir ?? mkdtempSync(join(tmpdir(), 'opencloud-privileged-'));
  let stdout = '';
  let stderr = '';
  const code = await helper({
    args: [],
    input: chunks(typeof input === 'string' ? input : JSON.stringify(input)),
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    uid: 0,
    sudoUser: 'opencloud',
    config: () => loadConfig({ flags: { dataDir }, env: {} }).config,
    installerDir: join(dataDir, 'root-only'),
    lockPath: join(dataDir, 'installer.lock'),
    ...extra,
  });
  const lines = stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as HelperLine);
  return { code, lines, stderr, dataDir };
}

async function audit(dataDir: string) {
  const state = await openSqliteState(dataDir);
  try {
    return await new AuditTrail(state).list(10);
  } finally {
    await state.close();
  }
}

describe('refusals', () => {
  it('refuses command-line arguments without reading stdin, and records it', async () => {
    const r = await run('', { args: ['--purge', '/bin/sh -c id'] });
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/^opencloud-privileged: refused: takes no command-line arguments \(got 2\)/);
    const [entry] = await audit(r.dataDir);
    expect(entry).toMatchObject({
      actor: 'unknown',
      action: 'privileged.refused',
      status: 403,
      target: 'unknown',
      detail: { input: '["--purge","/bin/sh -c id"]', sudoUser: 'opencloud' },
    });
  });

  it('refuses bad JSON and keeps only 1 KiB of it', async () => {
    const r = await run('{"op":"services.enable",' + 'x'.repeat(5000));
    expect(r.code).toBe(64);
    expect(r.lines).toEqual([{ error: { code: 'REFUSED', message: expect.stringMatching(/not JSON/) } }]);
    const [entry] = await audit(r.dataDir);
    expect(entry?.detail?.input).toHaveLength(1024);
    expect(entry?.detail?.inputBytes).toBe(5024);
  });

  it('records the actor and op of a request with an unknown key', async () => {
    const r = await run({ ...enable, actor: 'mallory', argv: ['rm', '-rf', '/'] });
    expect(r.code).toBe(64);
    const [entry] = await audit(r.dataDir);
    expect(entry).toMatchObject({
      actor: 'mallory',
      address: '10.0.0.7',
      action: 'privileged.refused',
      target: 'services.enable',
      detail: { reason: expect.stringMatching(/^argv is not a known key/) },
    });
  });

  it('refuses a tarball that is not a regular file before anything starts', async () => {
    const r = await run({ ...enable, options: { source: 'tarball', tarball: '/dev/zero' } });
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/refused: tarball \/dev\/zero is not a regular file/);
    expect(r.lines.some((l) => 'accepted' in l)).toBe(false);
  });

  /** A data dir whose ledger says enabling recorded `artifacts` (the service user could write that). */
  async function forgedLedger(artifacts: Artifact[]): Promise<string> {
    const dataDir = mkdtempSync(join(tmpdir(), 'opencloud-privileged-'));
    const state = await openSqliteState(dataDir);
    const recap = { ok: 1, changed: 1, failed: 0, skipped: 0 };
    const ledger = new Ledger(state);
    await ledger.beginRun('forged', 'container-registry', 'enable', {});
    await ledger.finishRun(
      'container-registry',
      'enable',
      { runId: 'forged', mode: 'apply', steps: [], recap, artifacts, facts: {} },
      {},
    );
    await state.close();
    return dataDir;
  }

  it('refuses a disable when the ledger lists what the installer never writes', async () => {
    // A file root would delete if the guard let the disable through (a temp file, so a broken
    // guard costs nothing here): it must still be there afterwards.
    const victim = join(mkdtempSync(join(tmpdir(), 'opencloud-victim-')), 'victim');
    writeFileSync(victim, 'keep me');
    const dataDir = await forgedLedger([{ kind: 'file', role: 'config', path: victim }]);
    const r = await run({ ...enable, op: 'services.disable' }, { dataDir });
    expect(r.code).toBe(64);
    expect(r.stderr).toContain(`file ${JSON.stringify(victim)} is not a file the installer writes`);
    expect(existsSync(victim)).toBe(true);
    const [entry] = await audit(dataDir);
    expect(entry).toMatchObject({ action: 'privileged.refused', target: 'services.disable', actor: 'admin' });
  });

  it('refuses the disable of finding 14: a ledger listing openssh-server, sudo and systemd', async () => {
    const dataDir = await forgedLedger([{ kind: 'package', names: ['openssh-server', 'sudo', 'systemd'] }]);
    const wire = hostTripwire();
    const r = await run({ ...enable, op: 'services.disable' }, { dataDir }).finally(() => wire.restore());
    expect(wire.calls()).toEqual([]);
    expect(r.code).toBe(64);
    expect(r.lines).toEqual([
      {
        error: {
          code: 'LEDGER_ARTIFACT_REFUSED',
          message: expect.stringContaining(
            'packages ["openssh-server","sudo","systemd"] are not packages the installer installs (containerd, containernetworking-plugins)',
          ),
        },
      },
    ]);
    const [entry] = await audit(dataDir);
    expect(entry).toMatchObject({ action: 'privileged.refused', target: 'services.disable', status: 403 });
    const state = await openSqliteState(dataDir);
    try {
      // Nothing ran: the forged enable is still the only run, its record untouched.
      expect(await new Ledger(state).runs('container-registry', 10)).toHaveLength(1);
    } finally {
      await state.close();
    }
  });

  it('refuses a checksum that is neither pinned nor in installer.trustedSha256, before anything starts', async () => {
    const sha256 = 'ab'.repeat(32);
    const r = await run({ ...enable, options: { source: 'tarball', tarball: '/srv/own.tgz', sha256 } });
    expect(r.code).toBe(64);
    expect(r.lines).toEqual([
      {
        error: {
          code: 'UNTRUSTED_SHA256',
          message: expect.stringMatching(
            new RegExp(
              `^sha256 ${sha256} is neither a pinned BuildKit release checksum nor listed in installer\\.trustedSha256 of /etc/opencloud/config\\.yaml`,
            ),
          ),
        },
      },
    ]);
  });

  it('refuses a tarball that is a symbolic link, or a FIFO, before anything starts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opencloud-tarballs-'));
    writeFileSync(join(dir, 'real.tgz'), 'x');
    symlinkSync(join(dir, 'real.tgz'), join(dir, 'link.tgz'));
    expect(spawnSync('mkfifo', [join(dir, 'fifo.tgz')]).status).toBe(0);
    for (const [name, reason] of [
      ['link.tgz', /is a symbolic link/],
      ['fifo.tgz', /is not a regular file/],
    ] as const) {
      const r = await run({ ...enable, options: { source: 'tarball', tarball: join(dir, name) } });
      expect(r.code).toBe(64);
      expect(r.lines).toEqual([
        { error: { code: 'TARBALL_REFUSED', message: expect.stringMatching(reason) } },
      ]);
    }
  }, 10_000);

  it('refuses a ledger document whose enable names a linked tarball, before anything starts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opencloud-tarballs-'));
    writeFileSync(join(dir, 'real.tgz'), 'x');
    symlinkSync(join(dir, 'real.tgz'), join(dir, 'link.tgz'));
    const options = {
      source: 'tarball',
      tarball: join(dir, 'link.tgz'),
      init: 'direct',
      readyTimeout: 60,
      lockTimeout: 120,
    };
    const document = {
      ...emptyDocument(),
      services: [{ name: 'container-registry', state: 'enabled', options, facts: {}, artifacts: [] }],
    };
    const r = await run({ op: 'ledger.apply', document, runId: RUN_ID, actor: 'admin', address: '::1' });
    expect(r.code).toBe(64);
    expect(r.lines).toEqual([
      { error: { code: 'TARBALL_REFUSED', message: expect.stringMatching(/is a symbolic link/) } },
    ]);
  });

  it('refuses to run as anyone but root', async () => {
    const r = await run(enable, { uid: 1000 });
    expect(r.code).toBe(77);
    expect(r.stderr).toMatch(/must run as root/);
  });
});

describe('accepted requests', () => {
  it('runs a plan for real: events as lines, the run in the ledger under the given runId, audited', async () => {
    const r = await run({ ...enable, op: 'services.plan' });
    expect([0, 1]).toContain(r.code);
    expect(r.lines[0]).toEqual({ accepted: { op: 'services.plan', runId: RUN_ID, dataDir: r.dataDir } });
    const events = r.lines.filter((l) => 'seq' in l);
    expect(events.map((l) => l.seq)).toEqual(events.map((_, i) => i));
    expect(events.every((l) => l.event.runId === RUN_ID)).toBe(true);
    const last = r.lines.at(-1) as { result: { runId: string; recap: { failed: number } } };
    expect(last.result.runId).toBe(RUN_ID);
    expect(r.code).toBe(last.result.recap.failed > 0 ? 1 : 0);
    const state = await openSqliteState(r.dataDir);
    expect((await new Ledger(state).run(RUN_ID))?.status).toBe(r.code === 0 ? 'ok' : 'failed');
    await state.close();
    const [entry] = await audit(r.dataDir);
    expect(entry).toMatchObject({
      action: 'privileged.services.plan',
      target: 'container-registry',
      status: r.code === 0 ? 200 : 500,
      detail: { runId: RUN_ID, sudoUser: 'opencloud', recap: last.result.recap },
    });
  });

  it('plans with a checksum root listed in installer.trustedSha256', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'opencloud-privileged-'));
    mkdirSync(join(dataDir, 'src', 'bin'), { recursive: true });
    writeFileSync(join(dataDir, 'src', 'bin', 'buildkitd'), 'own build');
    writeFileSync(join(dataDir, 'src', 'bin', 'buildctl'), 'own build');
    const tarball = join(dataDir, 'own.tgz');
    execFileSync('tar', ['-czf', tarball, '-C', join(dataDir, 'src'), 'bin']);
    const sha256 = createHash('sha256').update(readFileSync(tarball)).digest('hex');
    const config = () => {
      const c = loadConfig({ flags: { dataDir }, env: {} }).config;
      return { ...c, installer: { trustedSha256: [sha256] } };
    };
    const r = await run(
      { ...enable, op: 'services.plan', options: { source: 'tarball', tarball, sha256, init: 'direct' } },
      { dataDir, config },
    );
    expect(r.lines[0]).toEqual({ accepted: { op: 'services.plan', runId: RUN_ID, dataDir } });
    const logs = r.lines.flatMap((l) => ('seq' in l && l.event.type === 'log' ? [l.event.message] : []));
    expect(logs).toContain(
      `sha256 ${sha256} is not a pinned BuildKit v0.16.0 release checksum: it is installed because it was named explicitly (--sha256, trusted by root)`,
    );
  }, 60_000);

  it('applies a document with nothing to do', async () => {
    const document = emptyDocument();
    const r = await run({ op: 'ledger.apply', document, runId: RUN_ID, actor: 'admin', address: '::1' });
    expect(r.code).toBe(0);
    expect(r.lines.at(-1)).toEqual({
      result: { type: 'ledger-apply', differences: [], services: [], summary: ['nothing to apply'] },
    });
    const [entry] = await audit(r.dataDir);
    expect(entry).toMatchObject({ action: 'privileged.ledger.apply', target: 'ledger', status: 200 });
  });
});

describe.skipIf(process.getuid?.() !== 0)('ownership of the data dir', () => {
  it('creates the state as the data dir owner and hands root-owned leftovers back, links untouched', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'opencloud-privileged-'));
    chownSync(dataDir, 65534, 65534);
    writeFileSync(join(dataDir, 'left-by-root'), 'x');
    const outside = join(mkdtempSync(join(tmpdir(), 'opencloud-outside-')), 'root-file');
    writeFileSync(outside, 'secret');
    linkSync(outside, join(dataDir, 'hard-link'));
    symlinkSync(outside, join(dataDir, 'sym-link'));
    const r = await run('not json', { dataDir });
    expect(r.code).toBe(64);
    for (const name of ['state.db', 'left-by-root']) expect(statSync(join(dataDir, name)).uid).toBe(65534);
    expect(statSync(outside).uid).toBe(0);
    expect(process.geteuid?.()).toBe(0);
    const [entry] = await audit(dataDir);
    expect(entry).toMatchObject({ action: 'privileged.refused' });
  });
});
