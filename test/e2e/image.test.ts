// OpenCloud shipped as a container image: the repository's own Dockerfile, built by OpenCloud's own
// build service from the checkout (what git tracks, as an uploaded archive) with the public node
// base images replaced by locally made stand-ins (baseImages), pushed into the running OpenCloud,
// and then run by podman and by the Docker engine: a user made first on the volume, the server
// serving /v2/ with authentication on as a non-root user, healthy by its HEALTHCHECK, an image
// pushed into it still there after the container stops on SIGTERM (exit 0) and starts again, and
// a build run from inside the container on the host's BuildKit through the mounted socket.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushBaseImage } from '../support/base-image.js';
import { ROOT, startServe, type ServeHandle } from '../support/cli.js';
import { dockerClient } from '../support/docker.js';
import { binDir, missing, testEnv, titled } from '../support/env.js';
import { pushImageBases } from '../support/image-bases.js';
import { writeImageLayout } from '../support/oci-layout.js';
import { podmanSandbox } from '../support/podman.js';
import { freePort } from '../support/ports.js';
import { buildEnded, readSse } from '../support/sse.js';

const run = promisify(execFile);
const buildkitSocket = testEnv?.components.buildkit?.socket ?? '/run/buildkit/buildkitd.sock';
/** This process's hard limit of open files (what runc may give a container without raising it). */
const openFiles =
  /^Max open files\s+\S+\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? '1024';
const why = missing('buildkit', 'skopeo', 'node-base');
const work = mkdtempSync(join(tmpdir(), 'opencloud-image-'));
const REPO = 'opencloud/opencloud';
let server: ServeHandle;
let host: string;
let image: string; // host/opencloud/opencloud:test
let revision: string;

interface Manifest {
  config: { digest: string };
  layers: { size: number }[];
}
interface ImageConfig {
  config: {
    User?: string;
    Volumes?: Record<string, unknown>;
    Labels?: Record<string, string>;
    Healthcheck?: { Test: string[] };
    Entrypoint?: string[];
  };
}

async function blob<T>(path: string, accept?: string): Promise<T> {
  const res = await fetch(`${server.url}/v2/${REPO}/${path}`, accept ? { headers: { accept } } : {});
  expect(res.status, path).toBe(200);
  return (await res.json()) as T;
}

/** Everything git tracks (and untracked files it does not ignore), as the archive a user uploads. */
function checkoutArchive(): Buffer {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: ROOT,
  });
  // Files deleted from the work tree but still in the index are left out (tar would fail on them).
  const present = files
    .toString()
    .split('\0')
    .filter((f) => f && existsSync(join(ROOT, f)));
  return execFileSync('tar', ['-czf', '-', '--null', '-T', '-'], {
    cwd: ROOT,
    input: present.join('\0'),
    maxBuffer: 64 << 20,
  });
}

describe.skipIf(why)(titled('OpenCloud as a container image', why), () => {
  beforeAll(async () => {
    server = await startServe(['--listen', '127.0.0.1:0', '--data-dir', join(work, 'data')]);
    host = new URL(server.url).host;
    image = `${host}/${REPO}:test`;
    revision = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  }, 60_000);

  afterAll(async () => {
    if (server) {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    rmSync(work, { recursive: true, force: true });
  });

  it('builds from the repository Dockerfile with our build service, base images replaced by stand-ins', async () => {
    const bases = await pushImageBases(
      testEnv?.components['node-base']?.dir as string,
      join(binDir(), 'buildctl'),
      host,
    );
    const query = new URLSearchParams([
      ['repository', REPO],
      ['tag', 'test'],
      ['buildArg', 'VERSION=0.1.0-test'],
      ['buildArg', `REVISION=${revision}`],
      ...Object.entries(bases).map(([name, ref]): [string, string] => ['baseImage', `${name}=${ref}`]),
    ]);
    const res = await fetch(`${server.url}/api/v1/builds?${query.toString()}`, {
      method: 'POST',
      headers: { 'content-type': 'application/gzip' },
      body: checkoutArchive(),
    });
    const submitted = (await res.json()) as { id: string };
    expect(res.status, JSON.stringify(submitted)).toBe(202);
    const events = await readSse(`${server.url}/api/v1/builds/${submitted.id}/events`, {
      until: buildEnded,
      timeoutMs: 840_000,
    });
    const build = (await (await fetch(`${server.url}/api/v1/builds/${submitted.id}`)).json()) as {
      state: string;
      error: string | null;
      digest: string;
      log?: string;
    };
    expect(build.state, `${build.error}\n${JSON.stringify(events.slice(-20))}`).toBe('succeeded');

    const manifest = await blob<Manifest>(`manifests/${build.digest}`);
    const config = await blob<ImageConfig>(`blobs/${manifest.config.digest}`);
    expect(config.config.User).toBe('opencloud');
    expect(Object.keys(config.config.Volumes ?? {})).toEqual(['/var/lib/opencloud']);
    expect(config.config.Labels).toMatchObject({
      'org.opencontainers.image.version': '0.1.0-test',
      'org.opencontainers.image.revision': revision,
    });
    expect(config.config.Healthcheck?.Test.join(' ')).toContain('/readyz');
    const bytes = manifest.layers.reduce((n, l) => n + l.size, 0);
    console.log(
      `[image] ${image}: ${manifest.layers.length} layers, ${(bytes / 2 ** 20).toFixed(1)} MiB compressed`,
    );
  }, 900_000);

  /**
   * The same checks with either engine: podman and docker take the same arguments for all of them.
   * `engine(args, input)` runs the engine's CLI and resolves its stdout, rejecting on a non-zero exit.
   */
  type Engine = (args: string[], input?: string) => Promise<string>;
  function runsUnder(
    name: string,
    skip: string | undefined,
    engine: () => Engine,
    health: { runFlags: string[]; check: (e: Engine, ctr: string) => Promise<void> },
  ) {
    describe.skipIf(skip)(titled(`runs under ${name}`, skip), () => {
      const ctr = `opencloud-${name}-${randomBytes(3).toString('hex')}`;
      const volume = `${ctr}-data`;
      const password = `pw-${randomBytes(9).toString('hex')}`;
      let port: number;
      let url: string;
      let pushedDigest: string;
      const ready = async () => {
        for (let i = 0; i < 300; i++) {
          const ok = await fetch(`${url}/readyz`).then(
            (r) => r.status === 200,
            () => false,
          );
          if (ok) return;
          await new Promise((r) => setTimeout(r, 200));
        }
        throw new Error(
          `${url}/readyz did not answer 200 within 60 s:\n${await engine()(['logs', ctr]).catch(String)}`,
        );
      };

      afterAll(async () => {
        await engine()(['rm', '--force', ctr]).catch(() => '');
        await engine()(['volume', 'rm', '--force', volume]).catch(() => '');
      });

      it('makes its first user on the volume, then serves /v2/ with authentication on, as a non-root user', async () => {
        const e = engine();
        await e(['pull', image]);
        await e(['volume', 'create', volume]);
        // Listening beyond loopback is refused until a user exists: the documented first step.
        await e(
          [
            'run',
            '--rm',
            '-i',
            '-v',
            `${volume}:/var/lib/opencloud`,
            image,
            'users',
            'add',
            'admin',
            '--admin',
            '--password-stdin',
          ],
          `${password}\n`,
        );
        port = await freePort();
        url = `http://127.0.0.1:${port}`;
        await e([
          'run',
          '-d',
          '--name',
          ctr,
          '--network',
          'host',
          ...health.runFlags,
          // The host's BuildKit daemon, reached through its socket with the socket's group.
          '-v',
          `${buildkitSocket}:/run/buildkit/buildkitd.sock`,
          '--group-add',
          String(statSync(buildkitSocket).gid),
          '-e',
          `OPENCLOUD_LISTEN=0.0.0.0:${port}`,
          '-v',
          `${volume}:/var/lib/opencloud`,
          image,
        ]);
        await ready();
        const v2 = await fetch(`${url}/v2/`);
        expect(v2.status).toBe(401);
        expect(v2.headers.get('www-authenticate')).toContain(`realm="http://127.0.0.1:${port}/auth/token"`);
        expect((await e(['exec', ctr, 'id', '-u'])).trim()).toBe('10001');
        // The command is on PATH inside, for an administrator's `exec`.
        expect(await e(['exec', ctr, 'opencloud', 'users', 'list'])).toContain('admin');
        expect((await e(['exec', ctr, 'stat', '-c', '%u', '/var/lib/opencloud/state.db'])).trim()).toBe(
          '10001',
        );
        expect(await e(['inspect', '--format', '{{.Config.Healthcheck.Test}}', ctr])).toContain('/readyz');
        await health.check(e, ctr);
      }, 300_000);

      it('keeps an image pushed into it across a stop on SIGTERM (exit 0) and a start', async () => {
        const e = engine();
        const layout = join(work, `layout-${name}`);
        mkdirSync(layout);
        pushedDigest = writeImageLayout(layout, [{ 'etc/hello': `pushed into the ${name} container\n` }]);
        await run('skopeo', [
          'copy',
          '--dest-tls-verify=false',
          '--dest-creds',
          `admin:${password}`,
          `oci:${layout}:latest`,
          `docker://127.0.0.1:${port}/team/kept:1`,
        ]);
        await e(['stop', '--time', '30', ctr]);
        expect((await e(['inspect', '--format', '{{.State.ExitCode}}', ctr])).trim()).toBe('0');
        expect(await e(['logs', ctr])).toContain('shutdown complete');
        await e(['start', ctr]);
        await ready();
        const { stdout } = await run('skopeo', [
          'inspect',
          '--raw',
          '--tls-verify=false',
          '--creds',
          `admin:${password}`,
          `docker://127.0.0.1:${port}/team/kept:1`,
        ]);
        expect(stdout).toContain('"layers"');
        const { stdout: digest } = await run('skopeo', [
          'inspect',
          '--format',
          '{{.Digest}}',
          '--tls-verify=false',
          '--creds',
          `admin:${password}`,
          `docker://127.0.0.1:${port}/team/kept:1`,
        ]);
        expect(digest.trim()).toBe(pushedDigest);
      }, 180_000);

      it("builds an image with the host's BuildKit through the mounted socket and pushes it into itself", async () => {
        const creds = `admin:${password}`;
        const authorization = `Basic ${Buffer.from(creds).toString('base64')}`;
        const base = await pushBaseImage(testEnv?.cacheDir as string, `127.0.0.1:${port}`, { creds });
        const res = await fetch(`${url}/api/v1/builds`, {
          method: 'POST',
          headers: { authorization, 'content-type': 'application/json' },
          body: JSON.stringify({
            dockerfile: `FROM ${base}\nRUN echo built-under-${name} > /proof\n`,
            repository: 'team/built',
            tags: ['1'],
          }),
        });
        const submitted = (await res.json()) as { id: string };
        expect(res.status, JSON.stringify(submitted)).toBe(202);
        await readSse(`${url}/api/v1/builds/${submitted.id}/events`, {
          headers: { authorization },
          until: buildEnded,
          timeoutMs: 170_000,
        });
        const build = (await (
          await fetch(`${url}/api/v1/builds/${submitted.id}`, { headers: { authorization } })
        ).json()) as { state: string; error: string | null; digest: string };
        expect(build.state, build.error ?? '').toBe('succeeded');
        const { stdout } = await run('skopeo', [
          'inspect',
          '--format',
          '{{.Digest}}',
          '--tls-verify=false',
          '--creds',
          creds,
          `docker://127.0.0.1:${port}/team/built:1`,
        ]);
        expect(stdout.trim()).toBe(build.digest);
      }, 180_000);
    });
  }

  const podmanDir = join(work, 'podman');
  runsUnder(
    'podman',
    missing('podman'),
    () => {
      // overlay, not the vfs the other podman tests use: vfs copies the whole root file system per layer.
      const sandbox = podmanSandbox(podmanDir, { driver: 'overlay' });
      return async (args, input) => {
        // pull: plain HTTP, any signature. run: no health-check timer (podman makes them with
        // systemd, which this machine has not), and limits this machine lets runc set. podman 4.3 as
        // root asks for 1048576 open files and as many processes; without CAP_SYS_RESOURCE (as here)
        // runc cannot raise them and fails with EPERM; seen here, nproc above a few thousand too.
        const flags: Record<string, string[]> = {
          pull: ['--tls-verify=false', '--signature-policy', sandbox.policy],
          run: [
            '--health-interval',
            'disable',
            '--ulimit',
            `nofile=${openFiles}:${openFiles}`,
            '--ulimit',
            'nproc=4096:4096',
          ],
        };
        const extra = flags[args[0] as string] ?? [];
        const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) => {
          const child = execFile(
            'podman',
            [args[0] as string, ...extra, ...args.slice(1)],
            { env: { ...process.env, ...sandbox.env }, maxBuffer: 64 << 20, timeout: 240_000 },
            (err, stdout, stderr) =>
              err
                ? reject(new Error(`podman ${args.join(' ')}: ${stderr}`))
                : resolve({ stdout: stdout + stderr }),
          );
          child.stdin?.end(input ?? '');
        });
        return stdout;
      };
    },
    // podman runs health checks from systemd timers, which this machine has not: run it once now.
    { runFlags: [], check: async (e, ctr) => void (await e(['healthcheck', 'run', ctr])) },
  );

  runsUnder(
    'docker',
    missing('docker'),
    () => {
      const docker = dockerClient(join(work, 'docker-config'));
      return async (args, input) => {
        const r = await docker.run(args, input === undefined ? {} : { input });
        if (r.code !== 0) throw new Error(`docker ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
        return r.stdout + r.stderr;
      };
    },
    // dockerd runs the image's HEALTHCHECK itself; every 2 s here instead of 30 s, until it says healthy.
    {
      runFlags: ['--health-interval', '2s'],
      check: async (e, ctr) => {
        let status = '';
        for (let i = 0; i < 60 && status !== 'healthy'; i++) {
          status = (await e(['inspect', '--format', '{{.State.Health.Status}}', ctr])).trim();
          if (status !== 'healthy') await new Promise((r) => setTimeout(r, 1000));
        }
        expect(status).toBe('healthy');
      },
    },
  );
});
