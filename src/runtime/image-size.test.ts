// Image sizing from manifest JSON: config + layers per platform manifest (never the manifest's
// own size), platform strings, indexes with absent platforms and attestations, caching.
import { describe, expect, it } from 'vitest';
import {
  BlobFormatError,
  ImageSizer,
  manifestSize,
  parseIndex,
  parseManifest,
  platformString,
  type BlobReader,
} from './image-size.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const d = (n: number) => `sha256:${String(n).padStart(64, '0')}`;

function manifest(config: number, layers: number[], configDigest = d(100)) {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config },
    layers: layers.map((size, i) => ({
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      digest: d(200 + i),
      size,
    })),
  });
}

/** A content store in a Map that counts reads. */
function store(blobs: Record<string, string>) {
  const reads: string[] = [];
  const read: BlobReader = async (digest) => {
    reads.push(digest);
    return digest in blobs ? Buffer.from(blobs[digest] as string) : null;
  };
  return { read, reads };
}

describe('platform strings', () => {
  it('joins os/architecture and the variant when there is one', () => {
    expect(platformString({ os: 'linux', architecture: 'amd64' })).toBe('linux/amd64');
    expect(platformString({ os: 'linux', architecture: 'arm', variant: 'v7' })).toBe('linux/arm/v7');
    expect(platformString({ os: 'linux', architecture: 'arm64', variant: '' })).toBe('linux/arm64');
  });
  it('says unknown for what it does not know', () => {
    expect(platformString(undefined)).toBe('unknown');
    expect(platformString({})).toBe('unknown');
    expect(platformString({ architecture: 'amd64' })).toBe('unknown/amd64');
  });
});

describe('manifest size', () => {
  it('is config + layers, whatever the manifest itself weighs', () => {
    const m = parseManifest(manifest(1469, [2_129_209, 32]));
    expect(manifestSize(m)).toBe(1469 + 2_129_209 + 32);
  });
  it('refuses what is not a manifest', () => {
    expect(() => parseManifest('not json')).toThrow(BlobFormatError);
    expect(() => parseManifest('{"config":{"digest":"x","size":1}}')).toThrow(/no layers/);
    expect(() => parseManifest('{"config":{"digest":"x","size":-1},"layers":[]}')).toThrow(/descriptor/);
  });
  it('leaves attestation manifests out of an index', () => {
    const idx = parseIndex(
      JSON.stringify({
        manifests: [
          {
            mediaType: OCI_MANIFEST,
            digest: d(1),
            size: 10,
            platform: { os: 'linux', architecture: 'amd64' },
          },
          {
            mediaType: OCI_MANIFEST,
            digest: d(2),
            size: 10,
            platform: { os: 'unknown', architecture: 'unknown' },
            annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
          },
        ],
      }),
    );
    expect(idx.map((x) => x.digest)).toEqual([d(1)]);
  });
});

describe('ImageSizer', () => {
  it('sizes a single manifest and takes its platform and created time from the config', async () => {
    const { read } = store({
      [d(1)]: manifest(500, [1000, 2000]),
      [d(100)]: JSON.stringify({
        os: 'linux',
        architecture: 'arm',
        variant: 'v7',
        created: '2024-01-02T03:04:05Z',
      }),
    });
    const r = await new ImageSizer().measure({ mediaType: DOCKER_MANIFEST, digest: d(1) }, read);
    expect(r).toEqual({
      size: 3500,
      platforms: [{ platform: 'linux/arm/v7', digest: d(1), size: 3500, created: '2024-01-02T03:04:05Z' }],
    });
  });

  it('sums an index over the platform manifests present, listing absent ones with a null size', async () => {
    const index = JSON.stringify({
      mediaType: OCI_INDEX,
      manifests: [
        {
          mediaType: OCI_MANIFEST,
          digest: d(1),
          size: 400,
          platform: { os: 'linux', architecture: 'amd64' },
        },
        {
          mediaType: OCI_MANIFEST,
          digest: d(2),
          size: 400,
          platform: { os: 'linux', architecture: 'arm64' },
        },
        {
          mediaType: OCI_MANIFEST,
          digest: d(3),
          size: 400,
          platform: { os: 'linux', architecture: 'arm', variant: 'v6' },
        },
      ],
    });
    const { read } = store({
      [d(9)]: index,
      [d(1)]: manifest(100, [1000], d(101)),
      [d(101)]: JSON.stringify({ os: 'linux', architecture: 'amd64' }),
      [d(2)]: manifest(200, [2000, 3000], d(102)),
      [d(102)]: JSON.stringify({ os: 'linux', architecture: 'arm64' }),
    });
    const r = await new ImageSizer().measure({ mediaType: OCI_INDEX, digest: d(9) }, read);
    expect(r.size).toBe(1100 + 5200);
    expect(r.platforms).toEqual([
      { platform: 'linux/amd64', digest: d(1), size: 1100, created: null },
      { platform: 'linux/arm64', digest: d(2), size: 5200, created: null },
      { platform: 'linux/arm/v6', digest: d(3), size: null, created: null },
    ]);
  });

  it('recognises an index by its content when the descriptor does not say', async () => {
    const { read } = store({
      [d(9)]: JSON.stringify({ manifests: [{ mediaType: OCI_MANIFEST, digest: d(1), size: 400 }] }),
      [d(1)]: manifest(10, [20]),
      [d(100)]: JSON.stringify({ os: 'windows', architecture: 'amd64' }),
    });
    const r = await new ImageSizer().measure({ mediaType: '', digest: d(9) }, read);
    expect(r).toEqual({
      size: 30,
      platforms: [{ platform: 'windows/amd64', digest: d(1), size: 30, created: null }],
    });
  });

  it('answers a null size when the image blob itself is gone', async () => {
    const { read } = store({});
    expect(await new ImageSizer().measure({ mediaType: OCI_MANIFEST, digest: d(1) }, read)).toEqual({
      size: null,
      platforms: [],
    });
  });

  it('reads a manifest once: facts are cached by digest', async () => {
    const { read, reads } = store({
      [d(1)]: manifest(1, [2]),
      [d(100)]: JSON.stringify({ os: 'linux', architecture: 'amd64' }),
    });
    const sizer = new ImageSizer();
    await sizer.measure({ mediaType: OCI_MANIFEST, digest: d(1) }, read);
    await sizer.measure({ mediaType: OCI_MANIFEST, digest: d(1) }, read);
    expect(reads.filter((r) => r === d(100))).toHaveLength(1);
  });
});
