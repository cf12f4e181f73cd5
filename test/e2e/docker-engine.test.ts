// The Docker engine, the client most people use (Debian's docker.io 20.10, its own dockerd from the
// test environment), against a server with authentication on: login through the token flow with a
// password and with an API token, a wrong password refused, a legacy `docker build` FROM an image
// here, push, pull after the local copy is gone, run, and anonymous pulls refused on a private
// repository while a public one serves them.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushBaseImage } from '../support/base-image.js';
import { BIN, startServe, type ServeHandle } from '../support/cli.js';
import { dockerClient, type DockerClient } from '../support/docker.js';
import { missing, testEnv, titled } from '../support/env.js';

const why = missing('docker', 'skopeo');
const work = mkdtempSync(join(tmpdir(), 'opencloud-docker-'));
const dataDir = join(work, 'data');
const PW = { admin: `adm-${randomBytes(9).toString('hex')}`, dev: `dev-${randomBytes(9).toString('hex')}` };
let server: ServeHandle;
let host: string;
let docker: DockerClient;
let devToken: string;
let pushed: string;

function cli(args: string[], input = ''): string {
  const r = spawnSync(process.execPath, [BIN, ...args, '--data-dir', dataDir], { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`opencloud ${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
  return r.stdout;
}

describe.skipIf(why)(titled('the Docker engine (docker.io 20.10)', why), () => {
  beforeAll(async () => {
    cli(['users', 'add', 'admin', '--admin', '--password-stdin'], `${PW.admin}\n`);
    cli(['users', 'add', 'dev', '--password-stdin'], `${PW.dev}\n`);
    cli(['users', 'grant', 'dev', 'team/*', 'pull,push']);
    cli(['users', 'grant', 'anonymous', 'library/*', 'pull']);
    devToken = /^(oc_\S+)$/m.exec(cli(['users', 'token', 'create', 'dev', 'docker']))?.[1] as string;
    server = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir]);
    host = new URL(server.url).host;
    await pushBaseImage(testEnv?.cacheDir ?? '/var/cache/opencloud-test', host, {
      creds: `admin:${PW.admin}`,
    });
    docker = dockerClient(join(work, 'docker-config'));
  }, 120_000);

  afterAll(async () => {
    if (docker)
      await docker.run(['image', 'rm', '--force', `${host}/team/app:1`, `${host}/library/busybox:1`]);
    if (server) {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    rmSync(work, { recursive: true, force: true });
  });

  it('logs in through the token flow with a password and with an API token; a wrong password is refused', async () => {
    const bad = await docker.run(['login', host, '-u', 'dev', '--password-stdin'], {
      input: 'wrong-password\n',
    });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/unauthorized|incorrect username or password/i);
    expect(
      await docker.ok(['login', host, '-u', 'dev', '--password-stdin'], { input: `${devToken}\n` }),
    ).toContain('Login Succeeded');
    expect(
      await docker.ok(['login', host, '-u', 'dev', '--password-stdin'], { input: `${PW.dev}\n` }),
    ).toContain('Login Succeeded');
  });

  it('builds FROM an image here with the legacy builder and pushes it; the registry holds that digest', async () => {
    const ctx = join(work, 'ctx');
    mkdirSync(ctx);
    writeFileSync(
      join(ctx, 'Dockerfile'),
      `FROM ${host}/library/busybox:1\nRUN echo built-by-docker > /hello\n`,
    );
    await docker.ok(['build', '--network', 'none', '-t', `${host}/team/app:1`, ctx], {
      env: { DOCKER_BUILDKIT: '0' },
    });
    const out = await docker.ok(['push', `${host}/team/app:1`]);
    pushed = /digest: (sha256:[0-9a-f]{64})/.exec(out)?.[1] as string;
    expect(pushed, out).toMatch(/^sha256:/);
    // What the registry answers for the tag, asked with dev's own credentials.
    const token = (await (
      await fetch(`${server.url}/auth/token?service=opencloud-registry&scope=repository:team/app:pull`, {
        headers: { authorization: `Basic ${Buffer.from(`dev:${PW.dev}`).toString('base64')}` },
      })
    ).json()) as { token: string };
    const head = await fetch(`${server.url}/v2/team/app/manifests/1`, {
      method: 'HEAD',
      headers: {
        authorization: `Bearer ${token.token}`,
        accept: 'application/vnd.docker.distribution.manifest.v2+json',
      },
    });
    expect(head.status).toBe(200);
    expect(head.headers.get('docker-content-digest')).toBe(pushed);
  });

  it('pulls it back after the local copy is removed, and runs it', async () => {
    await docker.ok(['image', 'rm', `${host}/team/app:1`]);
    const pulled = await docker.ok(['pull', `${host}/team/app:1`]);
    expect(pulled).toContain(`Digest: ${pushed}`);
    const ran = await docker.ok(['run', '--rm', '--network', 'none', `${host}/team/app:1`, 'cat', '/hello']);
    expect(ran.trim()).toBe('built-by-docker');
  });

  it('refuses an anonymous pull of a private repository and serves a public one', async () => {
    await docker.ok(['logout', host]);
    await docker.ok(['image', 'rm', `${host}/team/app:1`, `${host}/library/busybox:1`]);
    const refused = await docker.run(['pull', `${host}/team/app:1`]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/denied|unauthorized|authentication required/i);
    expect(await docker.ok(['pull', `${host}/library/busybox:1`])).toContain('Digest: sha256:');
  });
});
