// The web UI (built by Vite into dist/web) at `/`: files as they are, hashed assets under
// /assets/ cached for a year, index.html revalidated every time, and index.html for any other
// path that is not a missing file, so the UI's own routes load on a reload or a deep link. Paths
// that belong to the server (/v2, /api/, /auth/, probes, /metrics, the original endpoints) are never
// answered here: they go to the not-found handler with their own error envelope.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, posix, sep } from 'node:path';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { PACKAGE_ROOT } from '../paths.js';
import { HttpError } from './envelope.js';
import { ANYONE } from '../http/access.js';

export const UI_DIR = join(PACKAGE_ROOT, 'dist', 'web');

/** Paths the UI must never shadow (the prefix itself, or anything below it). */
const RESERVED = [/^\/v2(\/|$)/, /^\/api(\/|$)/, /^\/auth(\/|$)/, /^\/(healthz|readyz|metrics|build-image)$/];
const RESERVED_PREFIX = [/^\/enable-service/, /^\/get-/];

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

const IMMUTABLE = 'public, max-age=31536000, immutable';
// The UI talks to this origin only; inline style attributes are React's, scripts are files.
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export function isReserved(path: string): boolean {
  return RESERVED.some((r) => r.test(path)) || RESERVED_PREFIX.some((r) => r.test(path));
}

/**
 * Whether a path may be answered with a page of the UI: its decoded form names no server path,
 * and it has no empty, `.` or `..` segment, `;` or backslash — no spelling of an API path
 * (`/%61pi/…`, `//api/…`, `/x/../api/…`) gets the UI's page instead of the API's own answer.
 */
export function isPagePath(path: string): boolean {
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return false;
  }
  if (/[;\\\0]/.test(decoded) || /\/\/|\/\.\.?(\/|$)/.test(decoded)) return false;
  return !isReserved(decoded) && !isReserved(path);
}

/** The file a URL path names inside `root`, or undefined when it would step outside. */
export function resolveInside(root: string, urlPath: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return undefined;
  const normal = posix.normalize(decoded);
  if (!normal.startsWith('/') || normal.split('/').includes('..')) return undefined;
  const file = join(root, normal);
  return file === root || file.startsWith(root + sep) ? file : undefined;
}

async function fileAt(path: string | undefined) {
  if (!path) return undefined;
  const st = await stat(path).catch(() => undefined);
  return st?.isFile() ? { path, size: st.size, mtimeMs: st.mtimeMs } : undefined;
}

function send(
  req: FastifyRequest,
  reply: FastifyReply,
  file: { path: string; size: number; mtimeMs: number },
  cache: string,
) {
  const etag = `W/"${file.size.toString(16)}-${Math.floor(file.mtimeMs).toString(16)}"`;
  reply
    .header('cache-control', cache)
    .header('etag', etag)
    .header('x-content-type-options', 'nosniff')
    .type(TYPES[extname(file.path)] ?? 'application/octet-stream');
  if (extname(file.path) === '.html')
    reply.header('content-security-policy', CSP).header('referrer-policy', 'same-origin');
  if (req.headers['if-none-match'] === etag) return reply.code(304).send();
  return reply.header('content-length', file.size).send(createReadStream(file.path));
}

export const staticUi: FastifyPluginAsync<{ root?: string }> = async (app, opts) => {
  const root = opts.root ?? UI_DIR;
  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    const path = (req.url.split('?')[0] as string) || '/';
    if (path !== '/' && !isPagePath(path)) return reply.callNotFound();
    const file = path === '/' ? undefined : await fileAt(resolveInside(root, path));
    if (file) return send(req, reply, file, path.startsWith('/assets/') ? IMMUTABLE : 'no-cache');
    // A missing asset is a 404; any other path is a page of the UI (tags like 1.0 have dots).
    if (path.startsWith('/assets/') || TYPES[extname(path)]) return reply.callNotFound();
    const index = await fileAt(join(root, 'index.html'));
    if (!index)
      throw new HttpError(
        404,
        'UI_NOT_BUILT',
        `the web UI is not built (${root} has no index.html): run npm run build`,
      );
    return send(req, reply, index, 'no-cache');
  };
  // Public: the UI's files hold no data; every page asks the API, which checks the caller.
  for (const url of ['/', '/*']) {
    app.get(url, ANYONE, handler);
    app.head(url, ANYONE, handler); // HEAD routes are not automatic on this server (app.ts)
  }
};
