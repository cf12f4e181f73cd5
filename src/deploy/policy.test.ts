import { describe, expect, it } from 'vitest';
import type { Artifact } from '../installer/artifacts.js';
import { checkArtifacts, foreignArtifact } from './policy.js';

const BACKUPS = '/var/backups/opencloud';

describe('what uninstall agrees to revert', () => {
  it('accepts everything install records', () => {
    const made: Artifact[] = [
      { kind: 'package', names: ['sudo'] },
      { kind: 'user', name: 'opencloud' },
      { kind: 'membership', user: 'opencloud', group: 'buildkit' },
      { kind: 'directory', path: '/etc/opencloud' },
      { kind: 'file', role: 'config', path: '/etc/opencloud/config.yaml' },
      { kind: 'tree', path: '/usr/lib/opencloud', prior: '/usr/lib/opencloud.previous-0a1b2c3d' },
      { kind: 'file', role: 'binary', path: '/usr/local/bin/opencloud' },
      { kind: 'file', role: 'unit', path: '/etc/systemd/system/opencloud.service' },
      {
        kind: 'file',
        role: 'config',
        path: '/etc/sudoers.d/opencloud',
        prior: { backup: `${BACKUPS}/run-1/_etc_sudoers.d_opencloud`, mode: 0o440 },
      },
      { kind: 'service', unit: 'opencloud.service', enabled: true, started: true },
    ];
    expect(() => checkArtifacts(made, BACKUPS)).not.toThrow();
  });

  it.each<[Artifact, RegExp]>([
    [{ kind: 'file', role: 'config', path: '/etc/shadow' }, /\/etc\/shadow is not one install writes/],
    [
      {
        kind: 'file',
        role: 'config',
        path: '/etc/sudoers.d/opencloud',
        prior: { backup: '/tmp/evil', mode: 0o440 },
      },
      /backup \/tmp\/evil is outside/,
    ],
    [
      {
        kind: 'file',
        role: 'config',
        path: '/etc/sudoers.d/opencloud',
        prior: { backup: `${BACKUPS}/../../tmp/evil`, mode: 0o440 },
      },
      /is outside/,
    ],
    [{ kind: 'tree', path: '/usr' }, /tree \/usr is not/],
    [{ kind: 'tree', path: '/usr/lib/opencloud', prior: '/home/x' }, /tree backup \/home\/x/],
    [{ kind: 'package', names: ['openssh-server'] }, /are not sudo/],
    [{ kind: 'user', name: 'root' }, /user root/],
    [{ kind: 'membership', user: 'opencloud', group: 'sudo' }, /membership opencloud in sudo/],
    [{ kind: 'service', unit: 'ssh.service', enabled: true, started: true }, /ssh.service/],
    [{ kind: 'group', name: 'buildkit' }, /group artifacts are never made/],
    [{ kind: 'directory', path: '/etc' }, /directory \/etc/],
  ])('refuses %j', (artifact, why) => {
    expect(foreignArtifact(artifact, BACKUPS)).toMatch(why);
    expect(() => checkArtifacts([artifact], BACKUPS)).toThrow(/nothing was reverted/);
  });
});
