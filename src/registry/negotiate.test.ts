import { describe, expect, it } from 'vitest';
import { acceptedTypes, platformFallback } from './negotiate.js';

const OCI_M = 'application/vnd.oci.image.manifest.v1+json';
const LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const D_M = 'application/vnd.docker.distribution.manifest.v2+json';

describe('manifest content negotiation', () => {
  it('reads Accept lists, repeated headers, parameters and wildcards', () => {
    expect(acceptedTypes(undefined)).toBeUndefined();
    expect(acceptedTypes('*/*')).toBeUndefined();
    expect(acceptedTypes(`${OCI_M}, ${D_M};q=0.5`)).toEqual(new Set([OCI_M, D_M]));
    expect(acceptedTypes([OCI_M, `${LIST}; q=0`])).toEqual(new Set([OCI_M]));
  });

  it('falls back from a list to its linux/amd64 entry when the client reads only manifests', () => {
    const list = Buffer.from(
      JSON.stringify({
        manifests: [
          { mediaType: D_M, digest: 'sha256:arm', platform: { os: 'linux', architecture: 'arm64' } },
          { mediaType: D_M, digest: 'sha256:amd', platform: { os: 'linux', architecture: 'amd64' } },
        ],
      }),
    );
    expect(platformFallback(LIST, list, new Set([D_M]))).toBe('sha256:amd');
    expect(platformFallback(LIST, list, new Set([OCI_M]))).toBeUndefined();
    expect(platformFallback(D_M, list, new Set([D_M]))).toBeUndefined();
  });
});
