// The helper's host checks: the artifacts the installer itself records pass; anything a forged
// ledger could use to make root remove, restore or run something else is refused (packages
// included: only those the installer installs); a tarball is opened once as the data dir's
// owner, never through a link, and must be a regular file; the trusted checksums count only from
// a file only root can change.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CNI_PACKAGE, CONTAINERD_PACKAGE } from '../installer/components/buildkit-pins.js';
import { artifactProblem, artifactProblems, openOwnersTarball, rootOnlyProblem } from './guard.js';
import { backupRootOf } from '../installer/request-policy.js';

const DIR = '/var/lib/opencloud-privileged';
const backup = `${backupRootOf(DIR)}/0b6f7c1e-8d2a-4c55-9a3e-2f4b6d8e0a1c/_etc_buildkit_buildkitd.toml`;

describe('artifacts a disable may revert', () => {
  it('accepts what the installer records', () => {
    const ours = [
      { kind: 'package', names: [CONTAINERD_PACKAGE] },
      { kind: 'package', names: [CNI_PACKAGE] },
      { kind: 'package', names: [] },
      { kind: 'file', role: 'config', path: '/etc/buildkit/cni.conflist' },
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
        prior: { backup: `${backupRootOf(DIR)}/../../../../../tmp/evil`, mode: 0o644 },
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
      /is not a mode the installer restores/,
    ],
    ['a directory elsewhere', { kind: 'directory', path: '/etc' }, /not one the installer creates/],
    [
      'packages root needs (issue 17, finding 14)',
      { kind: 'package', names: ['openssh-server', 'sudo', 'systemd'] },
      /packages \["openssh-server","sudo","systemd"\] are not packages the installer installs \(containerd, containernetworking-plugins\)/,
    ],
    [
      'another package beside the installer’s own',
      { kind: 'package', names: ['containerd', 'runc'] },
      /packages \["runc"\] are not packages the installer installs/,
    ],
    [
      'an apt option as a package',
      { kind: 'package', names: ['-oAPT::Update::Pre-Invoke::=id'] },
      /are not packages the installer installs/,
    ],
    [
      'a package with a space',
      { kind: 'package', names: ['containerd sudo'] },
      /are not packages the installer installs/,
    ],
    ['package names that are not a list', { kind: 'package', names: 'containerd' }, /not a list/],
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

describe('tarballs, opened once as the data dir owner', () => {
  const nobody = { uid: 65534, gid: 65534 };
  const root = { uid: 0, gid: 0 };
  const dir = () => {
    const d = mkdtempSync(join(tmpdir(), 'opencloud-guard-'));
    chmodSync(d, 0o755);
    return d;
  };
  const refused = async (path: string, owner = nobody) => {
    const r = await openOwnersTarball(path, owner);
    if (typeof r !== 'string') await r.close();
    return r;
  };

  it('opens a readable regular file, and refuses devices and missing files', async () => {
    const d = dir();
    const file = join(d, 'buildkit.tgz');
    writeFileSync(file, 'x', { mode: 0o644 });
    const fh = await openOwnersTarball(file, nobody);
    expect(typeof fh).not.toBe('string');
    if (typeof fh !== 'string') {
      expect((await fh.readFile()).toString()).toBe('x');
      await fh.close();
    }
    expect(await refused('/dev/zero')).toMatch(/^tarball \/dev\/zero is not a regular file$/);
    expect(await refused(join(d, 'missing.tgz'))).toMatch(/cannot be opened: ENOENT/);
    expect(await refused(d)).toMatch(/is not a regular file/);
  });

  it('refuses a symbolic link to a regular file, naming where it points', async () => {
    const d = dir();
    writeFileSync(join(d, 'real.tgz'), 'x', { mode: 0o644 });
    symlinkSync(join(d, 'real.tgz'), join(d, 'link.tgz'));
    expect(await refused(join(d, 'link.tgz'), root)).toBe(
      `tarball ${join(d, 'link.tgz')} is a symbolic link (to ${join(d, 'real.tgz')}): name the file itself (links are not followed, so what is checked is what is read)`,
    );
  });

  it('refuses a FIFO at once instead of waiting for a writer', async () => {
    const fifo = join(dir(), 'pipe.tgz');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    chmodSync(fifo, 0o666);
    expect(await refused(fifo)).toMatch(/is not a regular file/);
  }, 5000);

  it.skipIf(process.getuid?.() !== 0)(
    'judges as the owner: a file or a directory on the way they cannot read is refused',
    async () => {
      const d = dir();
      const file = join(d, 'buildkit.tgz');
      writeFileSync(file, 'x', { mode: 0o600 });
      expect(await refused(file)).toMatch(/not readable by uid 65534/);
      const hidden = join(d, 'private');
      mkdirSync(hidden, { mode: 0o700 });
      writeFileSync(join(hidden, 'b.tgz'), 'x', { mode: 0o644 });
      // The kernel decides at the open, as uid 65534: /private is not searchable for them.
      expect(await refused(join(hidden, 'b.tgz'))).toMatch(
        /not readable by uid 65534 .*: EACCES; make it, and the directories above it, readable/,
      );
      expect(process.geteuid?.()).toBe(0);
    },
  );
});

describe.skipIf(process.getuid?.() !== 0)('the trusted checksums come from a file only root changes', () => {
  it('accepts a root-owned file in root-owned directories (a sticky /tmp included)', async () => {
    const d = mkdtempSync(join(tmpdir(), 'opencloud-config-'));
    chmodSync(d, 0o755);
    const file = join(d, 'config.yaml');
    writeFileSync(file, 'installer: {}\n', { mode: 0o640 });
    chownSync(file, 0, 65534);
    expect(await rootOnlyProblem(file)).toBeUndefined();
  });

  it('refuses a file the service user owns or may write, or one in a directory they may write', async () => {
    const d = mkdtempSync(join(tmpdir(), 'opencloud-config-'));
    chmodSync(d, 0o755);
    const file = join(d, 'config.yaml');
    writeFileSync(file, 'installer: {}\n', { mode: 0o640 });
    chmodSync(file, 0o660);
    expect(await rootOnlyProblem(file)).toBe(
      `${file} can be changed by others than root (owner uid 0, group gid 0, mode 0660)`,
    );
    chmodSync(file, 0o640);
    chownSync(file, 65534, 0);
    expect(await rootOnlyProblem(file)).toMatch(/owner uid 65534/);
    chownSync(file, 0, 0);
    chownSync(d, 65534, 65534);
    expect(await rootOnlyProblem(file)).toBe(
      `${d} can be changed by others than root (owner uid 65534, group gid 65534, mode 0755)`,
    );
  });
});
