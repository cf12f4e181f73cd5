// Real OCI clients against a running server: skopeo in and out with the digest unchanged,
// containerd pulling what another client pushed, and BuildKit pushing a build result.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWithBase } from '../support/buildctl.js';
import { startServe, type ServeHandle } from '../support/cli.js';
import { missing, titled } from '../support/env.js';
import { writeImageLayout } from '../support/oci-layout.js';

const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'opencloud-clients-'));
let server: ServeHandle;
let host: string; // host:port as image references spell it

beforeAll(async () => {
  server = await startServe(['--listen', '127.0.0.1:0', '--data-dir', join(work, 'data')]);
  host = server.url.replace('http://', '');
});
afterAll(async () => {
  server.child.kill('SIGTERM');
  const { code, stdout } = await server.exited;
  // Seen once: a shutdown that waited out its deadline here. Leave the evidence in the output.
  if (code !== 0)
    console.log(
      `server exit ${code}:`,
      stdout
        .split('\n')
        .filter((l) => l.includes('deadline'))
        .join('\n'),
    );
});

const noSkopeo = missing('skopeo');
describe.skipIf(noSkopeo)(titled('skopeo', noSkopeo), () => {
  it('copies a multi-layer image in and out with the digest unchanged', async () => {
    const src = join(work, 'src-layout');
    const digest = writeImageLayout(src, [
      { 'a.txt': 'first layer' },
      { 'b/c.txt': 'second layer' },
      { 'd.bin': 'x'.repeat(100_000) },
    ]);
    await run('skopeo', [
      'copy',
      '--preserve-digests',
      '--dest-tls-verify=false',
      `oci:${src}:latest`,
      `docker://${host}/clients/skopeo:v1`,
    ]);
    const { stdout } = await run('skopeo', [
      'inspect',
      '--tls-verify=false',
      `docker://${host}/clients/skopeo:v1`,
    ]);
    const info = JSON.parse(stdout) as { Digest: string; Layers: string[] };
    expect(info.Digest).toBe(digest);
    expect(info.Layers).toHaveLength(3);

    const out = join(work, 'out-layout');
    await run('skopeo', [
      'copy',
      '--preserve-digests',
      '--src-tls-verify=false',
      `docker://${host}/clients/skopeo:v1`,
      `oci:${out}:copied`,
    ]);
    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as {
      manifests: { digest: string }[];
    };
    expect(index.manifests[0]?.digest).toBe(digest);
    const { stdout: tags } = await run('skopeo', [
      'list-tags',
      '--tls-verify=false',
      `docker://${host}/clients/skopeo`,
    ]);
    expect((JSON.parse(tags) as { Tags: string[] }).Tags).toEqual(['v1']);
  });
});

const noContainerd = missing('containerd', 'skopeo');
describe.skipIf(noContainerd)(titled('containerd', noContainerd), () => {
  it('pulls over plain HTTP an image another client pushed', async () => {
    const src = join(work, 'ctr-layout');
    const digest = writeImageLayout(src, [{ 'hello.txt': 'pulled by containerd' }]);
    await run('skopeo', [
      'copy',
      '--preserve-digests',
      '--dest-tls-verify=false',
      `oci:${src}:latest`,
      `docker://${host}/clients/ctr:v1`,
    ]);
    const ref = `${host}/clients/ctr:v1`;
    await run('ctr', ['-n', 'opencloud-test', 'images', 'pull', '--plain-http', ref]);
    const { stdout } = await run('ctr', ['-n', 'opencloud-test', 'images', 'ls']);
    const line = stdout.split('\n').find((l) => l.startsWith(ref));
    expect(line).toContain(digest);
    await run('ctr', ['-n', 'opencloud-test', 'images', 'rm', ref]);
  });
});

const noBuildkit = missing('containerd', 'buildkit');
describe.skipIf(noBuildkit)(titled('BuildKit', noBuildkit), () => {
  it('pushes a build result, which the registry then serves', async () => {
    const ctx = join(work, 'build-ctx');
    await run('mkdir', ['-p', ctx]);
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox\nRUN echo pushed-by-buildkit > /proof\n');
    const meta = join(work, 'metadata.json');
    await buildWithBase(ctx, `type=image,name=${host}/clients/built:1,push=true,registry.insecure=true`, [
      '--metadata-file',
      meta,
    ]);
    const digest = (JSON.parse(readFileSync(meta, 'utf8')) as Record<string, string>)[
      'containerimage.digest'
    ];
    expect(digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    const res = await fetch(`${server.url}/v2/clients/built/manifests/1`, {
      headers: {
        accept:
          'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json',
      },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(digest);
  });
});
