// More real clients against a running server over plain HTTP: crane, oras and regctl (built from
// the Go module proxy into the test cache) and Debian's podman. Each keeps its configuration in
// this file's scratch dir, so nothing the machine has (credentials, registries.conf, podman's
// storage) changes what they do, and they write next to nothing outside it (see podman's below).
import { execFile, type ExecFileException } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServe, type ServeHandle } from '../support/cli.js';
import { missing, titled } from '../support/env.js';
import { writeImageLayout } from '../support/oci-layout.js';
import { podmanSandbox } from '../support/podman.js';
import { sha256 } from '../support/registry-client.js';
import { tool } from '../support/tools.js';

// Lower case only: podman names an image it loads from an OCI layout after the layout's path.
const work = join(tmpdir(), `opencloud-go-clients-${randomBytes(6).toString('hex')}`);
mkdirSync(work);
let server: ServeHandle;
let host: string; // host:port as image references spell it

// No client reads the machine's credentials or configuration: HOME and DOCKER_CONFIG are ours.
const baseEnv: NodeJS.ProcessEnv = {
  ...process.env,
  HOME: join(work, 'home'),
  DOCKER_CONFIG: join(work, 'docker'),
};

interface Ran {
  stdout: string;
  stderr: string;
}

interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
}

function exec(cmd: string, args: string[], opts: RunOptions) {
  return new Promise<Ran & { err: ExecFileException | null }>((resolve) => {
    execFile(
      cmd,
      args,
      {
        cwd: opts.cwd ?? work,
        env: { ...baseEnv, ...opts.env },
        maxBuffer: 64 * 1024 * 1024,
        timeout: 60_000,
      },
      (err, stdout, stderr) => resolve({ err, stdout, stderr }),
    );
  });
}

const shown = (cmd: string, args: string[]) => [basename(cmd), ...args].join(' ');

/** Runs a client; when it fails the error has the command, its exit status, stderr and stdout. */
async function client(cmd: string, args: string[], opts: RunOptions = {}): Promise<Ran> {
  const { err, stdout, stderr } = await exec(cmd, args, opts);
  if (err)
    throw new Error(
      `\`${shown(cmd, args)}\` failed (${err.signal ?? `exit ${String(err.code)}`}):\n` +
        `--- stderr\n${stderr}--- stdout\n${stdout}`,
    );
  return { stdout, stderr };
}

/** Runs a client that must fail; returns its stderr. */
async function clientFails(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  const { err, stdout, stderr } = await exec(cmd, args, opts);
  if (!err) throw new Error(`\`${shown(cmd, args)}\` succeeded but should fail:\n${stdout}${stderr}`);
  return stderr;
}

const lines = (s: string) => s.split('\n').filter((l) => l.trim() !== '');

interface Layout {
  dir: string;
  /** Digest of the image manifest. */
  digest: string;
  /** Digest of the image config, which podman and docker call the image id. */
  config: string;
}

/** A three-layer image as an OCI layout under the scratch dir, tagged `latest`. */
function layout(name: string): Layout {
  const dir = join(work, name);
  const digest = writeImageLayout(dir, [
    { 'etc/name': name },
    { 'data/random.bin': randomBytes(64 * 1024).toString('base64') },
    { 'data/big.txt': 'opencloud\n'.repeat(20_000) },
  ]);
  const manifest = JSON.parse(
    readFileSync(join(dir, 'blobs/sha256', digest.slice('sha256:'.length)), 'utf8'),
  ) as { config: { digest: string } };
  return { dir, digest, config: manifest.config.digest };
}

beforeAll(async () => {
  mkdirSync(baseEnv.HOME as string);
  server = await startServe(['--listen', '127.0.0.1:0', '--data-dir', join(work, 'data')]);
  host = server.url.replace('http://', '');
});
afterAll(async () => {
  if (server) {
    server.child.kill('SIGTERM');
    await server.exited;
  }
  rmSync(work, { recursive: true, force: true });
});

const noCrane = missing('crane');
describe.skipIf(noCrane)(titled('crane', noCrane), () => {
  let crane: string;
  let image: Layout;
  const src = () => `${host}/clients-go/crane`;
  const dst = () => `${host}/clients-go/crane-copy`;
  beforeAll(() => {
    crane = tool('crane');
    image = layout('crane-layout');
  });

  it('pushes a three-layer OCI layout with its digest unchanged, every blob served intact', async () => {
    const { stdout } = await client(crane, ['push', '--insecure', image.dir, `${src()}:v1`]);
    expect(stdout.trim()).toBe(`${src()}@${image.digest}`);
    expect((await client(crane, ['digest', '--insecure', `${src()}:v1`])).stdout.trim()).toBe(image.digest);
    const manifest = (await client(crane, ['manifest', '--insecure', `${src()}:v1`])).stdout;
    expect(sha256(manifest)).toBe(image.digest);
    expect((JSON.parse(manifest) as { layers: unknown[] }).layers).toHaveLength(3);
    // Downloads the config and every layer and checks digests, sizes and diff ids.
    await client(crane, ['validate', '--insecure', '--remote', `${src()}:v1`]);
  });

  it('copies to another repository by cross-repository mounts alone', async () => {
    const { stderr: log } = await client(crane, ['copy', '--insecure', '-v', `${src()}:v1`, `${dst()}:v1`]);
    // Config and three layers: each one a POST …/blobs/uploads/?from=…&mount=… answered 201.
    const mounted = log.match(
      /<-- 201 http:\/\/\S+\/v2\/clients-go\/crane-copy\/blobs\/uploads\/\?\S*mount=/g,
    );
    expect(mounted, log).toHaveLength(4);
    expect(log, 'a blob was uploaded instead of mounted').not.toMatch(
      /--> (PATCH|PUT) \S+\/blobs\/uploads\//,
    );
    expect((await client(crane, ['digest', '--insecure', `${dst()}:v1`])).stdout.trim()).toBe(image.digest);
    const [a, b] = await Promise.all([
      client(crane, ['manifest', '--insecure', `${src()}:v1`]),
      client(crane, ['manifest', '--insecure', `${dst()}:v1`]),
    ]);
    expect(b.stdout).toBe(a.stdout);
    await client(crane, ['validate', '--insecure', '--remote', `${dst()}:v1`]);
  });

  it('lists tags (crane ls) and repositories (crane catalog)', async () => {
    await client(crane, ['tag', '--insecure', `${src()}:v1`, 'v2']);
    expect((await client(crane, ['digest', '--insecure', `${src()}:v2`])).stdout.trim()).toBe(image.digest);
    expect(lines((await client(crane, ['ls', '--insecure', src()])).stdout)).toEqual(['v1', 'v2']);
    expect(lines((await client(crane, ['ls', '--insecure', dst()])).stdout)).toEqual(['v1']);
    // Other clients' repositories may be there too: the server is shared by this file.
    const repos = lines((await client(crane, ['catalog', '--insecure', host])).stdout);
    expect(repos).toEqual(expect.arrayContaining(['clients-go/crane', 'clients-go/crane-copy']));
  });
});

const noOras = missing('oras');
describe.skipIf(noOras)(titled('oras', noOras), () => {
  const ARTIFACT = 'application/vnd.opencloud.test.artifact.v1';
  const SIGNATURE = 'application/vnd.opencloud.test.signature.v1';
  const SBOM = 'application/vnd.opencloud.test.sbom.v1';
  let oras: string;
  let dir: string;
  let payload: Buffer;
  let artifact: string; // the pushed artifact's manifest digest
  const repo = () => `${host}/clients-go/oras`;
  beforeAll(() => {
    oras = tool('oras');
    dir = join(work, 'oras');
    mkdirSync(dir);
    payload = Buffer.concat([randomBytes(200_000), Buffer.from('end of payload\n')]);
    writeFileSync(join(dir, 'payload.bin'), payload);
  });

  it('pushes an artifact with its artifact type and pulls it back byte for byte', async () => {
    const pushed = JSON.parse(
      (
        await client(
          oras,
          [
            'push',
            '--plain-http',
            '--artifact-type',
            ARTIFACT,
            '--format',
            'json',
            `${repo()}:v1`,
            'payload.bin:application/vnd.opencloud.test.payload',
          ],
          { cwd: dir },
        )
      ).stdout,
    ) as { digest: string; artifactType: string };
    expect(pushed.artifactType).toBe(ARTIFACT);
    artifact = pushed.digest;

    const manifest = JSON.parse(
      (await client(oras, ['manifest', 'fetch', '--plain-http', `${repo()}:v1`])).stdout,
    ) as { artifactType: string; layers: { digest: string; size: number; mediaType: string }[] };
    expect(manifest.artifactType).toBe(ARTIFACT);
    expect(manifest.layers).toEqual([
      expect.objectContaining({
        mediaType: 'application/vnd.opencloud.test.payload',
        digest: sha256(payload),
        size: payload.length,
      }),
    ]);

    const out = join(dir, 'pulled');
    await client(oras, ['pull', '--plain-http', '-o', out, `${repo()}:v1`]);
    expect(readFileSync(join(out, 'payload.bin')).equals(payload)).toBe(true);
  });

  it('attaches a signature that discover finds through the referrers API', async () => {
    writeFileSync(join(dir, 'signature.json'), JSON.stringify({ signed: artifact }));
    writeFileSync(join(dir, 'sbom.txt'), 'payload.bin 1.0\n');
    const attach = async (type: string, file: string) => {
      const { stdout } = await client(
        oras,
        [
          'attach',
          '--plain-http',
          // The referrers API only, never the tag-schema fallback: fails if the server lacks it.
          '--distribution-spec',
          'v1.1-referrers-api',
          '--artifact-type',
          type,
          '--format',
          'json',
          `${repo()}:v1`,
          file,
        ],
        { cwd: dir },
      );
      return (JSON.parse(stdout) as { digest: string }).digest;
    };
    const signature = await attach(SIGNATURE, 'signature.json:application/json');
    const sbom = await attach(SBOM, 'sbom.txt:text/plain');

    interface Discovered {
      digest: string;
      referrers: { digest: string; artifactType: string }[];
    }
    const discover = async (...filter: string[]) =>
      JSON.parse(
        (
          await client(oras, [
            'discover',
            '--plain-http',
            '--distribution-spec',
            'v1.1-referrers-api',
            '--format',
            'json',
            ...filter,
            `${repo()}:v1`,
          ])
        ).stdout,
      ) as Discovered;

    const all = await discover();
    expect(all.digest).toBe(artifact);
    expect(all.referrers.map((r) => [r.digest, r.artifactType]).sort()).toEqual(
      [
        [signature, SIGNATURE],
        [sbom, SBOM],
      ].sort(),
    );
    const signatures = await discover('--artifact-type', SIGNATURE);
    expect(signatures.referrers.map((r) => r.digest)).toEqual([signature]);
    // The server took the subject itself (OCI-Subject): no sha256-… fallback tag was made.
    expect(lines((await client(oras, ['repo', 'tags', '--plain-http', repo()])).stdout)).toEqual(['v1']);
  });
});

const noRegctl = missing('regctl');
describe.skipIf(noRegctl)(titled('regctl', noRegctl), () => {
  let regctl: string;
  let image: Layout;
  let env: Record<string, string>;
  const src = () => `${host}/clients-go/regctl-src`;
  const dst = () => `${host}/clients-go/regctl-dst`;
  const digestOf = async (ref: string) =>
    (await client(regctl, ['image', 'digest', ref], { env })).stdout.trim();
  beforeAll(async () => {
    regctl = tool('regctl');
    image = layout('regctl-layout');
    // regctl's own config, private to this test: it is where the host is marked plain HTTP.
    env = { REGCTL_CONFIG: join(work, 'regctl', 'config.json') };
    await client(regctl, ['registry', 'set', '--tls', 'disabled', host], { env });
    const config = JSON.parse(readFileSync(env.REGCTL_CONFIG as string, 'utf8')) as {
      hosts: Record<string, { tls: string }>;
    };
    expect(config.hosts[host]?.tls).toBe('disabled');
  });

  it('copies an image from an OCI layout and then between repositories, digest unchanged', async () => {
    await client(regctl, ['image', 'copy', `ocidir://${image.dir}:latest`, `${src()}:v1`], { env });
    expect(await digestOf(`${src()}:v1`)).toBe(image.digest);
    await client(regctl, ['image', 'copy', `${src()}:v1`, `${dst()}:v1`], { env });
    await client(regctl, ['image', 'copy', `${src()}:v1`, `${dst()}:v2`], { env });
    expect(await digestOf(`${dst()}:v1`)).toBe(image.digest);
    expect(await digestOf(`${dst()}:v2`)).toBe(image.digest);
    const config = JSON.parse((await client(regctl, ['image', 'config', `${dst()}:v1`], { env })).stdout) as {
      rootfs: { diff_ids: string[] };
    };
    expect(config.rootfs.diff_ids).toHaveLength(3);
  });

  it('deletes one tag: it is gone, the other tag of the same manifest still resolves', async () => {
    expect(lines((await client(regctl, ['tag', 'ls', dst()], { env })).stdout)).toEqual(['v1', 'v2']);
    const { stderr: log } = await client(regctl, ['-v', 'trace', 'tag', 'delete', `${dst()}:v1`], { env });
    // The registry's own tag delete (DELETE /v2/<name>/manifests/<tag>), not regctl's fallback of
    // pushing a dummy manifest over the tag and deleting that by digest.
    expect(log).toMatch(
      /req-method=DELETE req-url=\S+\/clients-go\/regctl-dst\/manifests\/v1 .*resp-status="202 /,
    );
    expect(log).not.toMatch(/req-method=PUT/);
    expect(lines((await client(regctl, ['tag', 'ls', dst()], { env })).stdout)).toEqual(['v2']);
    const stderr = await clientFails(regctl, ['manifest', 'head', `${dst()}:v1`], { env });
    expect(stderr).toMatch(/not found|404/i);
    expect(await digestOf(`${dst()}:v2`)).toBe(image.digest);
    expect(await digestOf(`${src()}:v1`)).toBe(image.digest);
  });
});

const noPodman = missing('podman');
describe.skipIf(noPodman)(titled('podman', noPodman), () => {
  let image: Layout;
  let dir: string;
  let env: Record<string, string>;
  let policy: string;
  const podman = (args: string[]) => client('podman', args, { env });

  beforeAll(() => {
    image = layout('podman-layout');
    dir = join(work, 'podman');
    ({ env, policy } = podmanSandbox(dir));
  });

  afterAll(async () => {
    if (env) await exec('podman', ['rmi', '--all', '--force'], { env });
  });

  it('pushes an image loaded from an OCI layout, and pulls it back with the same image id', async () => {
    const info = JSON.parse((await podman(['info', '--format', 'json'])).stdout) as {
      store: { graphRoot: string; graphDriverName: string };
    };
    expect(info.store.graphRoot).toBe(join(dir, 'root'));
    expect(info.store.graphDriverName).toBe('vfs');

    const ref = `${host}/clients-go/podman:v1`;
    const id = image.config.slice('sha256:'.length);
    const loaded = await podman(['pull', '--signature-policy', policy, `oci:${image.dir}:latest`]);
    expect(lines(loaded.stdout).at(-1)).toBe(id);
    await podman(['tag', id, ref]);
    const digestFile = join(dir, 'pushed-digest');
    await podman([
      'push',
      '--tls-verify=false',
      '--signature-policy',
      policy,
      '--digestfile',
      digestFile,
      ref,
    ]);
    // podman keeps layers uncompressed and compresses them again on push: the manifest digest is
    // new, the image id (the config digest) is not.
    const pushed = readFileSync(digestFile, 'utf8').trim();
    expect(pushed).toMatch(/^sha256:[a-f0-9]{64}$/);
    const res = await fetch(`${server.url}/v2/clients-go/podman/manifests/v1`, {
      method: 'HEAD',
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(pushed);

    await podman(['rmi', '--all', '--force']);
    expect(lines((await podman(['images', '--quiet'])).stdout)).toEqual([]);

    const pulled = await podman(['pull', '--tls-verify=false', '--signature-policy', policy, ref]);
    expect(lines(pulled.stdout).at(-1)).toBe(id);
    const [inspected] = JSON.parse((await podman(['image', 'inspect', ref])).stdout) as {
      Id: string;
      Digest: string;
      RepoDigests: string[];
      RootFS: { Layers: string[] };
    }[];
    expect(inspected?.Id).toBe(id);
    expect(inspected?.Digest).toBe(pushed);
    expect(inspected?.RepoDigests).toContain(`${host}/clients-go/podman@${pushed}`);
    expect(inspected?.RootFS.Layers).toHaveLength(3);
  });
});
