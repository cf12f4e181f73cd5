// Who may do what with builds. A build is read and followed by its requester, an admin, or (read
// only) users who may pull its repository; cancelled and repeated by its requester or an admin;
// its build-argument values are shown to its requester and admins only. Starting a build needs
// build and push on the repository the build will actually push to, computed by the same
// function the route hands to the build service.
import type { FastifyRequest } from 'fastify';
import { actionsOf, allowedActions, isAdmin } from '../auth/access.js';
import { matchesPattern } from '../auth/patterns.js';
import type { AuthStore, Principal } from '../auth/store.js';
import type { BuildRecord, BuildRecords } from '../build/records.js';
import { parseReference } from '../build/reference.js';
import type { AccessRule } from '../http/access.js';
import { HttpError } from './envelope.js';

/** Whether `p` asked for the build, through a credential that reaches its repository. */
function isRequester(p: Principal, b: BuildRecord): boolean {
  if (p.kind !== 'user' || b.requestedBy !== p.name) return false;
  // An API token narrowed to repositories reaches only the builds of those repositories.
  if (p.tokenScopes === undefined || p.tokenScopes === 'admin') return true;
  return p.tokenScopes.some((s) => matchesPattern(s.pattern, b.definition.repository));
}

export type BuildRight = 'read' | 'control';

/** Whether `p` may read builds: for a list, each repository's rights are asked for once. */
export function buildReader(store: AuthStore, p: Principal): (b: BuildRecord) => Promise<boolean> {
  const pull = new Map<string, Promise<boolean>>();
  return async (b) => {
    if (isAdmin(p) || isRequester(p, b)) return true;
    const repository = b.definition.repository;
    let may = pull.get(repository);
    if (!may) {
      may = allowedActions(store, p, repository).then((a) => a.has('pull'));
      pull.set(repository, may);
    }
    return may;
  };
}

/** Whether `p` may read (or cancel and repeat: control) build `b`. */
async function mayOnBuild(
  store: AuthStore,
  p: Principal,
  b: BuildRecord,
  right: BuildRight,
): Promise<boolean> {
  if (right === 'control') return isAdmin(p) || isRequester(p, b);
  return buildReader(store, p)(b);
}

const fetched = new WeakMap<FastifyRequest, BuildRecord | undefined>();

/** The build named by the request's `:id`, read once: the access rule and the handler share it. */
export async function buildOf(records: BuildRecords, req: FastifyRequest): Promise<BuildRecord | undefined> {
  if (fetched.has(req)) return fetched.get(req);
  const b = await records.get((req.params as { id: string }).id);
  fetched.set(req, b);
  return b;
}

/** The build as `p` may see it: build-argument values only for its requester and admins. */
export function buildAsSeenBy(p: Principal | undefined, b: BuildRecord): BuildRecord {
  if (!p || isAdmin(p) || isRequester(p, b)) return b;
  const masked = Object.fromEntries(Object.keys(b.definition.buildArgs ?? {}).map((k) => [k, '***']));
  return { ...b, definition: { ...b.definition, buildArgs: masked } };
}

/**
 * A rule on the build named by `:id`. A build the caller may not read is answered as unknown (its
 * existence is not told); one it may read but not control gets a 403.
 */
export function buildRule(store: AuthStore, records: BuildRecords, right: BuildRight): AccessRule {
  return {
    who:
      right === 'read'
        ? "the build's requester, admins, and users who may pull its repository"
        : "the build's requester and admins",
    when: 'request',
    signIn: true,
    async check(req) {
      const p = req.principal as Principal;
      const id = (req.params as { id: string }).id;
      const b = await buildOf(records, req);
      if (!b || !(await mayOnBuild(store, p, b, 'read')))
        throw new HttpError(404, 'BUILD_UNKNOWN', `no build ${id}`);
      if (right === 'control' && !(await mayOnBuild(store, p, b, 'control')))
        throw new HttpError(403, 'FORBIDDEN', `only the requester of build ${id} or an admin may do this`);
    },
  };
}

/** Throws the 403 unless `p` may build into and push to `repository`. */
export async function requireBuildRights(store: AuthStore, p: Principal, repository: string): Promise<void> {
  const allowed = await allowedActions(store, p, repository);
  if (!allowed.has('build') || !allowed.has('push'))
    throw new HttpError(
      403,
      'FORBIDDEN',
      `${p.name} may not build into ${repository} (needs build and push)`,
    );
}

/**
 * Throws the 403 unless `p` may pull every image a build names in place of a base image. The build
 * pulls them with its requester's own credential anyway; asking first makes it a clear refusal
 * before anything runs instead of a failed pull inside BuildKit.
 */
export async function requireBasePulls(
  store: AuthStore,
  p: Principal,
  baseImages: Record<string, string> | undefined,
): Promise<void> {
  const refs = Object.values(baseImages ?? {});
  if (refs.length === 0) return;
  const may = await actionsOf(store, p);
  for (const ref of refs) {
    let repository;
    try {
      repository = parseReference(ref).repository;
    } catch {
      continue; // not a reference: the definition check answers 400
    }
    if (!may(repository).has('pull'))
      throw new HttpError(403, 'FORBIDDEN', `${p.name} may not pull ${repository}, named as a base image`);
  }
}

/**
 * Starting a build: build and push on the target that `target(req)` computes from the parsed,
 * validated request — the same value the route builds with — and pull on the images it names in
 * place of base images (`bases(req)`).
 */
export function buildTargetRule(
  store: AuthStore,
  target: (req: FastifyRequest) => string,
  bases: (req: FastifyRequest) => Record<string, string> | undefined = () => undefined,
): AccessRule {
  return {
    who: 'users with build and push on the target repository (and pull on images named as base images)',
    when: 'body',
    signIn: true,
    async check(req) {
      await requireBuildRights(store, req.principal as Principal, target(req));
      await requireBasePulls(store, req.principal as Principal, bases(req));
    },
  };
}

/** Repeating a build: its requester or an admin, with build and push on its repository today. */
export function repeatRule(store: AuthStore, records: BuildRecords): AccessRule {
  const control = buildRule(store, records, 'control');
  return {
    who: "the build's requester and admins, with build and push on its repository and pull on its base images",
    when: 'request',
    signIn: true,
    async check(req, reply) {
      await control.check(req, reply);
      const b = (await buildOf(records, req)) as BuildRecord;
      await requireBuildRights(store, req.principal as Principal, b.definition.repository);
      await requireBasePulls(store, req.principal as Principal, b.definition.baseImages);
    },
  };
}
