// Release-shaped BuildKit tarballs for installer tests (nothing can be downloaded from GitHub
// here): `bin/buildkitd` and `bin/buildctl` as in the upstream release layout, made from the
// Go-built v0.16.0 binaries of the test setup, or with a stand-in buildkitd that misbehaves.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binDir } from './env.js';

export interface Tarball {
  path: string;
  sha256: string;
}

export const sha256Of = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/**
 * Writes `buildkit-v0.16.0.linux-amd64.tar.gz` into `dir`. `fakeBuildkitd`, when given, is a
 * shell script used as bin/buildkitd (it must answer `--version` itself).
 */
export function makeBuildkitTarball(
  dir: string,
  opts: { fakeBuildkitd?: string; name?: string } = {},
): Tarball {
  const stage = mkdtempSync(join(tmpdir(), 'opencloud-bk-stage-'));
  try {
    mkdirSync(join(stage, 'bin'));
    copyFileSync(join(binDir(), 'buildctl'), join(stage, 'bin/buildctl'));
    if (opts.fakeBuildkitd) writeFileSync(join(stage, 'bin/buildkitd'), opts.fakeBuildkitd);
    else copyFileSync(join(binDir(), 'buildkitd'), join(stage, 'bin/buildkitd'));
    chmodSync(join(stage, 'bin/buildkitd'), 0o755);
    chmodSync(join(stage, 'bin/buildctl'), 0o755);
    const path = join(dir, opts.name ?? 'buildkit-v0.16.0.linux-amd64.tar.gz');
    execFileSync('tar', ['-czf', path, '-C', stage, '--owner=0', '--group=0', 'bin']);
    return { path, sha256: sha256Of(path) };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/** A stand-in buildkitd that reports v0.16.0 and then behaves as `body` says. */
export const fakeBuildkitd = (body: string) =>
  `#!/bin/sh\nif [ "$1" = "--version" ]; then echo "buildkitd github.com/moby/buildkit v0.16.0 stand-in"; exit 0; fi\n${body}\n`;

/** Serves files at the paths given, like a release mirror; resolves to the base URL. */
export async function serveMirror(files: Record<string, string>): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const file = files[req.url ?? ''];
    if (!file) {
      res.writeHead(404).end('not found');
      return;
    }
    const body = readFileSync(file);
    res.writeHead(200, { 'content-length': body.length, 'content-type': 'application/gzip' });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('mirror did not bind');
  return { url: `http://127.0.0.1:${address.port}`, server };
}
