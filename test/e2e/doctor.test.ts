// `opencloud doctor` against the real containerd and buildkitd the test setup started, and
// against daemons that are not there.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { missing, titled } from '../support/env.js';

const work = mkdtempSync(join(tmpdir(), 'opencloud-doctor-e2e-'));
const daemonsMissing = missing('containerd', 'buildkit');

interface Report {
  healthy: boolean;
  checks: {
    name: string;
    status: string;
    message: string;
    fix?: string;
    details?: Record<string, unknown>;
  }[];
}

describe.skipIf(daemonsMissing)(titled('doctor against running daemons', daemonsMissing), () => {
  it('reports both healthy, with versions and the containerd worker', async () => {
    const r = await runCli(['doctor', '--json', '--data-dir', join(work, 'data')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.healthy).toBe(true);
    const byName = Object.fromEntries(report.checks.map((c) => [c.name, c]));
    expect(byName.containerd?.status).toBe('ok');
    expect(byName.containerd?.details?.version).toMatch(/^v?1\.[6-9]/);
    expect(byName.buildkit?.status).toBe('ok');
    expect(byName.buildkit?.details?.version).toBe('v0.16.0');
    const workers = byName.buildkit?.details?.workers as {
      id: string;
      executor: string;
      platforms: string[];
    }[];
    expect(workers.length).toBeGreaterThan(0);
    expect(workers[0]?.executor).toBe('containerd');
    expect(workers[0]?.platforms).toContain(process.arch === 'x64' ? 'linux/amd64' : `linux/${process.arch}`);
  });

  it('prints one line per check', async () => {
    const r = await runCli(['doctor', '--data-dir', join(work, 'data')]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    // Four checks, then the access section (who the server runs as and what it may reach).
    expect(lines[4]).toBe('');
    expect(lines[5]).toMatch(/^access: who the server runs as/);
    expect(lines.slice(0, 4).every((l) => /^(ok|warn|FAIL) /.test(l))).toBe(true);
    expect(lines[2]).toMatch(/^ok\s+containerd\s+v?1\.\d+\.\d+.* at \/run\/containerd\/containerd\.sock$/);
    expect(lines[3]).toMatch(
      /^ok\s+buildkit\s+v0\.16\.0 at \/run\/buildkit\/buildkitd\.sock, workers: \S+ \(containerd\)$/,
    );
  });
});

describe('doctor against daemons that are not there', () => {
  it('gives the seed message and the fix for an absent BuildKit, and fails', async () => {
    const r = await runCli(['doctor', '--data-dir', join(work, 'data')], {
      env: {
        OPENCLOUD_BUILDKIT_SOCKET: join(work, 'buildkitd.sock'),
        OPENCLOUD_CONTAINERD_SOCKET: join(work, 'containerd.sock'),
      },
    });
    expect(r.code).toBe(69);
    const lines = r.stdout.trim().split('\n');
    expect(lines[3]).toBe(
      `FAIL  buildkit    buildkit daemon not found at ${join(work, 'buildkitd.sock')}. Please ensure buildkit is installed and running.` +
        ' — fix: run `opencloud services enable container-registry` to install and start it',
    );
    expect(lines[2]).toContain(`containerd daemon not found at ${join(work, 'containerd.sock')}`);
  });

  it('tells a daemon that died (stale socket) from one never installed', async () => {
    const sock = join(work, 'dead.sock');
    const child = spawn(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(sock)}, () => console.log('up'))`,
    ]);
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const r = await runCli(['doctor', '--json', '--data-dir', join(work, 'data')], {
      env: { OPENCLOUD_BUILDKIT_SOCKET: sock },
    });
    expect(r.code).toBe(69);
    const bk = (JSON.parse(r.stdout) as Report).checks.find((c) => c.name === 'buildkit');
    expect(bk?.status).toBe('fail');
    expect(bk?.message).toContain('buildkit daemon is not running');
    expect(bk?.fix).toContain('systemctl start buildkit');
  });
});
