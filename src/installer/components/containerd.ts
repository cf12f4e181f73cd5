// Phase 1: containerd from the distribution's package. Docker's `containerd.io` is reused, never
// replaced. Distro files are left alone (the socket path is the package's default). The daemon
// is started by systemd (enabled too) or, in direct mode, in the background; then it must answer
// a real gRPC Version call within the deadline.
import { ContainerdClient } from '../../runtime/containerd.js';
import { aptInstall, installedVersion } from '../host/apt.js';
import { daemonPid, logTail, pidFileFor, startDaemon } from '../host/direct.js';
import { journalTail, systemctl, unitState } from '../host/systemd.js';
import type { InstallOptions } from '../options.js';
import type { PlannedChange, Step } from '../types.js';
import { CONTAINERD_PACKAGE, CONTAINERD_SOCKET } from './buildkit-pins.js';
import { waitUntilReady } from './readiness.js';

/** containerd's version through its socket, or a rejection saying why not. */
export async function containerdAnswers(timeoutMs = 2000): Promise<string> {
  const client = new ContainerdClient(CONTAINERD_SOCKET);
  try {
    return (await client.getVersion(timeoutMs)).version;
  } finally {
    client.close();
  }
}

async function installedContainerd(): Promise<{ pkg: string; version: string } | undefined> {
  for (const pkg of [CONTAINERD_PACKAGE, 'containerd.io']) {
    const version = await installedVersion(pkg);
    if (version) return { pkg, version };
  }
  return undefined;
}

export function containerdSteps(opts: InstallOptions): Step[] {
  const pkgStep: Step = {
    id: 'containerd-package',
    title: 'containerd package (apt)',
    async plan() {
      if (await installedContainerd()) return [];
      return [{ kind: 'package', target: CONTAINERD_PACKAGE, action: 'install' }];
    },
    async apply(ctx) {
      const added = await aptInstall([CONTAINERD_PACKAGE], {
        lockTimeout: opts.lockTimeout,
        onLine: ctx.log,
      });
      ctx.record({ kind: 'package', names: added });
    },
    async verify(ctx) {
      const found = await installedContainerd();
      if (!found) throw new Error('containerd is still not installed after apt-get install');
      ctx.log(`${found.pkg} ${found.version} installed`);
    },
  };

  const ready = () =>
    waitUntilReady({
      what: `containerd at ${CONTAINERD_SOCKET}`,
      timeoutSec: opts.readyTimeout,
      probe: () => containerdAnswers(),
      evidence: () => (opts.init === 'systemd' ? journalTail('containerd.service') : logTail('containerd')),
    });

  const systemdService: Step = {
    id: 'containerd-service',
    title: 'containerd service (systemd: enabled and running)',
    async plan() {
      const s = await unitState('containerd.service');
      const changes: PlannedChange[] = [];
      if (s.fileState !== 'enabled')
        changes.push({ kind: 'service', target: 'containerd.service', action: 'enable' });
      if (s.active !== 'active')
        changes.push({ kind: 'service', target: 'containerd.service', action: 'start' });
      return changes;
    },
    async apply(ctx, planned) {
      const enable = planned.some((c) => c.action === 'enable');
      const start = planned.some((c) => c.action === 'start');
      if (enable) await systemctl('enable', 'containerd.service');
      if (start) await systemctl('start', 'containerd.service');
      ctx.record({ kind: 'service', unit: 'containerd.service', enabled: enable, started: start });
    },
    async verify(ctx) {
      ctx.log(`containerd ${await ready()} answers on ${CONTAINERD_SOCKET}`);
    },
  };

  const directService: Step = {
    id: 'containerd-service',
    title: 'containerd daemon (direct mode: started in the background, not at boot)',
    async plan() {
      if (
        await containerdAnswers().then(
          () => true,
          () => false,
        )
      )
        return [];
      return [{ kind: 'service', target: 'containerd', action: 'start' }];
    },
    async apply(ctx) {
      if (!(await daemonPid(pidFileFor('containerd'), 'containerd'))) {
        await startDaemon('containerd', '/usr/bin/containerd', []);
        ctx.record({ kind: 'process', name: 'containerd', pidFile: pidFileFor('containerd') });
      }
    },
    async verify(ctx) {
      ctx.log(`containerd ${await ready()} answers on ${CONTAINERD_SOCKET}`);
    },
  };

  return [pkgStep, opts.init === 'systemd' ? systemdService : directService];
}
