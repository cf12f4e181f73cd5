import { describe, expect, it } from 'vitest';
import { parseManifest } from './manifest-parse.js';

const d = (mediaType: string, c: string) => ({ mediaType, digest: `sha256:${c.repeat(64)}`, size: 1 });

describe('index entries', () => {
  it('keeps manifest entries as manifests and other entries (a BuildKit cache index) as blobs', () => {
    const body = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          d('application/vnd.oci.image.manifest.v1+json', 'a'),
          d('application/vnd.oci.image.layer.v1.tar+gzip', 'b'),
          d('application/vnd.buildkit.cacheconfig.v0', 'c'),
        ],
      }),
    );
    const parsed = parseManifest(body, 'application/vnd.oci.image.index.v1+json');
    expect(parsed.manifests.map((m) => m.digest)).toEqual([`sha256:${'a'.repeat(64)}`]);
    expect(parsed.blobs.map((b) => b.digest)).toEqual([
      `sha256:${'b'.repeat(64)}`,
      `sha256:${'c'.repeat(64)}`,
    ]);
  });
});
