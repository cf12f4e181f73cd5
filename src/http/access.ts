// Who may call each route, declared where the route is registered (`config: { access }`) and
// enforced on the route the router matched — never on the URL text, which the router decodes
// (`/%61pi/v1/users` is `/api/v1/users` to it). A route registered without a declaration stops
// start-up. This module knows nothing of users or tokens: the server hands it a Gate that signs
// callers in and says who is an admin.
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';

/** An object-level rule: decided by a function of the request once the caller is known. */
export interface AccessRule {
  /** Who may call, in words (the OpenAPI document and the route table show it). */
  readonly who: string;
  /**
   * 'request': decided before the body is read; 'body': after it is parsed and validated (a
   * build's target is in its body).
   */
  readonly when: 'request' | 'body';
  /** Whether the gate signs the caller in first; the registry's token flow does its own. */
  readonly signIn: boolean;
  /** Throws the refusal (401/403/404 in the route family's envelope); resolves to allow. */
  check(req: FastifyRequest, reply: FastifyReply): Promise<void>;
}

/**
 * - `public`: anyone, signed in or not (sign-in, health, the UI's files, the token endpoint).
 * - `signed-in`: any signed-in user; what they see may still be filtered by their grants.
 * - `admin`: admins only (and never through an API token narrowed to repositories).
 */
export type Access = 'public' | 'signed-in' | 'admin' | AccessRule;

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
}

/** Route options that only declare who may call: pass them, or spread them beside a schema. */
export const ANYONE = { config: { access: 'public' } } as const;
export const SIGNED_IN = { config: { access: 'signed-in' } } as const;
export const ADMINS = { config: { access: 'admin' } } as const;

/** What enforcement needs from the authentication side. */
export interface Gate {
  /** Whether authentication is on (once a user exists); while off, every route is open. */
  enabled(): Promise<boolean>;
  /** Sets req.principal from the request's credentials, or throws the 401. */
  signIn(req: FastifyRequest, reply: FastifyReply): Promise<void>;
  /** Throws the 403 unless the signed-in caller is an admin. */
  requireAdmin(req: FastifyRequest): void;
}

/** How a declaration reads in documents and test reports. */
export function describeAccess(access: Access): string {
  return typeof access === 'string' ? access : access.who;
}

/** A route's declaration as registered; undefined for the not-found handler. */
export const accessOf = (req: FastifyRequest): Access | undefined => req.routeOptions.config?.access;

/**
 * Refuses, at registration, any route without an access declaration. Install it before the first
 * route: Fastify tells onRoute hooks only about routes registered after them.
 */
export function requireAccessDeclarations(app: FastifyInstance): void {
  app.addHook('onRoute', (r: RouteOptions) => {
    const access = (r.config as { access?: Access } | undefined)?.access;
    const ok =
      access === 'public' ||
      access === 'signed-in' ||
      access === 'admin' ||
      (typeof access === 'object' && access !== null && typeof access.check === 'function');
    if (!ok) {
      throw new Error(
        `route ${[r.method].flat().join(',')} ${r.url} declares no access: ` +
          "add config: { access: 'public' | 'signed-in' | 'admin' | rule } where it is registered",
      );
    }
  });
}

/** Enforces every route's declaration: signing in and admin before the body, rules as they ask. */
export function enforceAccess(app: FastifyInstance, gate: Gate): void {
  // Whether authentication was on is decided once per request, so a user created while a request
  // is in flight cannot leave its body rule without a signed-in caller.
  const guarded = new WeakSet<FastifyRequest>();
  app.addHook('onRequest', async (req, reply) => {
    const access = accessOf(req);
    if (access === undefined || access === 'public') return;
    if (!(await gate.enabled())) return;
    // Only body rules look the request up again (a weak set costs the collector on every request).
    if (typeof access === 'object' && access.when === 'body') guarded.add(req);
    if (typeof access === 'string' || access.signIn) await gate.signIn(req, reply);
    if (access === 'admin') gate.requireAdmin(req);
    else if (typeof access === 'object' && access.when === 'request') await access.check(req, reply);
  });
  // Not async: it runs on every request (the registry's included), and only body rules need it.
  app.addHook('preHandler', (req, reply, done) => {
    const access = accessOf(req);
    if (typeof access !== 'object' || access.when !== 'body' || !guarded.has(req)) return done();
    access.check(req, reply).then(() => done(), done);
  });
}
