import { describe, expect, it } from 'vitest';
import { REGISTRY_OTHER, registryTemplate, routeLabel, UNMATCHED } from './routes.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('route labels', () => {
  it('maps registry paths to their endpoint templates', () => {
    expect(registryTemplate(`/v2/a/b/blobs/${D}`)).toBe('/v2/{name}/blobs/{digest}');
    expect(registryTemplate('/v2/a/manifests/latest')).toBe('/v2/{name}/manifests/{reference}');
    expect(registryTemplate('/v2/a/blobs/uploads/')).toBe('/v2/{name}/blobs/uploads/');
    expect(registryTemplate('/v2/a/blobs/uploads/abc-123')).toBe('/v2/{name}/blobs/uploads/{id}');
    expect(registryTemplate('/v2/a/tags/list')).toBe('/v2/{name}/tags/list');
    expect(registryTemplate(`/v2/a/referrers/${D}`)).toBe('/v2/{name}/referrers/{digest}');
    expect(registryTemplate('/v2/_catalog')).toBe('/v2/_catalog');
  });

  it('gives unknown and invalid registry paths one label', () => {
    expect(registryTemplate('/v2/nothing-here')).toBe(REGISTRY_OTHER);
    expect(registryTemplate('/v2/UPPER/tags/list')).toBe(REGISTRY_OTHER);
    expect(registryTemplate('/v2/%E0%A4%A/tags/list')).toBe(REGISTRY_OTHER);
  });

  it("uses Fastify's template elsewhere, the registry's for /v2/*, and one label for no route", () => {
    expect(routeLabel('/api/v1/builds/:id', '/api/v1/builds/42')).toBe('/api/v1/builds/:id');
    expect(routeLabel('/v2/*', '/v2/x/tags/list?n=10')).toBe('/v2/{name}/tags/list');
    expect(routeLabel('/v2/', '/v2/')).toBe('/v2/');
    expect(routeLabel(undefined, '/nope')).toBe(UNMATCHED);
  });
});
