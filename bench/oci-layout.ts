// A many-layer OCI image layout on disk for skopeo and crane to push: each layer a plain tar
// (written here, no tar binary) holding one file of random bytes, so every layer is new content;
// the config lists their diff_ids; index.json names the manifest by tag. The layout writer itself
// is shared with test/support/oci-layout.ts.
import { createHash, randomFillSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');
export const ARCH = process.arch === 'x64' ? 'amd64' : process.arch;

/** A ustar archive with one regular file (root-owned, mode 0644, mtime 0). */
function tarOneFile(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  const put = (text: string, offset: number) => header.write(text, offset, 'ascii');
  const octal = (n: number, width: number) => `${n.toString(8).padStart(width - 1, '0')}\0`;
  put(name, 0);
  put(octal(0o644, 8), 100);
  put(octal(0, 8), 108);
  put(octal(0, 8), 116);
  put(octal(content.length, 12), 124);
  put(octal(0, 12), 136);
  put('        ', 148); // the checksum counts its own field as spaces
  put('0', 156);
  put('ustar\0', 257);
  put('00', 263);
  let sum = 0;
  for (const b of header) sum += b;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const pad = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, pad, Buffer.alloc(1024)]);
}

export interface Layout {
  dir: string;
  tag: string;
  bytes: number;
}

/** A layer blob as the manifest lists it, with the digest of its uncompressed tar. */
export interface LayerBlob {
  blob: Buffer;
  diffId: string;
  mediaType: string;
}

/**
 * Writes an OCI image layout into `dir`: the layer blobs, a config listing their diff_ids, the
 * manifest, and index.json naming it by `tag`. Returns the manifest's digest. Shared with the
 * tests (test/support/oci-layout.ts), which make their layers differently.
 */
export function writeLayoutFiles(
  dir: string,
  layers: LayerBlob[],
  opts: { tag: string; runConfig?: Record<string, unknown> },
): string {
  mkdirSync(join(dir, 'blobs/sha256'), { recursive: true });
  const put = (b: Buffer) => {
    writeFileSync(join(dir, 'blobs/sha256', hex(b)), b);
    return `sha256:${hex(b)}`;
  };
  const layerDescs = layers.map((l) => ({
    mediaType: l.mediaType,
    digest: put(l.blob),
    size: l.blob.length,
  }));
  const config = Buffer.from(
    JSON.stringify({
      architecture: ARCH,
      os: 'linux',
      config: opts.runConfig ?? { Cmd: ['sh'] },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
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
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest,
          size: manifest.length,
          platform: { architecture: ARCH, os: 'linux' },
          annotations: { 'org.opencontainers.image.ref.name': opts.tag },
        },
      ],
    }),
  );
  return digest;
}

/** Writes a layout of `layers` layers of `layerBytes` random bytes each into `dir`. */
export function writeManyLayerLayout(
  dir: string,
  layers: number,
  layerBytes: number,
  tag = 'latest',
): Layout {
  let bytes = 0;
  const blobs = Array.from({ length: layers }, (_, i) => {
    const tar = tarOneFile(`layer-${i}.bin`, randomFillSync(Buffer.allocUnsafe(layerBytes)));
    bytes += tar.length;
    return { blob: tar, diffId: `sha256:${hex(tar)}`, mediaType: 'application/vnd.oci.image.layer.v1.tar' };
  });
  writeLayoutFiles(dir, blobs, { tag });
  return { dir, tag, bytes };
}
