// The installer in direct mode on this machine (no systemd): the test setup enabled the
// container-registry service with `--init direct --source go`, and every integration test uses
// the containerd and BuildKit it started. Here: that state as the ledger and the daemons report
// it, a re-run that changes nothing, a killed daemon found by doctor and brought back by enable,
// and refusals that leave the host untouched.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeBuildkitTarball, sha256Of } from '../support/buildkit-tarball.js';
import { runCli } from '../support/cli.js';
import { missing, testEnv, titled } from '../support/env.js';

const why = missing('installer');
const dataDir = () => testEnv!.components.installer?.dataDir as string;
const services = (args: string[]) =>
  runCli(['services', ...args, 'container-registry', '--data-dir', dataDir()]);
const enable = (extra: string[] = []) =>
  services(['enable', '--init', 'direct', '--source', 'go', '--yes', ...extra]);
const lastLine = (out: string) => out.trimEnd().split('\n').at(-1) ?? '';
const pid = (name: string) => readFileSync(`/run/opencloud/${name}.pid`, 'utf8').trim();

describe.skipIf(why)(titled('the installer in direct mode on this machine', why), () => {
  it('has containerd and BuildKit enabled, recorded in the ledger and answering', async () => {
    const r = await services(['status', '--json', '--init', 'direct']);
    expect(r.code, r.stderr).toBe(0);
    const status = JSON.parse(r.stdout) as {
      state: string;
      init: string;
      facts: Record<string, unknown>;
      containerd: { answers: boolean };
      buildkit: { answers: boolean; detail: string };
    };
    expect(status).toMatchObject({ state: 'enabled', init: 'direct', containerd: { answers: true } });
    expect(status.buildkit).toMatchObject({ answers: true, detail: 'v0.16.0, workers: containerd' });
    expect(status.facts['buildkit.source']).toBe('go:v0.16.0');
    const binaries = status.facts['buildkit.binaries'] as Record<string, string>;
    expect(binaries.buildkitd).toBe(sha256Of('/usr/local/bin/buildkitd'));
  });

  it('a second enable changes nothing and restarts nothing', async () => {
    const before = pid('buildkitd');
    const r = await enable();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(lastLine(r.stdout)).toMatch(/^recap: ok=\d+ changed=0 failed=0 skipped=0$/);
    expect(pid('buildkitd')).toBe(before);
  }, 600_000);

  it('doctor finds a killed buildkitd, and enable starts it again', async () => {
    process.kill(Number(pid('buildkitd')), 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const doctor = await services(['doctor', '--init', 'direct']);
    expect(doctor.code).toBe(69);
    expect(doctor.stdout).toContain(
      'buildkitd (direct mode: started in the background, not at boot): start service buildkitd',
    );
    const r = await enable();
    expect(r.code, r.stdout).toBe(0);
    expect(lastLine(r.stdout)).toMatch(/^recap: ok=\d+ changed=1 failed=0 skipped=0$/);
    const again = await services(['doctor', '--init', 'direct']);
    expect(again.code, again.stdout).toBe(0);
    expect(again.stdout).toContain('no drift: the host is as enabling left it');
  }, 600_000);

  it('--init systemd without systemd as PID 1 is refused before anything changes', async () => {
    const before = pid('buildkitd');
    const r = await services(['enable', '--init', 'systemd', '--source', 'go', '--yes']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('systemd is not running as PID 1 here (/run/systemd/system is missing)');
    expect(lastLine(r.stdout)).toMatch(/^recap: ok=0 changed=0 failed=1 skipped=\d+$/);
    expect(pid('buildkitd')).toBe(before);
  });

  it('a tarball without a known checksum is refused, and the installed binaries stay', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opencloud-direct-'));
    const t = makeBuildkitTarball(dir);
    const before = sha256Of('/usr/local/bin/buildkitd');
    const r = await services([
      'enable',
      '--init',
      'direct',
      '--source',
      'tarball',
      '--tarball',
      t.path,
      '--yes',
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`--sha256 is required for ${t.path}: its checksum (${t.sha256})`);
    expect(sha256Of('/usr/local/bin/buildkitd')).toBe(before);
    const status = JSON.parse((await services(['status', '--json', '--init', 'direct'])).stdout) as {
      state: string;
    };
    expect(status.state).toBe('enabled');
  });
});
