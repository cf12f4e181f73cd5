// The route label of a request: Fastify's route template, except for the registry's single
// wildcard route, whose paths are mapped to the OCI Distribution endpoint they address (names,
// digests and upload ids never become label values: the label set stays small).
import { parseRegistryPath, type Route } from '../registry/names.js';

/** The label of a request that matched no route (answered by the not-found handler). */
export const UNMATCHED = '(unmatched)';
/** The label of a /v2/ path that is no registry endpoint (or holds an invalid name). */
export const REGISTRY_OTHER = '/v2/*';

const TEMPLATES: Record<Route['kind'], string> = {
  catalog: '/v2/_catalog',
  uploads: '/v2/{name}/blobs/uploads/',
  upload: '/v2/{name}/blobs/uploads/{id}',
  blob: '/v2/{name}/blobs/{digest}',
  manifest: '/v2/{name}/manifests/{reference}',
  tags: '/v2/{name}/tags/list',
  referrers: '/v2/{name}/referrers/{digest}',
};

export function registryTemplate(path: string): string {
  try {
    const route = parseRegistryPath(path);
    return route ? TEMPLATES[route.kind] : REGISTRY_OTHER;
  } catch {
    return REGISTRY_OTHER; // an invalid name or a malformed escape
  }
}

/** `routeUrl` is Fastify's `req.routeOptions.url` (undefined when no route matched). */
export function routeLabel(routeUrl: string | undefined, url: string): string {
  if (routeUrl === undefined) return UNMATCHED;
  if (routeUrl === '/v2/*') return registryTemplate(url.split('?')[0] as string);
  return routeUrl;
}
