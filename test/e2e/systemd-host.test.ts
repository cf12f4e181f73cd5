// The systemd host the installer tests run on (test/support/systemd-host.ts): it boots with systemd as
// PID 1, apt installs containerd inside and systemd runs it, runc can start containers there, and the
// bind-mounted node and checkout work inside.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBaseImage } from '../support/base-image.js';
import { ROOT } from '../support/cli.js';
import { missing, testEnv, titled } from '../support/env.js';
import { startSystemdHost, type SystemdHost } from '../support/systemd-host.js';

const why = missing('systemd-host');
const noBusybox = existsSync('/bin/busybox')
  ? undefined
  : 'no /bin/busybox (busybox-static) to make an image from';
const APT = { DEBIAN_FRONTEND: 'noninteractive' };
const LOCK = ['-o', 'DPkg::Lock::Timeout=120'];

describe.skipIf(why)(titled('a systemd host (systemd-nspawn)', why), () => {
  let host: SystemdHost;
  // A directory both sides see (bind-mounted read-write at /mnt/shared), made once the tests run.
  let shared: string;
  const timings: Record<string, number> = {};
  let started: number;

  /** Polls `cmd` inside until it prints `want` or the deadline passes; returns what it printed last. */
  async function until(cmd: string[], want: string, ms: number): Promise<string> {
    const deadline = Date.now() + ms;
    let out = '';
    while (Date.now() < deadline) {
      out = (await host.exec(cmd, { timeoutMs: 10_000 })).stdout.trim();
      if (out === want) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return out;
  }

  beforeAll(async () => {
    started = performance.now();
    shared = mkdtempSync(join(tmpdir(), 'opencloud-systemd-host-bind-'));
    host = await startSystemdHost({ binds: [`${shared}:/mnt/shared`] });
    timings.unpack = host.timings.unpackMs;
    timings.boot = host.timings.bootMs;
  }, 150_000);

  afterAll(async () => {
    const stopStart = performance.now();
    try {
      await host?.stop();
    } finally {
      timings.stop = performance.now() - stopStart;
      timings.total = performance.now() - started;
      if (shared) rmSync(shared, { recursive: true, force: true });
      const ms = Object.entries(timings).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`);
      console.log(`systemd host timings: ${ms.join(', ')}`);
    }
  }, 60_000);

  it('runs systemd as PID 1 and reaches running or degraded', async () => {
    expect((await host.exec(['test', '-d', '/run/systemd/system'])).code).toBe(0);
    expect((await host.run(['cat', '/proc/1/comm'])).trim()).toBe('systemd');
    expect(['running', 'degraded']).toContain(
      (await host.exec(['systemctl', 'is-system-running'])).stdout.trim(),
    );
    expect(host.bootState === 'running' || host.bootState === 'degraded').toBe(true);
    // Its own /run: this machine's daemons' sockets are not there.
    expect((await host.exec(['test', '-e', '/run/containerd/containerd.sock'])).code).not.toBe(0);
    expect((await host.run(['hostname'])).trim()).toBe(host.name);
  });

  it('runs the bind-mounted node and sees the checkout read-only and extra binds read-write', async () => {
    expect((await host.run(['node', '--version'])).trim()).toBe(process.version);
    const pkg = JSON.parse(await host.run(['cat', join(ROOT, 'package.json')])) as { name: string };
    expect(pkg.name).toBe('opencloud');
    expect((await host.exec(['touch', join(ROOT, 'systemd-host-probe')])).code).not.toBe(0);
    writeFileSync(join(shared, 'in'), 'from outside\n');
    expect(await host.run(['cat', '/mnt/shared/in'])).toBe('from outside\n');
    await host.run(['sh', '-c', 'echo from inside > /mnt/shared/out']);
    expect(readFileSync(join(shared, 'out'), 'utf8')).toBe('from inside\n');
  });

  it('installs containerd with apt, and systemd runs it', async () => {
    let t = performance.now();
    // A lists lock held by apt's own timers is waited for; a failed fetch is retried.
    let update = await host.exec(['apt-get', ...LOCK, 'update', '-q'], { env: APT, timeoutMs: 120_000 });
    if (update.code !== 0) update = await host.exec(['apt-get', ...LOCK, 'update', '-q'], { env: APT });
    expect(update.code, update.stderr).toBe(0);
    timings.aptUpdate = performance.now() - t;
    t = performance.now();
    await host.run(['apt-get', ...LOCK, 'install', '-y', '-q', 'containerd'], {
      env: APT,
      timeoutMs: 150_000,
    });
    timings.aptInstall = performance.now() - t;

    const active = await until(['systemctl', 'is-active', 'containerd'], 'active', 30_000);
    if (active !== 'active') {
      const journal = await host.exec(['journalctl', '-u', 'containerd', '-n', '30', '--no-pager']);
      expect.fail(`containerd is ${active}:\n${journal.stdout}`);
    }
    expect((await host.exec(['test', '-S', '/run/containerd/containerd.sock'])).code).toBe(0);
    // `ctr version` has a Server part only when it reached the daemon.
    const version = await host.run(['ctr', 'version']);
    expect(version).toMatch(/Server:\s+Version:\s+1\.[6-9]/);
  }, 300_000);

  it.skipIf(noBusybox)(titled('runs a container with runc inside (cgroups work)', noBusybox), async () => {
    const layout = ensureBaseImage(testEnv?.cacheDir ?? '/var/cache/opencloud-test').layout;
    // /tmp inside is the container's own tmpfs: the archive goes where both sides see it.
    execFileSync('tar', [
      '-C',
      layout,
      '-cf',
      join(shared, 'busybox.tar'),
      'oci-layout',
      'index.json',
      'blobs',
    ]);
    await host.run(['ctr', 'images', 'import', '--index-name', 'test/busybox:1', '/mnt/shared/busybox.tar']);
    // The container id names its cgroups in the tree this machine's containerd uses too: keep it unique.
    const id = `probe-${host.name}`;
    const out = await host.run(['ctr', 'run', '--rm', 'test/busybox:1', id, 'echo', 'hello from runc']);
    expect(out.trim()).toBe('hello from runc');
  });
});
