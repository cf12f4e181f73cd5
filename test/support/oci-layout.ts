// Writes small multi-layer images as OCI image layouts (the format skopeo, crane and oras read
// from disk), so client tests have something real to push without pulling from the internet.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';

const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Each layer is a map of file path -> content; returns the manifest digest. */
export function writeImageLayout(out: string, layers: Record<string, string>[], tag = 'latest'): string {
  mkdirSync(join(out, 'blobs/sha256'), { recursive: true });
  const put = (b: Buffer) => {
    writeFileSync(join(out, 'blobs/sha256', hex(b)), b);
    return `sha256:${hex(b)}`;
  };
  const diffIds: string[] = [];
  const layerDescs = layers.map((files) => {
    const root = mkdtempSync(join(tmpdir(), 'opencloud-layer-'));
    try {
      for (const [path, content] of Object.entries(files)) {
        mkdirSync(dirname(join(root, path)), { recursive: true });
        writeFileSync(join(root, path), content);
      }
      const tar = execFileSync('tar', [
        '--sort=name',
        '--owner=0',
        '--group=0',
        '--numeric-owner',
        '--mtime=@0',
        '-C',
        root,
        '-cf',
        '-',
        '.',
      ]);
      diffIds.push(`sha256:${hex(tar)}`);
      const gz = gzipSync(tar);
      return { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: put(gz), size: gz.length };
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['sh'] },
      rootfs: { type: 'layers', diff_ids: diffIds },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: put(config),
        size: config.length,
      },
      layers: layerDescs,
    }),
  );
  const digest = put(manifest);
  writeFileSync(join(out, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(out, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest,
          size: manifest.length,
          annotations: { 'org.opencontainers.image.ref.name': tag },
        },
      ],
    }),
  );
  return digest;
}
