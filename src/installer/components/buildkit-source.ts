// Where BuildKit's binaries come from: the release tarball (downloaded, its sha256 checked while
// it streams), a local tarball (air-gapped hosts), or a build from the Go module proxy. Every
// path ends with the two binaries as temp files in the destination directory, ready to rename.
// An archive is extracted from the very bytes its checksum was computed on: a download goes into
// a private file, a local tarball is read once into one (host/tarball-file.ts), and extraction
// reads that file's descriptor.
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { downloadInto, probeUrl, sha256File } from '../host/download.js';
import { exec, mustExec } from '../host/exec.js';
import { privateFile } from '../host/private-file.js';
import { copyTarball, openTarball, type TarballCopy } from '../host/tarball-file.js';
import { extractMembers, type OpenArchive } from '../host/tar-extract.js';
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

/** Where a run keeps its private files (downloads, the copy of a local tarball). */
export const workDir = (opts: InstallOptions) => join(opts.dataDir, 'installer', 'work');

/** Is this one of the pinned release checksums (DESIGN.md), for any architecture? */
export const isPinned = (sha256: string) => Object.values(PINNED_SHA256).includes(sha256.toLowerCase());

/**
 * The local tarball of one run, read once: opened on first use (or handed in already open: the
 * privileged helper opens it as the data dir's owner) and copied into a private file, which every
 * later step (checksum, source id, extraction) reads. close() ends the run's use of it.
 */
export class LocalTarball {
  private copy: Promise<TarballCopy> | undefined;

  constructor(
    readonly path: string,
    private readonly scratch: string,
    private readonly opened?: FileHandle,
  ) {}

  read(): Promise<TarballCopy> {
    this.copy ??= this.make();
    return this.copy;
  }

  private async make(): Promise<TarballCopy> {
    const source = this.opened ?? (await openTarball(this.path));
    try {
      return await copyTarball(this.path, source, this.scratch);
    } finally {
      if (!this.opened) await source.close();
    }
  }

  async close(): Promise<void> {
    const copy = await this.copy?.catch(() => undefined);
    await copy?.handle.close();
  }
}

/** The run's LocalTarball when the source is a local tarball (`opened`: already open by the caller). */
export function localTarball(opts: InstallOptions, opened?: FileHandle): LocalTarball | undefined {
  if (opts.source !== 'tarball' || !opts.tarball) return undefined;
  return new LocalTarball(opts.tarball, workDir(opts), opened);
}

function needTarball(tarball: LocalTarball | undefined): LocalTarball {
  if (!tarball) throw new StepError('--source tarball needs --tarball PATH');
  return tarball;
}

/** A stable name for what the options install: a re-run with the same name changes nothing. */
export async function sourceId(opts: InstallOptions, arch: string, tarball?: LocalTarball): Promise<string> {
  switch (opts.source) {
    case 'release':
      return `release:${(opts.sha256 ?? PINNED_SHA256[arch] ?? '').toLowerCase()}`;
    case 'tarball':
      return `tarball:${(await needTarball(tarball).read()).sha256}`;
    case 'go':
      return `go:${BUILDKIT_VERSION}`;
  }
}

export function describeSource(opts: InstallOptions, arch: string): string {
  switch (opts.source) {
    case 'release':
      return `download ${releaseUrl(arch, opts.mirror)}`;
    case 'tarball':
      return `extract ${opts.tarball ?? '(no --tarball given)'}`;
    case 'go':
      return `build ${BUILDKIT_VERSION} from the Go module proxy`;
  }
}

/** Said when the checksum root verifies is one it named itself, not a pinned release's. */
export function unpinnedNote(sha256: string): string {
  return (
    `sha256 ${sha256} is not a pinned BuildKit ${BUILDKIT_VERSION} release checksum: ` +
    'it is installed because it was named explicitly (--sha256, trusted by root)'
  );
}

const tempName = (name: string) =>
  join(
    BIN_DIR,
    `.${name}.${createHash('sha256').update(`${process.pid}${Date.now()}`).digest('hex').slice(0, 8)}.tmp`,
  );

async function extractBinaries(archive: OpenArchive): Promise<FetchedBinaries> {
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
}

export async function fetchBinaries(
  opts: InstallOptions,
  arch: string,
  ctx: StepContext,
  tarball?: LocalTarball,
): Promise<FetchedBinaries> {
  await mkdir(BIN_DIR, { recursive: true });
  if (opts.source === 'tarball') {
    const copy = await needTarball(tarball).read();
    ctx.log(`sha256 ${verifiedTarball(opts, arch, copy)} verified`);
    if (opts.sha256 && !isPinned(opts.sha256)) ctx.log(unpinnedNote(opts.sha256));
    return extractBinaries({ name: copy.path, handle: copy.handle });
  }
  if (opts.source === 'release') {
    const url = releaseUrl(arch, opts.mirror);
    const expected = opts.sha256 ?? PINNED_SHA256[arch];
    if (!expected) throw new StepError(`no pinned sha256 for linux-${arch}; pass --sha256`);
    const file = await privateFile(workDir(opts));
    try {
      ctx.log(`downloading ${url}`);
      await downloadInto(file, { url, expectedSha256: expected, onProgress: ctx.progress });
      ctx.log(`sha256 ${expected} verified`);
      if (!isPinned(expected)) ctx.log(unpinnedNote(expected));
      return await extractBinaries({ name: releaseTarballName(arch), handle: file });
    } finally {
      await file.close();
    }
  }
  const work = workDir(opts);
  await mkdir(work, { recursive: true, mode: 0o700 });
  const scratch = await mkdtemp(join(work, 'buildkit-'));
  try {
    return await goBuild(scratch, ctx);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The tarball copy's sha256, once it is known to be the expected one (--sha256, or the pin). */
function verifiedTarball(opts: InstallOptions, arch: string, copy: TarballCopy): string {
  const actual = copy.sha256;
  const expected = opts.sha256?.toLowerCase() ?? (actual === PINNED_SHA256[arch] ? actual : undefined);
  if (!expected) {
    throw new StepError(
      `--sha256 is required for ${copy.path}: its checksum (${actual}) is not the pinned ${BUILDKIT_VERSION} linux-${arch} release`,
    );
  }
  if (actual !== expected) {
    throw new StepError(`checksum mismatch for ${copy.path}: expected sha256 ${expected}, got ${actual}`);
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
export async function sourceReachable(
  opts: InstallOptions,
  arch: string,
  tarball?: LocalTarball,
): Promise<void> {
  if (opts.source === 'tarball') {
    verifiedTarball(opts, arch, await needTarball(tarball).read());
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
