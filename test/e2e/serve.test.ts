// `opencloud serve` as a user runs it: a real process, real sockets, real signals.
import { mkdirSync, mkdtempSync, chmodSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, startServe } from '../support/cli.js';

const work = mkdtempSync(join(tmpdir(), 'opencloud-serve-'));
chmodSync(work, 0o755);
const dataDir = (name: string) => join(work, name);

/** A socket that accepts connections and never answers: calls to it hang until their deadline. */
function silentSocket(path: string): Promise<Server> {
  const server = createServer(() => undefined);
  return new Promise((resolve) => server.listen(path, () => resolve(server)));
}

describe('opencloud serve', () => {
  it('answers health, readiness, the registry base check and the API', async () => {
    const s = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir('basic')]);
    try {
      const health = await fetch(`${s.url}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: 'ok' });
      expect((await fetch(`${s.url}/readyz`)).status).toBe(200);

      const v2 = await fetch(`${s.url}/v2/`);
      expect(v2.status).toBe(200);
      expect(v2.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
      expect(await v2.json()).toEqual({});

      const unknown = await fetch(`${s.url}/v2/no/such/thing`);
      expect(unknown.status).toBe(404);
      expect(unknown.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
      const body = (await unknown.json()) as { errors: { code: string; message: string }[] };
      expect(body.errors[0]?.code).toBe('UNSUPPORTED');

      const api = await fetch(`${s.url}/api/v1/`);
      expect(await api.json()).toMatchObject({ name: 'opencloud', api: 'v1' });
      const info = (await (await fetch(`${s.url}/api/v1/system/info`)).json()) as Record<string, unknown>;
      expect(info.buildkitVersion).toBe('v0.16.0');
      expect(info.dataDir).toBe(dataDir('basic'));

      const missing = await fetch(`${s.url}/api/v1/nope`, { headers: { 'x-request-id': 'report-me-42' } });
      expect(missing.status).toBe(404);
      expect(missing.headers.get('x-request-id')).toBe('report-me-42');
      expect(await missing.json()).toEqual({
        error: { code: 'NOT_FOUND', message: 'no route for GET /api/v1/nope', requestId: 'report-me-42' },
      });
      const generated = await fetch(`${s.url}/api/v1/nope`);
      expect(((await generated.json()) as { error: { requestId: string } }).error.requestId).toBe(
        generated.headers.get('x-request-id'),
      );
    } finally {
      s.child.kill('SIGTERM');
      expect((await s.exited).code).toBe(0);
    }
  });

  it('writes structured JSON logs', async () => {
    const s = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir('logs')]);
    await fetch(`${s.url}/healthz`);
    s.child.kill('SIGINT');
    const { stdout, code } = await s.exited;
    expect(code).toBe(0);
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(
      lines.some(
        (l) => l.msg === 'request completed' && (l.res as { statusCode: number }).statusCode === 200,
      ),
    ).toBe(true);
    expect(lines.at(-1)?.msg).toBe('shutdown complete');
  });

  it('changes its log level at runtime: warn silences request lines, info brings them back', async () => {
    const s = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir('level')]);
    const put = (level: string) =>
      fetch(`${s.url}/api/v1/system/log-level`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ level }),
      });
    expect(await (await fetch(`${s.url}/api/v1/system/log-level`)).json()).toEqual({ level: 'info' });
    expect((await put('loud')).status).toBe(400);
    expect((await put('warn')).status).toBe(200);
    await fetch(`${s.url}/healthz?while=warn`);
    expect((await put('info')).status).toBe(200);
    await fetch(`${s.url}/healthz?while=info`);
    s.child.kill('SIGTERM');
    const { stdout } = await s.exited;
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string; req?: { url: string }; level: number });
    const urls = lines.filter((l) => l.msg === 'request completed').map((l) => l.req?.url);
    expect(urls).toContain('/healthz?while=info');
    expect(urls).not.toContain('/healthz?while=warn');
    expect(lines.some((l) => l.msg === 'log level changed')).toBe(true);
  });

  it('stops on SIGTERM when nobody reads its log any more (stdout a pipe whose reader is gone)', async () => {
    const s = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir('lost-stdout')]);
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
    // `opencloud serve | head -3` once head has quit: every log line from now on meets EPIPE.
    s.child.stdout?.destroy();
    const exit = new Promise<number | null>((resolve) => s.child.once('exit', (code) => resolve(code)));
    s.child.kill('SIGTERM');
    const code = await Promise.race([exit, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 15_000))]);
    if (code === 'hung') s.child.kill('SIGKILL');
    expect(code).toBe(0);
  });

  it('lets a request in flight finish on SIGTERM, and refuses new ones meanwhile', async () => {
    const sock = join(work, 'silent.sock');
    const silent = await silentSocket(sock);
    // doctor's BuildKit call hangs on the silent socket until its 3 s deadline: a real slow request.
    const s = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir('drain')], {
      env: { OPENCLOUD_BUILDKIT_SOCKET: sock, OPENCLOUD_SHUTDOWN_TIMEOUT: '20' },
    });
    try {
      const started = Date.now();
      const inFlight = fetch(`${s.url}/api/v1/system/doctor`);
      await new Promise((r) => setTimeout(r, 500));
      s.child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 300));
      await expect(fetch(`${s.url}/healthz`)).rejects.toThrow();

      const res = await inFlight;
      expect(res.status).toBe(200);
      const body = (await res.json()) as {
        checks: { name: string; status: string; details?: { fault: string } }[];
      };
      expect(body.checks.find((c) => c.name === 'buildkit')?.details?.fault).toBe('timeout');
      expect(Date.now() - started).toBeGreaterThanOrEqual(2900);
      expect((await s.exited).code).toBe(0);
    } finally {
      s.child.kill('SIGKILL');
      silent.close();
    }
  });

  it('cuts what is left when the shutdown deadline passes, and says so', async () => {
    const sock = join(work, 'silent2.sock');
    const silent = await silentSocket(sock);
    const s = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir('deadline')], {
      env: { OPENCLOUD_BUILDKIT_SOCKET: sock, OPENCLOUD_SHUTDOWN_TIMEOUT: '1' },
    });
    try {
      const inFlight = fetch(`${s.url}/api/v1/system/doctor`).then(
        (r) => r.status,
        () => 'cut',
      );
      await new Promise((r) => setTimeout(r, 300));
      s.child.kill('SIGTERM');
      const { code, stdout } = await s.exited;
      expect(code).toBe(1);
      const deadline = stdout
        .split('\n')
        .filter(Boolean)
        .map(
          (l) =>
            JSON.parse(l) as { msg: string; inFlight?: { method: string; url: string; ageMs: number }[] },
        )
        .find((l) => l.msg.startsWith('shutdown deadline passed'));
      // The log names the request that held the shutdown up.
      expect(deadline?.inFlight).toEqual([
        { method: 'GET', url: '/api/v1/system/doctor', ageMs: expect.any(Number) },
      ]);
      expect(await inFlight).toBe('cut');
    } finally {
      s.child.kill('SIGKILL');
      silent.close();
    }
  });
});

describe('opencloud serve refuses a bad configuration before listening', () => {
  it('a bad port: exit 78, naming the key, the value and what is allowed', async () => {
    const r = await runCli(['serve', '--listen', '127.0.0.1:99999', '--data-dir', dataDir('badport')]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('listen = "127.0.0.1:99999" (from --listen) is not valid');
    expect(r.stderr).toContain('port from 0 to 65535');
  });

  it('an unknown key in the config file', async () => {
    const cfg = join(work, 'typo.yaml');
    writeFileSync(cfg, 'listen: 127.0.0.1:0\nlogLevle: debug\n');
    const r = await runCli(['serve', '--config', cfg, '--data-dir', dataDir('typo')]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('logLevle');
    expect(r.stderr).toContain('is not a known key');
  });

  it('a bad environment value', async () => {
    const r = await runCli(['serve', '--data-dir', dataDir('env')], {
      env: { OPENCLOUD_SHUTDOWN_TIMEOUT: 'soon' },
    });
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('shutdownTimeout = "soon" (from OPENCLOUD_SHUTDOWN_TIMEOUT)');
  });

  it('a data dir that cannot be a directory: exit 73', async () => {
    const file = join(work, 'a-file');
    writeFileSync(file, '');
    const r = await runCli(['serve', '--listen', '127.0.0.1:0', '--data-dir', join(file, 'data')]);
    expect(r.code).toBe(73);
    expect(r.stderr).toContain(`data dir ${join(file, 'data')} cannot be used: a part of the path is a file`);
    expect(r.stderr).toContain('fix: pass --data-dir');
  });

  it.skipIf(process.getuid?.() !== 0)('a data dir the service user may not write: exit 73', async () => {
    const owned = dataDir('root-only');
    mkdirSync(owned, { mode: 0o755 });
    const r = await runCli(['serve', '--listen', '127.0.0.1:0', '--data-dir', owned], {
      uid: 65534,
      gid: 65534,
    });
    expect(r.code).toBe(73);
    expect(r.stderr).toContain(`data dir ${owned} cannot be used: permission denied`);
  });

  it('listening beyond loopback without authentication, unless --insecure-no-auth', async () => {
    const r = await runCli(['serve', '--listen', '0.0.0.0:0', '--data-dir', dataDir('exposed')]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('refusing to listen on 0.0.0.0:0 without authentication');
    const s = await startServe([
      '--listen',
      '0.0.0.0:0',
      '--insecure-no-auth',
      '--data-dir',
      dataDir('exposed'),
    ]);
    expect((await fetch(s.url.replace('0.0.0.0', '127.0.0.1') + '/healthz')).status).toBe(200);
    s.child.kill('SIGTERM');
    expect((await s.exited).code).toBe(0);
  });

  it('an unknown flag is a usage error (exit 64)', async () => {
    const r = await runCli(['serve', '--lisen', '127.0.0.1:0']);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain("unknown option '--lisen'");
  });
});
