// The container-registry service installer on a real systemd host (systemd-nspawn, Debian
// bookworm): the seed script enables it from scratch with a release-shaped tarball, a second run
// changes nothing, systemd restarts a killed buildkitd, a RUN build works through the socket, and
// disable puts the host back. Each fault gives its specific error and leaves the host as it was.
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  truncateSync,
  copyFileSync,
  writeFileSync,
} from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBaseImage } from '../support/base-image.js';
import {
  fakeBuildkitd,
  makeBuildkitTarball,
  serveMirror,
  sha256Of,
  type Tarball,
} from '../support/buildkit-tarball.js';
import { ROOT } from '../support/cli.js';
import { missing, testEnv, titled } from '../support/env.js';
import { startSystemdHost, type SystemdHost } from '../support/systemd-host.js';

const why = missing('systemd-host', 'buildkit');
const CLI = join(ROOT, 'bin/opencloud.js');
const SEED = join(ROOT, 'service_ledger/service_installers/container_registry.sh');
const DATA = ['--data-dir', '/var/lib/opencloud'];
const RECAP = /^recap: ok=(\d+) changed=(\d+) failed=(\d+) skipped=(\d+)$/;

// Holds apt's frontend lock as apt itself does: a POSIX write lock on the whole file.
const HOLD_LOCK =
  'use Fcntl; open(my $f, ">>", "/var/lib/dpkg/lock-frontend") or die; my $l = pack("s s x4 q q i x4", F_WRLCK, 0, 0, 0, 0); fcntl($f, F_SETLK, $l) or die "lock: $!"; sleep 600';

// What the installer may touch, as one comparable text.
const SNAPSHOT = `
ls -A /usr/local/bin | tr '\\n' ' '; echo
for p in /etc/buildkit /etc/systemd/system/buildkit.service /run/buildkit/buildkitd.sock; do
  if [ -e "$p" ]; then echo "$p present"; else echo "$p absent"; fi
done
getent group buildkit >/dev/null && echo "group buildkit present" || echo "group buildkit absent"
echo "containerd package: $(dpkg-query -W -f='\${db:Status-Status}' containerd 2>/dev/null || echo not-installed)"
echo "containerd.service: $(systemctl is-active containerd) $(systemctl is-enabled containerd 2>/dev/null)"
echo "buildkit.service: $(systemctl is-active buildkit) $(systemctl is-enabled buildkit 2>/dev/null)"
echo "installer scratch: $(ls -A /var/lib/opencloud/installer/work 2>/dev/null | tr '\\n' ' ')"
`;

describe.skipIf(why)(titled('the container-registry installer on a systemd host', why), () => {
  let host: SystemdHost;
  let shared: string;
  let good: Tarball;
  let mirror: { url: string; server: Server };

  const lastLine = (out: string) => out.trimEnd().split('\n').at(-1) ?? '';
  const snapshot = async () => host.run(['sh', '-c', SNAPSHOT]);
  const cli = (args: string[], timeoutMs = 300_000) =>
    host.exec(['node', CLI, 'services', ...args, 'container-registry', '--yes', ...DATA], { timeoutMs });
  const tarballArgs = (t: Tarball) => [
    '--source',
    'tarball',
    '--tarball',
    t.path.replace(shared, '/mnt/shared'),
    '--sha256',
    t.sha256,
  ];
  const show = (unit: string, prop: string) =>
    host.run(['systemctl', 'show', '-p', prop, '--value', unit]).then((s) => s.trim());

  beforeAll(async () => {
    shared = mkdtempSync(join(tmpdir(), 'opencloud-installer-systemd-'));
    chmodSync(shared, 0o755);
    good = makeBuildkitTarball(shared);
    mirror = await serveMirror({ '/v0.16.0/buildkit-v0.16.0.linux-amd64.tar.gz': good.path });
    const base = ensureBaseImage(testEnv!.cacheDir);
    host = await startSystemdHost({ binds: [`${shared}:/mnt/shared`], bindsRo: [base.layout] });
  }, 180_000);

  afterAll(async () => {
    mirror?.server.close();
    await host?.stop();
    if (shared) rmSync(shared, { recursive: true, force: true });
  }, 90_000);

  describe('faults on a clean host leave it as it was', () => {
    let clean: string;
    beforeAll(async () => {
      clean = await snapshot();
    });

    it('a held dpkg lock: apt gives up after the lock timeout and the holder is named', async () => {
      writeFileSync(join(shared, 'hold-lock.pl'), HOLD_LOCK);
      await host.run(['systemd-run', '--unit=hold-dpkg-lock', 'perl', '/mnt/shared/hold-lock.pl']);
      try {
        const holder = await show('hold-dpkg-lock', 'MainPID');
        // systemd-run returns once perl is forked; wait until its lock is in /proc/locks.
        let locks = '';
        for (let i = 0; i < 100 && !locks.includes(` ${holder} `); i++) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          locks = await host.run(['cat', '/proc/locks']);
        }
        const journal = await host.exec(['journalctl', '-u', 'hold-dpkg-lock', '--no-pager']);
        expect(holder, journal.stdout).not.toBe('0');
        expect(locks).toContain(` ${holder} `);
        const r = await cli(['enable', ...tarballArgs(good), '--lock-timeout', '3']);
        expect(r.code, r.stdout + r.stderr).toBe(1);
        expect(r.stdout).toContain(`/var/lib/dpkg/lock-frontend is held by pid ${holder} (perl)`);
        expect(r.stdout).toMatch(/\[ERROR\] containerd package \(apt\): failed/);
        expect(lastLine(r.stdout)).toMatch(/^recap: ok=1 changed=0 failed=1 skipped=\d+$/);
      } finally {
        await host.exec(['systemctl', 'stop', 'hold-dpkg-lock']);
      }
      expect(await snapshot()).toBe(clean);
    }, 300_000);

    it('an unreachable source is refused in preflight, before anything changes', async () => {
      const r = await cli(['enable', '--source', 'release', '--mirror', 'http://127.0.0.1:9']);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain(
        'cannot reach http://127.0.0.1:9/v0.16.0/buildkit-v0.16.0.linux-amd64.tar.gz: ECONNREFUSED',
      );
      expect(lastLine(r.stdout)).toMatch(/^recap: ok=0 changed=0 failed=1 skipped=\d+$/);
      expect(await snapshot()).toBe(clean);
    }, 60_000);

    it('a tarball that is not the one given by --sha256 is refused in preflight', async () => {
      const r = await cli(['enable', ...tarballArgs({ ...good, sha256: '0'.repeat(64) })]);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain(`expected sha256 ${'0'.repeat(64)}, got ${good.sha256}`);
      expect(await snapshot()).toBe(clean);
    }, 60_000);

    it('a release whose download does not match the pinned sha256 is rolled back, containerd included', async () => {
      const r = await cli(['enable', '--source', 'release', '--mirror', mirror.url]);
      expect(r.code, r.stdout).toBe(1);
      expect(r.stdout).toContain(
        `checksum mismatch for ${mirror.url}/v0.16.0/buildkit-v0.16.0.linux-amd64.tar.gz: expected sha256 a07a01da821d39bdb6e03a2f98ee407bb861cc61ece2e69e2ea4d61b3a4ab7f1, got ${good.sha256}`,
      );
      expect(r.stdout).toMatch(/\[INFO\] rollback: undid purge package .*containerd/);
      expect(lastLine(r.stdout)).toMatch(/^recap: ok=\d+ changed=[12] failed=1 skipped=\d+$/);
      expect(await snapshot()).toBe(clean);
    }, 300_000);

    it('a truncated tarball is found out while extracting and rolled back', async () => {
      const cut = join(shared, 'truncated.tar.gz');
      copyFileSync(good.path, cut);
      truncateSync(cut, 1024 * 1024); // a whole gzip member cut short
      const r = await cli(['enable', ...tarballArgs({ path: cut, sha256: sha256Of(cut) })]);
      expect(r.code, r.stdout).toBe(1);
      expect(r.stdout).toContain('/mnt/shared/truncated.tar.gz is truncated or corrupt');
      expect(await snapshot()).toBe(clean);
    }, 300_000);
  });

  describe('enabled from scratch by the seed script', () => {
    let clean: string;
    beforeAll(async () => {
      clean = await snapshot();
    });

    it('installs, starts, enables and verifies containerd and BuildKit', async () => {
      const r = await host.exec(['sh', SEED, ...tarballArgs(good), ...DATA], { timeoutMs: 300_000 });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain('[INFO] Step 1: containerd installation');
      expect(r.stdout).toContain('[INFO] Step 2: buildkit installation');
      expect(r.stdout).toContain(
        '[SUCCESS] BuildKit verified: service, socket, access as a group member: ok',
      );
      expect(lastLine(r.stdout)).toMatch(/^recap: ok=\d+ changed=\d+ failed=0 skipped=0$/);
      for (const unit of ['containerd', 'buildkit']) {
        expect((await host.run(['systemctl', 'is-active', unit])).trim()).toBe('active');
        expect((await host.run(['systemctl', 'is-enabled', unit])).trim()).toBe('enabled');
      }
      expect((await host.run(['stat', '-c', '%F %a %U %G', '/run/buildkit/buildkitd.sock'])).trim()).toBe(
        'socket 660 root buildkit',
      );
      expect((await host.run(['buildkitd', '--version'])).trim()).toMatch(/ v0\.16\.0\b/);
      expect(sha256Of(join(host.root, 'usr/local/bin/buildkitd'))).toBe(
        sha256Of(join(testEnv!.binDir, 'buildkitd')),
      );
    }, 300_000);

    it('lets an unprivileged member of the buildkit group list a containerd worker', async () => {
      const gid = (await host.run(['getent', 'group', 'buildkit'])).split(':')[2] as string;
      const out = await host.run([
        'setpriv',
        '--reuid=65534',
        '--regid=65534',
        `--groups=${gid}`,
        'buildctl',
        '--addr',
        'unix:///run/buildkit/buildkitd.sock',
        'debug',
        'workers',
        '-v',
      ]);
      expect(out).toMatch(/org\.mobyproject\.buildkit\.worker\.executor:\s*containerd/);
      const denied = await host.exec([
        'setpriv',
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        'buildctl',
        '--addr',
        'unix:///run/buildkit/buildkitd.sock',
        'debug',
        'workers',
      ]);
      expect(denied.code).not.toBe(0);
      expect(denied.stderr).toContain('permission denied');
    }, 60_000);

    it('builds a Dockerfile with a RUN step through the socket', async () => {
      const base = ensureBaseImage(testEnv!.cacheDir);
      const ctx = join(shared, 'ctx');
      mkdirSync(ctx, { recursive: true });
      writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox\nRUN echo built-inside > /proof && cat /proof\n');
      const out = await host
        .run(
          [
            'buildctl',
            '--addr',
            'unix:///run/buildkit/buildkitd.sock',
            'build',
            '--frontend',
            'dockerfile.v0',
            '--local',
            'context=/mnt/shared/ctx',
            '--local',
            'dockerfile=/mnt/shared/ctx',
            '--oci-layout',
            `base=${base.layout}`,
            '--opt',
            `context:busybox=oci-layout://base@${base.digest}`,
            '--output',
            'type=image,name=docker.io/demo/installed:1',
            '--progress',
            'plain',
          ],
          { timeoutMs: 180_000 },
        )
        .catch((err: Error) => err.message);
      expect(out).not.toContain('exited');
      const images = await host.run(['ctr', '-n', 'buildkit', 'images', 'ls', '-q']);
      expect(images).toContain('docker.io/demo/installed:1');
    }, 200_000);

    it('a second run changes nothing and restarts nothing', async () => {
      const before = {
        buildkit: await show('buildkit', 'MainPID'),
        containerd: await show('containerd', 'MainPID'),
        restarts: await show('buildkit', 'NRestarts'),
      };
      const r = await cli(['enable', ...tarballArgs(good)]);
      expect(r.code, r.stdout).toBe(0);
      expect(lastLine(r.stdout)).toMatch(/^recap: ok=\d+ changed=0 failed=0 skipped=0$/);
      expect(await show('buildkit', 'MainPID')).toBe(before.buildkit);
      expect(await show('containerd', 'MainPID')).toBe(before.containerd);
      expect(await show('buildkit', 'NRestarts')).toBe(before.restarts);
      const plan = await host.exec([
        'node',
        CLI,
        'services',
        'plan',
        'container-registry',
        ...tarballArgs(good),
        ...DATA,
      ]);
      expect(lastLine(plan.stdout)).toMatch(/^recap: ok=\d+ changed=0 failed=0 skipped=1$/);
    }, 300_000);

    it('systemd brings a killed buildkitd back', async () => {
      const pid = await show('buildkit', 'MainPID');
      await host.run(['systemctl', 'kill', '-s', 'KILL', 'buildkit']);
      const deadline = Date.now() + 30_000;
      let now = pid;
      while (Date.now() < deadline) {
        now = await show('buildkit', 'MainPID');
        const ok = await host.exec([
          'buildctl',
          '--addr',
          'unix:///run/buildkit/buildkitd.sock',
          'debug',
          'workers',
        ]);
        if (now !== '0' && now !== pid && ok.code === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      expect(now).not.toBe(pid);
      expect(now).not.toBe('0');
      const doctor = await host.exec([
        'node',
        CLI,
        'services',
        'doctor',
        'container-registry',
        ...tarballArgs(good),
        ...DATA,
      ]);
      expect(doctor.code, doctor.stdout).toBe(0);
      expect(doctor.stdout).toContain('no drift: the host is as enabling left it');
    }, 60_000);

    it('disable puts the host back as it was before enabling', async () => {
      const r = await cli(['disable']);
      expect(r.code, r.stdout).toBe(0);
      expect(lastLine(r.stdout)).toMatch(RECAP);
      expect(await snapshot()).toBe(clean);
      const status = JSON.parse(
        await host.run(['node', CLI, 'services', 'status', 'container-registry', '--json', ...DATA]),
      ) as { state: string };
      expect(status.state).toBe('disabled');
    }, 300_000);
  });

  describe('with a containerd that was there before', () => {
    let before: string;
    beforeAll(async () => {
      await host.run(
        ['sh', '-c', 'apt-get update -q && apt-get install -y --no-install-recommends containerd'],
        {
          env: { DEBIAN_FRONTEND: 'noninteractive' },
          timeoutMs: 300_000,
        },
      );
      before = await snapshot();
      expect(before).toContain('containerd.service: active enabled');
    }, 300_000);

    it('a buildkitd that exits at once fails the run with its journal lines, and is rolled back', async () => {
      const bad = makeBuildkitTarball(shared, {
        name: 'exits.tar.gz',
        fakeBuildkitd: fakeBuildkitd('echo "stand-in buildkitd refuses to start" >&2; exit 3'),
      });
      const r = await cli(['enable', ...tarballArgs(bad)]);
      expect(r.code, r.stdout).toBe(1);
      expect(r.stdout).toMatch(
        /\[ERROR\] buildkit\.service \(enabled and running\): failed — buildkitd at \/run\/buildkit\/buildkitd\.sock: buildkit\.service (failed to start|exited and systemd is restarting it)/,
      );
      expect(r.stdout).toContain('stand-in buildkitd refuses to start');
      expect(await snapshot()).toBe(before);
    }, 300_000);

    it('a socket that never appears fails at the readiness deadline, and is rolled back', async () => {
      const silent = makeBuildkitTarball(shared, {
        name: 'silent.tar.gz',
        fakeBuildkitd: fakeBuildkitd('exec sleep 600'),
      });
      const r = await cli(['enable', ...tarballArgs(silent), '--ready-timeout', '5']);
      expect(r.code, r.stdout).toBe(1);
      expect(r.stdout).toContain('buildkitd at /run/buildkit/buildkitd.sock: not ready within 5 s');
      expect(await snapshot()).toBe(before);
    }, 300_000);

    it('enable from a release mirror (with its --sha256), then disable, leaves that containerd installed and running', async () => {
      const r = await cli(['enable', '--source', 'release', '--mirror', mirror.url, '--sha256', good.sha256]);
      expect(r.code, r.stdout).toBe(0);
      expect(r.stdout).toContain('[SUCCESS] containerd package (apt): ok');
      expect(r.stdout).toMatch(/\[INFO\] {3}[\d.]+ \/ [\d.]+ MiB, [\d.]+ MiB\/s/); // download progress
      expect(r.stdout).toContain(`sha256 ${good.sha256} verified`);
      const off = await cli(['disable', '--purge']);
      expect(off.code, off.stdout).toBe(0);
      expect(await snapshot()).toBe(before);
      expect((await host.exec(['test', '-e', '/var/lib/buildkit'])).code).not.toBe(0);
    }, 300_000);
  });

  it('refuses to run as a user without root or passwordless sudo, changing nothing', async (t) => {
    const readable = await host.exec([
      'setpriv',
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      'test',
      '-r',
      join(ROOT, 'dist/cli/main.js'),
    ]);
    if (readable.code !== 0) t.skip('the checkout is not readable by uid 65534 on this machine');
    const before = await snapshot();
    const r = await host.exec([
      'setpriv',
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      'node',
      CLI,
      'services',
      'enable',
      'container-registry',
      '--yes',
      '--data-dir',
      '/tmp/nobody-data',
    ]);
    expect(r.code).toBe(77);
    expect(r.stderr).toContain('changing the host needs root, and passwordless sudo is not available');
    expect(await snapshot()).toBe(before);
  }, 60_000);
});
