// The helper's host checks: the artifacts the installer itself records pass; anything a forged
// ledger could use to make root remove, restore or run something else is refused; a tarball
// must be a regular file its requester could read.
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { allowedFor, artifactProblem, artifactProblems, backupRoot, tarballProblem } from './guard.js';

const DIR = '/var/lib/opencloud-privileged';
const backup = `${backupRoot(DIR)}/0b6f7c1e-8d2a-4c55-9a3e-2f4b6d8e0a1c/_etc_buildkit_buildkitd.toml`;

describe('artifacts a disable may revert', () => {
  it('accepts what the installer records', () => {
    const ours = [
      { kind: 'package', names: ['containerd', 'runc', 'libfoo1:amd64'] },
      { kind: 'service', unit: 'containerd.service', enabled: true, started: true },
      { kind: 'process', name: 'containerd', pidFile: '/run/opencloud/containerd.pid' },
      { kind: 'file', role: 'binary', path: '/usr/local/bin/buildkitd' },
      { kind: 'file', role: 'binary', path: '/usr/local/bin/buildctl' },
      { kind: 'group', name: 'buildkit' },
      { kind: 'directory', path: '/etc/buildkit' },
      { kind: 'file', role: 'config', path: '/etc/buildkit/buildkitd.toml', prior: { backup, mode: 0o644 } },
      { kind: 'file', role: 'unit', path: '/etc/systemd/system/buildkit.service' },
      { kind: 'service', unit: 'buildkit.service', enabled: true, started: false },
      { kind: 'process', name: 'buildkitd', pidFile: '/run/opencloud/buildkitd.pid' },
    ];
    expect(artifactProblems(ours as never, DIR)).toEqual([]);
  });

  const forged: [string, unknown, RegExp][] = [
    [
      'a file elsewhere',
      { kind: 'file', role: 'config', path: '/etc/shadow' },
      /not a file the installer writes/,
    ],
    [
      'a path with ..',
      { kind: 'file', role: 'binary', path: '/usr/local/bin/../../../etc/passwd' },
      /not a file/,
    ],
    [
      'a binary as a unit',
      { kind: 'file', role: 'unit', path: '/usr/local/bin/buildkitd' },
      /has role "unit"/,
    ],
    [
      'a backup from the data dir',
      {
        kind: 'file',
        role: 'unit',
        path: '/etc/systemd/system/buildkit.service',
        prior: { backup: '/var/lib/opencloud/installer/backups/x/unit', mode: 0o644 },
      },
      /is not under \/var\/lib\/opencloud-privileged\/installer\/backups\//,
    ],
    [
      'a backup escaping with ..',
      {
        kind: 'file',
        role: 'config',
        path: '/etc/buildkit/buildkitd.toml',
        prior: { backup: `${backupRoot(DIR)}/../../../../../tmp/evil`, mode: 0o644 },
      },
      /is not under/,
    ],
    [
      'a world-writable restore',
      {
        kind: 'file',
        role: 'unit',
        path: '/etc/systemd/system/buildkit.service',
        prior: { backup, mode: 0o666 },
      },
      /backup mode 438 is not a mode/,
    ],
    [
      'a setuid restore',
      { kind: 'file', role: 'binary', path: '/usr/local/bin/buildctl', prior: { backup, mode: 0o4755 } },
      /is not a mode the helper restores/,
    ],
    ['a directory elsewhere', { kind: 'directory', path: '/etc' }, /not one the installer creates/],
    [
      'an apt option as a package',
      { kind: 'package', names: ['-oAPT::Update::Pre-Invoke::=id'] },
      /Debian package/,
    ],
    ['a package with a space', { kind: 'package', names: ['containerd sudo'] }, /Debian package/],
    ['another group', { kind: 'group', name: 'sudo' }, /is not buildkit/],
    [
      'another unit',
      { kind: 'service', unit: 'ssh.service', enabled: true, started: true },
      /not one the installer/,
    ],
    [
      'a pid file elsewhere',
      { kind: 'process', name: 'buildkitd', pidFile: '/var/run/sshd.pid' },
      /not a daemon the installer starts/,
    ],
    ['an unknown kind', { kind: 'command', argv: ['id'] }, /kind "command" is not one/],
    [
      'a tree (rm -rf on revert)',
      { kind: 'tree', path: '/' },
      /kind "tree" is not one the container-registry/,
    ],
    ['a user', { kind: 'user', name: 'root' }, /kind "user" is not one/],
    ['not an object', 'rm -rf /', /not an object/],
  ];
  for (const [what, artifact, reason] of forged) {
    it(`refuses ${what}`, () => expect(artifactProblem(artifact, DIR)).toMatch(reason));
  }
});

describe('tarballs', () => {
  it('judges read and search permission as the kernel would for owner, group and others', () => {
    expect(allowedFor({ uid: 5, gid: 5, mode: 0o600 }, 5, 9)).toBe(true);
    expect(allowedFor({ uid: 5, gid: 5, mode: 0o060 }, 5, 5)).toBe(false); // owner bits decide
    expect(allowedFor({ uid: 0, gid: 5, mode: 0o640 }, 7, 5)).toBe(true);
    expect(allowedFor({ uid: 0, gid: 0, mode: 0o600 }, 7, 5)).toBe(false);
    expect(allowedFor({ uid: 0, gid: 0, mode: 0o755 }, 7, 5, 'search')).toBe(true);
    expect(allowedFor({ uid: 0, gid: 0, mode: 0o750 }, 7, 5, 'search')).toBe(false);
  });

  it('accepts a readable regular file and refuses devices, missing files and private ones', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opencloud-guard-'));
    chmodSync(dir, 0o755);
    const file = join(dir, 'buildkit.tgz');
    writeFileSync(file, 'x');
    chmodSync(file, 0o644);
    const nobody = { uid: 65534, gid: 65534 };
    expect(await tarballProblem(file, nobody)).toBeUndefined();
    expect(await tarballProblem('/dev/zero', nobody)).toMatch(/not a regular file/);
    expect(await tarballProblem(join(dir, 'missing.tgz'), nobody)).toMatch(/cannot be read: ENOENT/);
    if (process.getuid?.() === 0) {
      chmodSync(file, 0o600);
      expect(await tarballProblem(file, nobody)).toMatch(/not readable by uid 65534/);
      chmodSync(file, 0o644);
      const hidden = join(dir, 'private');
      mkdirSync(hidden, { mode: 0o700 });
      writeFileSync(join(hidden, 'b.tgz'), 'x', { mode: 0o644 });
      expect(await tarballProblem(join(hidden, 'b.tgz'), nobody)).toMatch(/not readable by uid 65534/);
    }
  });
});
