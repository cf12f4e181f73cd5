// The request policy both root paths share: the package names it allows are exactly the ones the
// installer's steps hand apt (read from their source, so a package added to a step without
// declaring it fails here); finding 14's ledger and an unpinned checksum are refused by the
// installer itself when a run is a requested one, before anything starts or is recorded; the
// same run with the checksum trusted, or with the installer's own packages, goes ahead.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostTripwire } from '../../test/support/host-tripwire.js';
import { Ledger } from '../ledger/records.js';
import { openSqliteState } from '../state/sqlite.js';
import type { Artifact } from './artifacts.js';
import * as pins from './components/buildkit-pins.js';
import { runService } from './container-registry.js';
import type { InstallOptions } from './options.js';
import {
  checkRequested,
  INSTALLER_PACKAGES,
  PolicyRefusal,
  POLICY_STATUS,
  untrustedSha256,
  type RequestedRun,
} from './request-policy.js';
import type { InstallerEvent } from './types.js';

const ATTACK = { kind: 'package', names: ['openssh-server', 'sudo', 'systemd'] } as Artifact;
const PINNED = pins.PINNED_SHA256.amd64 as string;
const OTHER = 'ab'.repeat(32);

function options(dataDir: string, extra: Partial<InstallOptions> = {}): InstallOptions {
  return {
    source: 'release',
    init: 'direct',
    readyTimeout: 5,
    lockTimeout: 5,
    dataDir,
    registryHosts: ['127.0.0.1:5000'],
    ...extra,
  };
}

const request = (trusted: string[] = []): RequestedRun => ({ trustedSha256: trusted, trustedIn: 'THE KEY' });

function refusal(fn: () => void): PolicyRefusal {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyRefusal);
    return err as PolicyRefusal;
  }
  throw new Error('not refused');
}

describe('the packages the policy allows', () => {
  it('are the ones the installer declares: containerd and the CNI plugins', () => {
    expect([...INSTALLER_PACKAGES].sort()).toEqual(['containerd', 'containernetworking-plugins']);
  });

  it('cover every package a step of the installer hands apt', () => {
    const dirs = ['src/installer', 'src/installer/components'];
    const files = dirs.flatMap((d) =>
      readdirSync(d)
        .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
        .map((f) => join(d, f)),
    );
    const declared = new Map(
      Object.entries(pins).filter(([name]) => name.endsWith('_PACKAGE')) as [string, string][],
    );
    const calls: string[] = [];
    for (const f of files) {
      for (const m of readFileSync(f, 'utf8').matchAll(
        /\b(?:aptInstall|simulateInstall)\(\s*\[([^\]]*)\]/g,
      )) {
        for (const arg of (m[1] as string)
          .split(',')
          .map((a) => a.trim())
          .filter(Boolean)) {
          calls.push(`${f}: ${arg}`);
          // A name given to apt is one of buildkit-pins.ts's *_PACKAGE facts, never a literal.
          expect(
            declared.has(arg),
            `${f} hands apt ${arg}: declare it as a *_PACKAGE in buildkit-pins.ts`,
          ).toBe(true);
          expect(INSTALLER_PACKAGES.has(declared.get(arg) as string)).toBe(true);
        }
      }
    }
    expect(calls.length).toBeGreaterThanOrEqual(3); // containerd (install, simulate), the CNI plugins
  });
});

describe('checkRequested', () => {
  const dir = '/var/lib/opencloud';
  it('refuses a disable whose ledger lists packages root needs (finding 14), naming them', () => {
    const err = refusal(() => checkRequested('disable', options(dir), [ATTACK], request()));
    expect(err.code).toBe('LEDGER_ARTIFACT_REFUSED');
    expect(err.status).toBe(403);
    expect(err.message).toContain(
      'packages ["openssh-server","sudo","systemd"] are not packages the installer installs',
    );
    expect(err.message).toContain('sudo opencloud services disable container-registry');
  });

  it('lets through a disable of what the installer records', () => {
    const ours: Artifact[] = [
      { kind: 'package', names: [pins.CONTAINERD_PACKAGE] },
      { kind: 'package', names: [pins.CNI_PACKAGE] },
      { kind: 'file', role: 'config', path: pins.CNI_CONFIG },
      {
        kind: 'file',
        role: 'config',
        path: pins.BUILDKIT_CONFIG,
        prior: { backup: `${dir}/installer/backups/run/etc_buildkit_buildkitd.toml`, mode: 0o644 },
      },
      { kind: 'group', name: pins.BUILDKIT_GROUP },
    ];
    expect(() => checkRequested('disable', options(dir), ours, request())).not.toThrow();
  });

  it('refuses a checksum that is neither pinned nor trusted, on any action, naming the key', () => {
    for (const action of ['plan', 'enable', 'disable'] as const) {
      const err = refusal(() =>
        checkRequested(
          action,
          options(dir, { source: 'tarball', tarball: '/t.tgz', sha256: OTHER }),
          [],
          request(),
        ),
      );
      expect(err.code).toBe('UNTRUSTED_SHA256');
      expect(POLICY_STATUS[err.code]).toBe(403);
      expect(err.message).toMatch(
        new RegExp(`^sha256 ${OTHER} is neither a pinned BuildKit release checksum nor listed in THE KEY`),
      );
    }
  });

  it('accepts a pinned checksum, and one root trusts (its own list, never the options)', () => {
    const tarball = { source: 'tarball', tarball: '/t.tgz' } as const;
    expect(() =>
      checkRequested('enable', options(dir, { ...tarball, sha256: PINNED }), [], request()),
    ).not.toThrow();
    expect(() =>
      checkRequested('enable', options(dir, { ...tarball, sha256: OTHER }), [], request([OTHER])),
    ).not.toThrow();
    expect(() =>
      checkRequested(
        'enable',
        options(dir, { ...tarball, sha256: OTHER, trustedSha256: [OTHER] }),
        [],
        request(),
      ),
    ).toThrow(PolicyRefusal);
    expect(untrustedSha256([OTHER.toUpperCase()], [OTHER])).toBeUndefined();
  });
});

describe('runService for a requested run (the installer in a server running as root)', () => {
  async function ledgerWith(artifacts: Artifact[]) {
    const dataDir = mkdtempSync(join(tmpdir(), 'opencloud-policy-'));
    const state = await openSqliteState(dataDir);
    const ledger = new Ledger(state);
    await ledger.beginRun('forged', 'container-registry', 'enable', {});
    const recap = { ok: 1, changed: 1, failed: 0, skipped: 0 };
    await ledger.finishRun(
      'container-registry',
      'enable',
      { runId: 'forged', mode: 'apply', steps: [], recap, artifacts, facts: {} },
      {},
    );
    return { dataDir, state, ledger };
  }

  it('refuses the disable of finding 14 before it records or reverts anything, and frees the lock', async () => {
    const { dataDir, state, ledger } = await ledgerWith([ATTACK]);
    const wire = hostTripwire();
    try {
      const events: InstallerEvent[] = [];
      const lockPath = join(dataDir, 'lock');
      const run = runService('disable', options(dataDir), ledger, {
        emit: (e) => events.push(e),
        lockPath,
        requested: request(),
      });
      await expect(run).rejects.toMatchObject({ code: 'LEDGER_ARTIFACT_REFUSED' });
      expect(events).toEqual([]);
      expect(await ledger.runs('container-registry', 10)).toHaveLength(1); // the forged one only
      expect(await ledger.artifacts('container-registry')).toEqual([ATTACK]);
      // The lock is free again: a run refused holds nothing.
      await expect(
        runService('disable', options(dataDir), ledger, {
          emit: () => undefined,
          lockPath,
          requested: request(),
        }),
      ).rejects.toMatchObject({ code: 'LEDGER_ARTIFACT_REFUSED' });
      expect(wire.calls()).toEqual([]);
    } finally {
      wire.restore();
      await state.close();
    }
  });

  it('refuses an unpinned checksum unless trusted, and plans with it once it is', async () => {
    const { dataDir, state, ledger } = await ledgerWith([]);
    try {
      const src = join(dataDir, 'src');
      mkdirSync(join(src, 'bin'), { recursive: true });
      writeFileSync(join(src, 'bin', 'buildkitd'), 'not really buildkitd');
      writeFileSync(join(src, 'bin', 'buildctl'), 'not really buildctl');
      const tarball = join(dataDir, 'own-build.tgz');
      execFileSync('tar', ['-czf', tarball, '-C', src, 'bin']);
      const sha256 = createHash('sha256').update(readFileSync(tarball)).digest('hex');
      const opts = options(dataDir, { source: 'tarball', tarball, sha256 });
      const plan = (req: RequestedRun) => {
        const events: InstallerEvent[] = [];
        return runService('plan', opts, ledger, { emit: (e) => events.push(e), requested: req }).then(
          (r) => ({
            r,
            events,
          }),
        );
      };
      await expect(plan(request())).rejects.toMatchObject({ code: 'UNTRUSTED_SHA256' });
      expect(await ledger.runs('container-registry', 10)).toHaveLength(1);
      const { r, events } = await plan(request([sha256]));
      expect((await ledger.run(r.runId))?.action).toBe('plan');
      const logs = events.filter((e) => e.type === 'log').map((e) => e.message);
      expect(logs).toContain(
        `sha256 ${sha256} is not a pinned BuildKit v0.16.0 release checksum: it is installed because it was named explicitly (--sha256, trusted by root)`,
      );
      // Nothing stays behind: the tarball's copy had no name, its directory is gone.
      expect(readdirSync(join(dataDir, 'installer', 'work'))).toEqual([]);
    } finally {
      await state.close();
    }
  }, 60_000);

  it('refuses a tarball that is a symbolic link with TARBALL_REFUSED (400)', async () => {
    const { dataDir, state, ledger } = await ledgerWith([]);
    try {
      writeFileSync(join(dataDir, 'real.tgz'), 'x');
      const { symlinkSync } = await import('node:fs');
      symlinkSync(join(dataDir, 'real.tgz'), join(dataDir, 'link.tgz'));
      const opts = options(dataDir, {
        source: 'tarball',
        tarball: join(dataDir, 'link.tgz'),
        sha256: PINNED,
      });
      const err = await runService('plan', opts, ledger, {
        emit: () => undefined,
        requested: request(),
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PolicyRefusal);
      expect(err).toMatchObject({ code: 'TARBALL_REFUSED', status: 400 });
      expect((err as Error).message).toMatch(/is a symbolic link/);
    } finally {
      await state.close();
    }
  });
});
