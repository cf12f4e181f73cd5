// Writes images as OCI image layouts (the format skopeo, crane, regctl, podman and BuildKit read
// from disk), so tests have something real to push or build FROM without the internet.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ARCH, writeLayoutFiles, type LayerBlob } from '../../bench/oci-layout.js';

const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');
export { ARCH };

/** A layer: files to create (path -> content), or an existing directory tree. */
export type LayerSource = Record<string, string> | { dir: string };

export interface LayoutOptions {
  tag?: string;
  /** gzip the layers (default) or store them as plain tar */
  gzip?: boolean;
  /** the image config's "config" section (Env, Cmd, ...) */
  runConfig?: Record<string, unknown>;
}

/** A reproducible tar of a directory: sorted, root-owned, mtime 0. */
function tarDir(root: string): Buffer {
  const flags = ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0'];
  return execFileSync('tar', [...flags, '-C', root, '-cf', '-', '.'], { maxBuffer: 256 * 1024 * 1024 });
}

function layerTar(source: LayerSource): Buffer {
  if (typeof source.dir === 'string' && Object.keys(source).length === 1) return tarDir(source.dir);
  const root = mkdtempSync(join(tmpdir(), 'opencloud-layer-'));
  try {
    for (const [path, content] of Object.entries(source as Record<string, string>)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), content);
    }
    return tarDir(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** One layer as the manifest lists it: its blob (gzipped unless told), media type and diff id. */
export function layerBlob(source: LayerSource, gzip = true): LayerBlob {
  const tar = layerTar(source);
  return {
    blob: gzip ? gzipSync(tar) : tar,
    diffId: `sha256:${hex(tar)}`,
    mediaType: gzip
      ? 'application/vnd.oci.image.layer.v1.tar+gzip'
      : 'application/vnd.oci.image.layer.v1.tar',
  };
}

/** Writes the layout into `out` and returns the image manifest's digest. */
export function writeImageLayout(out: string, layers: LayerSource[], opts: LayoutOptions = {}): string {
  const blobs = layers.map((source) => layerBlob(source, opts.gzip ?? true));
  return writeLayoutFiles(out, blobs, {
    tag: opts.tag ?? 'latest',
    ...(opts.runConfig ? { runConfig: opts.runConfig } : {}),
  });
}
