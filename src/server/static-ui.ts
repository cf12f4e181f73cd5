// The web UI (built by Vite into dist/web) at `/`: files as they are, or their brotli / gzip copy
// made by the build when the request accepts one; hashed assets under /assets/ cached for a year,
// index.html revalidated every time, and index.html for any other
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

type Encoding = 'br' | 'gzip';
/** The precompressed copies the UI's build writes beside a file (web/vite.config.ts), best first. */
const ENCODINGS: [Encoding, string][] = [
  ['br', '.br'],
  ['gzip', '.gz'],
];
const COMPRESSIBLE = new Set(['.html', '.js', '.css', '.json', '.map', '.svg', '.txt']);

/**
 * The encodings Accept-Encoding allows, best first: q=0 refuses one, `*` stands for those not
 * named, and among equal weights brotli goes first (smaller).
 */
export function acceptedEncodings(header: string | undefined): Encoding[] {
  const q = new Map<string, number>();
  for (const part of (header ?? '').split(',')) {
    const [first, ...params] = part.toLowerCase().split(';');
    const name = first?.trim();
    if (!name) continue;
    // A malformed weight makes the element count for nothing, as if it were q=0.
    const given = params.find((p) => /^\s*q=/.test(p));
    const value = given === undefined ? 1 : Number(/^\s*q=([0-9.]+)\s*$/.exec(given)?.[1] ?? NaN);
    q.set(name, Number.isFinite(value) ? Math.min(Math.max(value, 0), 1) : 0);
  }
  const weightOf = (e: Encoding) => q.get(e) ?? q.get('*') ?? 0;
  return ENCODINGS.map(([e]) => e)
    .filter((e) => weightOf(e) > 0)
    .sort((a, b) => weightOf(b) - weightOf(a));
}

/** The best precompressed copy of `file` the request accepts, if there is one. */
async function encodedCopy(req: FastifyRequest, file: { path: string }) {
  if (!COMPRESSIBLE.has(extname(file.path))) return undefined;
  for (const encoding of acceptedEncodings(req.headers['accept-encoding'])) {
    const suffix = ENCODINGS.find(([e]) => e === encoding)?.[1] as string;
    const copy = await fileAt(file.path + suffix);
    if (copy) return { encoding, copy };
  }
  return undefined;
}

async function send(
  req: FastifyRequest,
  reply: FastifyReply,
  file: { path: string; size: number; mtimeMs: number },
  cache: string,
) {
  const type = TYPES[extname(file.path)] ?? 'application/octet-stream';
  const encoded = await encodedCopy(req, file);
  const body = encoded?.copy ?? file;
  const etag = `W/"${body.size.toString(16)}-${Math.floor(body.mtimeMs).toString(16)}${encoded ? `-${encoded.encoding}` : ''}"`;
  reply
    .header('cache-control', cache)
    .header('etag', etag)
    .header('x-content-type-options', 'nosniff')
    .type(type);
  if (COMPRESSIBLE.has(extname(file.path))) reply.header('vary', 'accept-encoding');
  if (encoded) reply.header('content-encoding', encoded.encoding);
  if (extname(file.path) === '.html')
    reply.header('content-security-policy', CSP).header('referrer-policy', 'same-origin');
  if (req.headers['if-none-match'] === etag) return reply.code(304).send();
  return reply.header('content-length', body.size).send(createReadStream(body.path));
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
