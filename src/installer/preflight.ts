// Preflight, read-only and first in every run: is this a host we can install on (apt-based
// distro, amd64/arm64, the init mode asked for, free disk), would apt remove anything, can the
// the chosen source be used (when binaries are to be installed), and what is already there. A
// failure here changes nothing.
import { statfs } from 'node:fs/promises';
import { readFile } from 'node:fs/promises';
import { installedVersion, simulateInstall } from './host/apt.js';
import { installedHash } from './host/file-hash.js';
import { exec } from './host/exec.js';
import { systemdIsPid1 } from './host/systemd.js';
import { BIN_DIR, CONTAINERD_PACKAGE } from './components/buildkit-pins.js';
import { isPinned, sourceReachable, unpinnedNote, type LocalTarball } from './components/buildkit-source.js';
import type { HostFacts } from './components/buildkit.js';
import type { InstallOptions } from './options.js';
import { StepError, type Step } from './types.js';

const MiB = 1024 * 1024;
const DISK_NEEDS: [string, number][] = [
  ['/usr/local', 200 * MiB], // two binaries of ~50 MB plus their temp copies
  ['/var/lib', 1024 * MiB], // containerd's and BuildKit's state
];

async function osRelease(): Promise<Record<string, string>> {
  const text = await readFile('/etc/os-release', 'utf8').catch(() => '');
  return Object.fromEntries(
    text
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).replace(/^"|"$/g, '')]),
  );
}

export function preflightStep(
  opts: InstallOptions,
  host: HostFacts,
  /** Whether BuildKit's binaries will be (re)installed: only then must the source be usable. */
  binariesNeeded: () => Promise<boolean>,
  /** The run's local tarball (source tarball). */
  tarball?: LocalTarball,
): Step {
  return {
    id: 'preflight',
    title: 'preflight: host, disk, apt, source (read-only)',
    async plan(run) {
      const os = await osRelease();
      const family = `${os.ID ?? ''} ${os.ID_LIKE ?? ''}`;
      if (!/\b(debian|ubuntu)\b/.test(family)) {
        throw new StepError(
          `this installer needs a Debian or Ubuntu host (apt); this is ${os.PRETTY_NAME ?? 'unknown'}`,
        );
      }
      host.arch = (await exec('dpkg', ['--print-architecture'])).stdout.trim();
      if (!['amd64', 'arm64'].includes(host.arch)) {
        throw new StepError(
          `architecture ${host.arch} is not supported (BuildKit releases cover amd64 and arm64)`,
        );
      }
      if (opts.init === 'systemd' && !systemdIsPid1()) {
        throw new StepError(
          'systemd is not running as PID 1 here (/run/systemd/system is missing), so --init systemd cannot work',
          'use --init direct (daemons started in the background, not at boot) or --init auto',
        );
      }
      for (const [path, need] of DISK_NEEDS) {
        const s = await statfs(path).catch(() => undefined);
        if (s && s.bavail * s.bsize < need) {
          throw new StepError(
            `${path} has ${Math.floor((s.bavail * s.bsize) / MiB)} MiB free; the install needs ${need / MiB} MiB`,
          );
        }
      }
      await containerdConflicts();
      // A local tarball is always checked against --sha256 (cheap, and a wrong --sha256 is an error
      // even when the binaries are current); a download only when binaries are to be installed.
      if (opts.source === 'tarball' || (await binariesNeeded()))
        await sourceReachable(opts, host.arch, tarball);
      if (opts.sha256 && opts.source !== 'go' && !isPinned(opts.sha256)) run.log(unpinnedNote(opts.sha256));
      const found = await installedNow();
      run.log(`${os.PRETTY_NAME ?? os.ID}, ${host.arch}, init ${opts.init}`);
      run.log(`containerd: ${found.containerd ?? 'not installed'}`);
      run.log(
        `buildkitd: ${found.buildkitd ? `${found.buildkitd} (sha256 ${found.buildkitdSha256})` : `not installed in ${BIN_DIR}`}`,
      );
      return [];
    },
    apply: async () => undefined,
  };
}

/** Docker's containerd.io is reused; anything apt would remove to install ours is a refusal. */
async function containerdConflicts(): Promise<void> {
  if ((await installedVersion(CONTAINERD_PACKAGE)) || (await installedVersion('containerd.io'))) return;
  const sim = await simulateInstall([CONTAINERD_PACKAGE]);
  if (sim.remove.length > 0) {
    throw new StepError(
      `installing containerd would remove ${sim.remove.join(', ')}; refusing (nothing was changed)`,
      'install containerd yourself, or remove the conflicting packages, then run again',
    );
  }
}

/** What is on the host already, for the plan's header and the ledger. */
export async function installedNow(): Promise<Record<string, string | undefined>> {
  const bk = await exec(`${BIN_DIR}/buildkitd`, ['--version']).catch(() => undefined);
  return {
    containerd: (await installedVersion('containerd')) ?? (await installedVersion('containerd.io')),
    buildkitd: bk?.code === 0 ? bk.stdout.trim() : undefined,
    buildkitdSha256: await installedHash(`${BIN_DIR}/buildkitd`),
  };
}
