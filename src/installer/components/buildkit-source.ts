// Where BuildKit's binaries come from: the release tarball (downloaded, its sha256 checked while
// it streams), a local tarball (air-gapped hosts), or a build from the Go module proxy. Every
// path ends with the two binaries as temp files in the destination directory, ready to rename.
import { createHash } from 'node:crypto';
import { access, copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { downloadVerified, probeUrl, sha256File } from '../host/download.js';
import { exec, mustExec } from '../host/exec.js';
import { extractMembers } from '../host/tar-extract.js';
import type { InstallOptions } from '../options.js';
import { StepError, type StepContext } from '../types.js';
import {
  BIN_DIR,
  BINARIES,
  BUILDKIT_VERSION,
  PINNED_SHA256,
  releaseTarballName,
  releaseUrl,
} from './buildkit-pins.js';

export type Binary = (typeof BINARIES)[number];

export interface FetchedBinaries {
  /** Temp files in BIN_DIR, one per binary. */
  temp: Record<Binary, string>;
  sha256: Record<Binary, string>;
}

/** A stable name for what the options install: a re-run with the same name changes nothing. */
export async function sourceId(opts: InstallOptions, arch: string): Promise<string> {
  switch (opts.source) {
    case 'release':
      return `release:${(opts.sha256 ?? PINNED_SHA256[arch] ?? '').toLowerCase()}`;
    case 'tarball':
      return `tarball:${await sha256File(tarballPath(opts))}`;
    case 'go':
      return `go:${BUILDKIT_VERSION}`;
  }
}

export function describeSource(opts: InstallOptions, arch: string): string {
  switch (opts.source) {
    case 'release':
      return `download ${releaseUrl(arch, opts.mirror)}`;
    case 'tarball':
      return `extract ${tarballPath(opts)}`;
    case 'go':
      return `build ${BUILDKIT_VERSION} from the Go module proxy`;
  }
}

function tarballPath(opts: InstallOptions): string {
  if (!opts.tarball) throw new StepError('--source tarball needs --tarball PATH');
  return opts.tarball;
}

const tempName = (name: string) =>
  join(
    BIN_DIR,
    `.${name}.${createHash('sha256').update(`${process.pid}${Date.now()}`).digest('hex').slice(0, 8)}.tmp`,
  );

export async function fetchBinaries(
  opts: InstallOptions,
  arch: string,
  ctx: StepContext,
): Promise<FetchedBinaries> {
  await mkdir(BIN_DIR, { recursive: true });
  const work = join(opts.dataDir, 'installer', 'work');
  await mkdir(work, { recursive: true, mode: 0o700 });
  const scratch = await mkdtemp(join(work, 'buildkit-'));
  try {
    if (opts.source === 'go') return await goBuild(scratch, ctx);
    let archive: string;
    if (opts.source === 'release') {
      const url = releaseUrl(arch, opts.mirror);
      const expected = opts.sha256 ?? PINNED_SHA256[arch];
      if (!expected) throw new StepError(`no pinned sha256 for linux-${arch}; pass --sha256`);
      archive = join(scratch, releaseTarballName(arch));
      ctx.log(`downloading ${url}`);
      await downloadVerified({ url, dest: archive, expectedSha256: expected, onProgress: ctx.progress });
      ctx.log(`sha256 ${expected} verified`);
    } else {
      archive = tarballPath(opts);
      ctx.log(`sha256 ${await verifiedTarball(opts, arch)} verified`);
    }
    const temp = { buildkitd: tempName('buildkitd'), buildctl: tempName('buildctl') };
    const members = await extractMembers(archive, {
      'bin/buildkitd': temp.buildkitd,
      'bin/buildctl': temp.buildctl,
    });
    return {
      temp,
      sha256: {
        buildkitd: (members['bin/buildkitd'] as { sha256: string }).sha256,
        buildctl: (members['bin/buildctl'] as { sha256: string }).sha256,
      },
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The local tarball's sha256, once it is known to be the expected one (--sha256, or the pin). */
async function verifiedTarball(opts: InstallOptions, arch: string): Promise<string> {
  const archive = tarballPath(opts);
  const actual = await sha256File(archive);
  const expected = opts.sha256?.toLowerCase() ?? (actual === PINNED_SHA256[arch] ? actual : undefined);
  if (!expected) {
    throw new StepError(
      `--sha256 is required for ${archive}: its checksum (${actual}) is not the pinned ${BUILDKIT_VERSION} linux-${arch} release`,
    );
  }
  if (actual !== expected) {
    throw new StepError(`checksum mismatch for ${archive}: expected sha256 ${expected}, got ${actual}`);
  }
  return actual;
}

/** `go install` of both commands at the pinned version, static, with the version stamped in. */
async function goBuild(scratch: string, ctx: StepContext): Promise<FetchedBinaries> {
  const gobin = join(scratch, 'bin');
  ctx.log(`go install github.com/moby/buildkit/cmd/{buildkitd,buildctl}@${BUILDKIT_VERSION}`);
  await mustExec(
    'go',
    [
      'install',
      '-ldflags',
      `-X github.com/moby/buildkit/version.Version=${BUILDKIT_VERSION}`,
      ...BINARIES.map((b) => `github.com/moby/buildkit/cmd/${b}@${BUILDKIT_VERSION}`),
    ],
    {
      env: { GOBIN: gobin, CGO_ENABLED: '0', GOFLAGS: '-buildvcs=false' },
      onLine: ctx.log,
      timeoutMs: 20 * 60_000,
    },
  );
  const temp = { buildkitd: tempName('buildkitd'), buildctl: tempName('buildctl') };
  const sha256 = { buildkitd: '', buildctl: '' };
  for (const b of BINARIES) {
    await copyFile(join(gobin, b), temp[b]);
    sha256[b] = await sha256File(temp[b]);
  }
  return { temp, sha256 };
}

/** Read-only: can the source be used (file readable and checksum known, Go present, URL answers)? */
export async function sourceReachable(opts: InstallOptions, arch: string): Promise<void> {
  if (opts.source === 'tarball') {
    if (!opts.tarball) throw new StepError('--source tarball needs --tarball PATH');
    await access(opts.tarball).catch((err: NodeJS.ErrnoException) => {
      throw new StepError(`cannot read the tarball ${opts.tarball}: ${err.code ?? err.message}`);
    });
    await verifiedTarball(opts, arch);
  } else if (opts.source === 'go') {
    const r = await exec('go', ['version']).catch(() => undefined);
    if (!r || r.code !== 0) {
      throw new StepError('--source go needs the Go toolchain (`go` on PATH); it is not installed here');
    }
  } else {
    await probeUrl(releaseUrl(arch, opts.mirror)).catch((err: Error) => {
      throw new StepError(err.message, 'check the network, or use --mirror URL or --source tarball');
    });
  }
}
