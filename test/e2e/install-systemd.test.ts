// `opencloud install` on a real systemd host (systemd-nspawn, Debian bookworm): OpenCloud runs as
// the unprivileged `opencloud` user with the buildkit group; an admin enables the
// container-registry service through the HTTP API (the one sudo path), builds through the API,
// everything comes back after the services restart as at a reboot, a second install changes
// nothing, the privileged path refuses anything else, and uninstall reverses it all.
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBaseImage } from '../support/base-image.js';
import { makeBuildkitTarball, serveMirror, type Tarball } from '../support/buildkit-tarball.js';
import { ROOT } from '../support/cli.js';
import { freePort } from '../support/ports.js';
import { missing, testEnv, titled } from '../support/env.js';
import { readSse, type ReceivedEvent } from '../support/sse.js';
import { startSystemdHost, type SystemdHost } from '../support/systemd-host.js';

const run = promisify(execFile);
const why = missing('systemd-host', 'buildkit', 'skopeo');
const CLI = join(ROOT, 'bin/opencloud.js');
const HELPER = '/usr/lib/opencloud/bin/opencloud-privileged';
const RECAP = /^recap: ok=(\d+) changed=(\d+) failed=(\d+) skipped=(\d+)$/;
const PASSWORD = 'install-test-admin-password';

describe.skipIf(why)(titled('opencloud install on a systemd host', why), () => {
  let host: SystemdHost;
  let shared: string;
  let tarball: Tarball;
  let mirror: { url: string; server: Server };
  let url: string;
  let registry: string;

  const lastLine = (out: string) => out.trimEnd().split('\n').at(-1) ?? '';
  const recap = (out: string) => RECAP.exec(lastLine(out))?.slice(1).map(Number) ?? [];
  const sh = (script: string, timeoutMs?: number) =>
    host.run(['sh', '-c', script], timeoutMs ? { timeoutMs } : {}).then((s) => s.trim());
  const install = (args: string[] = []) =>
    host.exec(['node', CLI, 'install', '--yes', ...args], { timeoutMs: 600_000 });
  const auth = { authorization: `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}` };
  const api = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(`${url}${path}`, {
      ...init,
      headers: { ...auth, 'content-type': 'application/json', ...init.headers },
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  /** The server's groups as the kernel gave them to its process. */
  const serverGroups = async () => {
    const pid = await sh('systemctl show -p MainPID --value opencloud');
    const status = await sh(`cat /proc/${pid}/status`);
    const names = await Promise.all(
      (/^Groups:\s*(.*)$/m.exec(status)?.[1] ?? '')
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map((gid) => sh(`getent group ${gid} | cut -d: -f1`)),
    );
    return { uid: /^Uid:\s+(\d+)/m.exec(status)?.[1], groups: names };
  };
  const waitReady = async () => {
    for (const deadline = Date.now() + 60_000; Date.now() < deadline;) {
      const ok = await fetch(`${url}/readyz`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`${url}/readyz did not answer 200 within 60 s`);
  };
  const build = async (tag: string) => {
    const r = await api('/api/v1/builds', {
      method: 'POST',
      body: JSON.stringify({
        repository: 'demo/installed',
        tags: [tag],
        noCache: true,
        dockerfile: `FROM ${registry}/library/busybox:1\nRUN echo built-by-the-service > /proof && cat /proof\n`,
      }),
    });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    const id = r.body.id as string;
    const final = (e: ReceivedEvent) =>
      e.event === 'state' && /"state":"(succeeded|failed|canceled)"/.test(e.data);
    const events = await readSse(`${url}/api/v1/builds/${id}/events`, {
      until: final,
      timeoutMs: 240_000,
      headers: auth,
    });
    const last = events.filter(final).at(-1);
    return { state: /"state":"(\w+)"/.exec(last?.data ?? '')?.[1], events };
  };

  beforeAll(async () => {
    shared = mkdtempSync(join(tmpdir(), 'opencloud-install-systemd-'));
    chmodSync(shared, 0o755);
    tarball = makeBuildkitTarball(shared);
    mirror = await serveMirror({ '/v0.16.0/buildkit-v0.16.0.linux-amd64.tar.gz': tarball.path });
    host = await startSystemdHost({ binds: [`${shared}:/mnt/shared`] });
    const port = await freePort();
    registry = `127.0.0.1:${port}`;
    url = `http://${registry}`;
  }, 180_000);

  afterAll(async () => {
    mirror?.server.close();
    await host?.stop();
    if (shared) rmSync(shared, { recursive: true, force: true });
  }, 90_000);

  it('a plan on a fresh host lists every change and makes none', async () => {
    const r = await host.exec(['node', CLI, 'install', '--dry-run', '--listen', registry], {
      timeoutMs: 120_000,
    });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('+++ /etc/systemd/system/opencloud.service');
    expect(r.stdout).toContain(`opencloud ALL=(root) NOPASSWD: ${HELPER} ""`);
    expect(recap(r.stdout)[1]).toBeGreaterThan(5);
    expect(await sh('getent passwd opencloud || echo none')).toBe('none');
    expect(existsSync(join(host.root, 'var/lib/opencloud'))).toBe(false);
  }, 180_000);

  it('a data dir under a file is refused by the preflight, naming the path, before anything changes', async () => {
    const r = await host.exec(['node', CLI, 'install', '--yes', '--data-dir', '/etc/passwd/data'], {
      timeoutMs: 120_000,
    });
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toContain(
      'data dir /etc/passwd/data cannot be used: /etc/passwd is a file, not a directory',
    );
    expect(r.stdout + r.stderr).not.toMatch(/^\s+at /m);
    expect(lastLine(r.stdout)).toMatch(/^recap: ok=0 changed=0 failed=1 /);
    expect(await sh('getent passwd opencloud || echo none')).toBe('none');
  }, 180_000);

  it('installs the service: user opencloud, config 0640, program, sudoers, running as opencloud with group buildkit', async () => {
    const r = await install(['--listen', registry]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(recap(r.stdout)).toEqual([expect.any(Number), expect.any(Number), 0, 0]);
    expect(await sh('getent passwd opencloud | cut -d: -f6,7')).toBe('/var/lib/opencloud:/usr/sbin/nologin');
    expect(
      await sh('stat -c "%a %U %G" /var/lib/opencloud /etc/opencloud/config.yaml /etc/sudoers.d/opencloud'),
    ).toBe('750 opencloud opencloud\n640 root opencloud\n440 root root');
    expect(await sh('systemctl is-active opencloud; systemctl is-enabled opencloud')).toBe('active\nenabled');
    const proc = await serverGroups();
    expect(proc.uid).toBe(await sh('id -u opencloud'));
    expect(proc.groups).toContain('buildkit');
    await waitReady();
    // The token key is a fresh secret of the service user's; the database it writes is its own.
    expect(await sh('stat -c "%a %U %s" /var/lib/opencloud/auth/token.key')).toBe('600 opencloud 32');
    expect(await sh('find /var/lib/opencloud -maxdepth 1 -user root | wc -l')).toBe('0');
  }, 600_000);

  it('a second install changes nothing and restarts nothing', async () => {
    const pid = await sh('systemctl show -p MainPID --value opencloud');
    const r = await install();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(lastLine(r.stdout)).toMatch(/^recap: ok=\d+ changed=0 failed=0 skipped=0$/);
    expect(await sh('systemctl show -p MainPID --value opencloud')).toBe(pid);
  }, 300_000);

  it('a config key added by hand is kept by a later install, and the service restarts for a changed unit', async () => {
    await sh('printf "\\ngc:\\n  interval: 7200\\n" >> /etc/opencloud/config.yaml');
    await sh("sed -i 's/^RestartSec=2s$/RestartSec=5s/' /etc/systemd/system/opencloud.service");
    const pid = await sh('systemctl show -p MainPID --value opencloud');
    const r = await install();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('-RestartSec=5s');
    expect(r.stdout).toContain('+RestartSec=2s');
    expect(recap(r.stdout)[1]).toBe(2); // the unit, and the service restarted for it
    expect(await sh('cat /etc/opencloud/config.yaml')).toContain('interval: 7200');
    expect(await sh('systemctl show -p MainPID --value opencloud')).not.toBe(pid);
    await waitReady();
  }, 300_000);

  it('a program changed in place is put back by the next install, and the server restarted on it', async () => {
    const main = '/usr/lib/opencloud/dist/cli/main.js';
    const original = await sh(`sha256sum ${main}`);
    await sh(`echo '// edited in place' >> ${main}`);
    const pid = await sh('systemctl show -p MainPID --value opencloud');
    const r = await install();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('1 installed files differ from the manifest (dist/cli/main.js)');
    expect(recap(r.stdout)[1]).toBe(2); // the program, and the restart for it
    expect(await sh(`sha256sum ${main}`)).toBe(original);
    expect(await sh('ls -d /usr/lib/opencloud.* 2>/dev/null | wc -l')).toBe('0');
    expect(await sh('systemctl show -p MainPID --value opencloud')).not.toBe(pid);
    await waitReady();
  }, 300_000);

  it('an admin enables the container-registry service through the API, via the one sudo path', async () => {
    // As root, as an administrator would: the database stays the service user's.
    await host.run(['opencloud', 'users', 'add', 'admin', '--admin', '--password-stdin'], {
      input: `${PASSWORD}\n`,
    });
    expect(await sh('find /var/lib/opencloud -maxdepth 1 -user root | wc -l')).toBe('0');
    // Our test tarball is not the pinned release: root trusts its checksum in the root-owned config.
    await sh(
      `printf "\ninstaller:\n  trustedSha256:\n    - ${tarball.sha256}\n" >> /etc/opencloud/config.yaml`,
    );
    const start = await api('/api/v1/services/container-registry/enable', {
      method: 'POST',
      body: JSON.stringify({
        source: 'tarball',
        tarball: tarball.path.replace(shared, '/mnt/shared'),
        sha256: tarball.sha256,
      }),
    });
    expect(start.status, JSON.stringify(start.body)).toBe(202);
    const events = await readSse(`${url}${start.body.events as string}`, {
      headers: auth,
      timeoutMs: 540_000,
    });
    const recapEvent = events.find((e) => e.event === 'recap');
    expect(JSON.parse(recapEvent?.data ?? '{}').recap, events.map((e) => e.data).join('\n')).toMatchObject({
      failed: 0,
    });
    expect(await sh('systemctl is-active containerd buildkit opencloud')).toBe('active\nactive\nactive');
    // The server did it without being root, and holds the buildkit group.
    const proc = await serverGroups();
    expect(proc.uid).toBe(await sh('id -u opencloud'));
    expect(proc.groups).toContain('buildkit');
    const audit = await api('/api/v1/audit?limit=50', { method: 'GET' });
    const entries = audit.body.entries as {
      action: string;
      actor: string;
      status: number;
      detail?: string;
    }[];
    expect(entries.find((e) => e.action === 'privileged.services.enable')).toMatchObject({
      actor: 'admin',
      status: 200,
    });
  }, 600_000);

  it('a build requested through the API runs on BuildKit while the server is user opencloud', async () => {
    const image = ensureBaseImage(testEnv!.cacheDir);
    await run('skopeo', [
      'copy',
      '--dest-tls-verify=false',
      '--dest-creds',
      `admin:${PASSWORD}`,
      `oci:${image.layout}:${image.tag}`,
      `docker://${registry}/library/busybox:1`,
    ]);
    const b = await build('1');
    expect(b.state, b.events.map((e) => e.data).join('\n')).toBe('succeeded');
    expect(b.events.some((e) => e.event === 'log' && e.data.includes('built-by-the-service'))).toBe(true);
  }, 300_000);

  it('after restarting the services as a reboot would, everything comes back and a build still succeeds', async () => {
    await sh('systemctl restart containerd buildkit opencloud', 120_000);
    await waitReady();
    expect(await sh('stat -c "%a %U %G" /run/buildkit/buildkitd.sock')).toBe('660 root buildkit');
    expect((await serverGroups()).groups).toContain('buildkit');
    const b = await build('2');
    expect(b.state, b.events.map((e) => e.data).join('\n')).toBe('succeeded');
  }, 300_000);

  it('doctor says who the server runs as, its groups as the process sees them, and the socket', async () => {
    const r = await host.exec(['opencloud', 'doctor'], { timeoutMs: 60_000 });
    expect(r.stdout).toMatch(/runs as opencloud \(uid \d+\), gid opencloud, groups [^\n]*buildkit/);
    expect(r.stdout).toMatch(/\/run\/buildkit\/buildkitd\.sock: root:buildkit 0660/);
    expect(r.stdout).not.toMatch(/^FAIL\s+access/m);
    // The same from inside the server, through the API: the process reports itself.
    const api_ = await api('/api/v1/system/doctor', { method: 'GET' });
    const server = (api_.body.access as { server: { user: string; groups: string[]; source: string } })
      .server;
    expect(server).toMatchObject({ user: 'opencloud', source: 'systemd' });
    expect(server.groups).toContain('buildkit');
  }, 120_000);

  it('doctor names a lost buildkit membership and its fix; the next install puts it back', async () => {
    await sh('gpasswd -d opencloud buildkit');
    let r = await host.exec(['opencloud', 'doctor'], { timeoutMs: 60_000 });
    expect(r.stdout).toMatch(/still holds buildkit, but opencloud is no longer in it/);
    expect(r.stdout).toContain('fix: usermod -aG buildkit opencloud');
    await sh('systemctl restart opencloud');
    await waitReady();
    r = await host.exec(['opencloud', 'doctor'], { timeoutMs: 60_000 });
    expect(r.code).toBe(69);
    expect(r.stdout).toMatch(
      /^FAIL\s+access\s+opencloud is not in the buildkit group .*fix: usermod -aG buildkit opencloud/m,
    );
    expect(r.stdout).toMatch(
      /got EACCES \(permission denied\) connecting to \/run\/buildkit\/buildkitd\.sock/,
    );
    const again = await install();
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toContain('create membership opencloud in buildkit');
    expect((await serverGroups()).groups).toContain('buildkit');
    expect((await host.exec(['opencloud', 'doctor'], { timeoutMs: 60_000 })).code).toBe(0);
  }, 300_000);

  it('the privileged path refuses any other command, arguments, or request, and the audit trail has it', async () => {
    const asServer = (cmd: string[], input?: string) =>
      host.exec(['runuser', '-u', 'opencloud', '--', ...cmd], input === undefined ? {} : { input });
    const shell = await asServer(['sudo', '-n', '/bin/sh', '-c', 'id']);
    expect(shell.code).not.toBe(0);
    expect(shell.stderr).toMatch(/password is required|not allowed/);
    const args = await asServer(['sudo', '-n', HELPER, '--config', '/tmp/evil.yaml']);
    expect(args.code).not.toBe(0);
    expect(args.stderr).toMatch(/password is required|not allowed/);
    const other = await asServer(['sudo', '-n', HELPER], JSON.stringify({ op: 'exec', cmd: 'id' }));
    expect(other.code).toBe(64);
    expect(other.stderr).toContain('refused');
    const sneaky = await asServer(
      ['sudo', '-n', HELPER],
      JSON.stringify({
        op: 'services.enable',
        service: 'container-registry',
        runId: '0b6f7c1e-8d2a-4c55-9a3e-2f4b6d8e0a1c',
        actor: 'mallory',
        address: '127.0.0.1',
        options: { source: 'tarball', tarball: '/mnt/shared/evil.tar.gz', sha256: 'e'.repeat(64) },
      }),
    );
    expect(sneaky.code).toBe(64);
    expect(sneaky.stderr).toContain('neither a pinned BuildKit release checksum');
    const audit = await api('/api/v1/audit?limit=50', { method: 'GET' });
    const refusals = (audit.body.entries as { action: string; actor: string; status: number }[]).filter(
      (e) => e.action === 'privileged.refused',
    );
    expect(refusals.map((e) => e.actor)).toEqual(expect.arrayContaining(['mallory', 'unknown']));
    expect(refusals.every((e) => e.status === 403)).toBe(true);
  }, 120_000);

  it('uninstall removes unit, user, sudoers rule and program, and keeps data and config', async () => {
    const r = await host.exec(['node', CLI, 'uninstall', '--yes'], { timeoutMs: 300_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(lastLine(r.stdout)).toMatch(/^recap: ok=\d+ changed=\d+ failed=0 skipped=0$/);
    expect(await sh('getent passwd opencloud || echo gone')).toBe('gone');
    for (const path of [
      '/etc/systemd/system/opencloud.service',
      '/etc/sudoers.d/opencloud',
      '/usr/lib/opencloud',
      '/usr/local/bin/opencloud',
    ])
      expect(await sh(`test -e ${path} && echo present || echo absent`), path).toBe('absent');
    expect(await sh('systemctl is-active opencloud || true')).toBe('inactive');
    expect(
      await sh('test -f /var/lib/opencloud/state.db && test -f /etc/opencloud/config.yaml && echo kept'),
    ).toBe('kept');
  }, 300_000);

  it('installs again over the kept data, then uninstall --purge removes data and config too', async () => {
    const r = await install();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await waitReady();
    expect(await sh('find /var/lib/opencloud -not -user opencloud | wc -l')).toBe('0');
    const u = await host.exec(['node', CLI, 'uninstall', '--yes', '--purge'], { timeoutMs: 300_000 });
    expect(u.code, u.stdout + u.stderr).toBe(0);
    expect(await sh('ls -d /var/lib/opencloud /etc/opencloud 2>/dev/null | wc -l')).toBe('0');
  }, 600_000);
});
