// HTTP client for both registries: node:http over each server's keep-alive agent, bodies streamed
// from memory with backpressure, and the helpers the OCI upload flow needs (status check, Location,
// ?digest=).
import http from 'node:http';
import type { Blob } from './blob-content.js';
import { MiB } from './config.js';
import type { Server } from './servers.js';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The body (first MiB) unless a sink took it. */
  body: Buffer;
  bytes: number;
}

interface ExchangeOptions {
  headers?: http.OutgoingHttpHeaders;
  body?: Buffer | Blob;
  /** Receives every body chunk instead of it being kept. */
  sink?: (chunk: Buffer) => void;
  timeoutMs?: number;
  agent?: http.Agent;
}

function drained(req: http.ClientRequest): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      req.off('drain', done);
      req.off('close', done);
      resolve();
    };
    req.on('drain', done);
    req.on('close', done);
  });
}

async function writeBlob(req: http.ClientRequest, blob: Blob): Promise<void> {
  for (const chunk of blob.chunks()) {
    if (req.destroyed) return;
    if (!req.write(chunk)) await drained(req);
  }
  if (!req.destroyed) req.end();
}

export function exchange(
  server: Server,
  method: string,
  path: string,
  opts: ExchangeOptions = {},
): Promise<Reply> {
  const headers: http.OutgoingHttpHeaders = { ...opts.headers };
  const body = opts.body;
  if (body !== undefined) {
    headers['content-length'] = Buffer.isBuffer(body) ? body.length : body.size;
    headers['content-type'] ??= 'application/octet-stream';
  } else if (method === 'POST' || method === 'PUT' || method === 'PATCH') {
    headers['content-length'] = 0;
  }
  return new Promise<Reply>((resolve, reject) => {
    const req = http.request({
      host: server.url.hostname,
      port: server.url.port,
      method,
      path,
      headers,
      agent: opts.agent ?? server.agent,
      signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000),
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const kept: Buffer[] = [];
      let keptBytes = 0;
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (opts.sink) opts.sink(chunk);
        else if (keptBytes < MiB) {
          kept.push(chunk);
          keptBytes += chunk.length;
        }
      });
      res.on('error', reject);
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(kept), bytes }),
      );
    });
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else writeBlob(req, body).catch((err: unknown) => req.destroy(err as Error));
  });
}

export function expectStatus(reply: Reply, status: number, what: string): void {
  if (reply.status !== status) {
    throw new Error(
      `${what}: HTTP ${reply.status} (wanted ${status}): ${reply.body.toString().slice(0, 300)}`,
    );
  }
}

/** Path and query of an upload Location (Distribution sends absolute URLs, ours relative paths). */
export function locationPath(server: Server, reply: Reply): string {
  const loc = reply.headers.location;
  if (!loc) throw new Error(`no Location in a ${reply.status} reply`);
  const u = new URL(loc, server.url);
  return u.pathname + u.search;
}

export const withDigest = (path: string, digest: string) =>
  `${path}${path.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
