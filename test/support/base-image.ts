// Makes the base image builds use for FROM, since nothing can be pulled from the internet: an
// OCI image layout holding one layer with Debian's static busybox and its applet links.
// Cached under the test cache dir, keyed by the busybox binary's digest.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  copyFileSync,
  chmodSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface BaseImage {
  /** The OCI layout directory. */
  layout: string;
  /** Digest of the image manifest. */
  digest: string;
  /** Tag inside the layout (index.json's ref.name). */
  tag: string;
}

const BUSYBOX = '/bin/busybox';
const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

export function ensureBaseImage(cacheDir: string): BaseImage {
  const bin = readFileSync(BUSYBOX);
  const key = sha256(bin).slice(0, 16);
  const layout = join(cacheDir, 'base-images', `busybox-${key}`);
  const result = (digest: string): BaseImage => ({ layout, digest, tag: 'latest' });
  if (existsSync(join(layout, 'index.json'))) {
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
    return result(index.manifests[0].digest);
  }

  const work = mkdtempSync(join(tmpdir(), 'opencloud-base-'));
  try {
    const rootfs = join(work, 'rootfs');
    for (const d of ['bin', 'etc', 'root', 'tmp', 'proc', 'sys', 'dev', 'usr/bin', 'usr/sbin', 'sbin']) {
      mkdirSync(join(rootfs, d), { recursive: true });
    }
    chmodSync(join(rootfs, 'tmp'), 0o1777);
    copyFileSync(BUSYBOX, join(rootfs, 'bin/busybox'));
    chmodSync(join(rootfs, 'bin/busybox'), 0o755);
    const applets = execFileSync(BUSYBOX, ['--list-full'], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const applet of applets) {
      const at = join(rootfs, applet);
      if (applet === 'bin/busybox' || existsSync(at)) continue;
      mkdirSync(join(at, '..'), { recursive: true });
      symlinkSync('/bin/busybox', at);
    }
    writeFileSync(
      join(rootfs, 'etc/passwd'),
      'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n',
    );
    writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');

    const layerTar = join(work, 'layer.tar');
    execFileSync('tar', [
      '--sort=name',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--mtime=@0',
      '-C',
      rootfs,
      '-cf',
      layerTar,
      '.',
    ]);
    const layer = readFileSync(layerTar);
    const layerDigest = `sha256:${sha256(layer)}`;

    const arch = process.arch === 'x64' ? 'amd64' : process.arch;
    const config = Buffer.from(
      JSON.stringify({
        architecture: arch,
        os: 'linux',
        config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] },
        rootfs: { type: 'layers', diff_ids: [layerDigest] },
        history: [
          {
            created: '1970-01-01T00:00:00Z',
            created_by: 'opencloud test base image (Debian busybox-static)',
          },
        ],
      }),
    );
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: {
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: `sha256:${sha256(config)}`,
          size: config.length,
        },
        layers: [
          { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length },
        ],
      }),
    );
    const manifestDigest = `sha256:${sha256(manifest)}`;

    const out = join(work, 'layout');
    mkdirSync(join(out, 'blobs/sha256'), { recursive: true });
    for (const blob of [layer, config, manifest])
      writeFileSync(join(out, 'blobs/sha256', sha256(blob)), blob);
    writeFileSync(join(out, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    writeFileSync(
      join(out, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: manifestDigest,
            size: manifest.length,
            platform: { architecture: arch, os: 'linux' },
            annotations: { 'org.opencontainers.image.ref.name': 'latest' },
          },
        ],
      }),
    );
    mkdirSync(join(layout, '..'), { recursive: true });
    renameSync(out, layout); // atomic: a half-made layout is never seen as cached
    return result(manifestDigest);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
