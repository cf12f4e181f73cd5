// Options of an install run (`opencloud services … container-registry`), resolved once from what
// the CLI flags, OPENCLOUD_* variables or an HTTP request body said, and the configuration.
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import { UsageError } from '../errors.js';
export type SourceKind = 'release' | 'tarball' | 'go';
export type InitMode = 'systemd' | 'direct';

export interface InstallOptions {
  source: SourceKind;
  tarball?: string;
  sha256?: string;
  mirror?: string;
  /** Resolved: `auto` has become systemd or direct by the time a run starts. */
  init: InitMode;
  /** Seconds to wait for a daemon to answer after start. */
  readyTimeout: number;
  /** Seconds apt waits for the dpkg lock. */
  lockTimeout: number;
  /** Where the ledger and the backups of replaced files live. */
  dataDir: string;
  /** host:port names of this registry, written as plain-HTTP entries in buildkitd.toml. */
  registryHosts: string[];
  /**
   * Checksums root trusts besides the pinned ones (`installer.trustedSha256` of the configuration):
   * what a run asked for over the API may install (request-policy.ts). Never recorded in the ledger.
   */
  trustedSha256?: readonly string[];
}

/** Options as given (flags, environment or a request body), before validation. */
export interface RawInstallOptions {
  source: string;
  tarball?: string | undefined;
  sha256?: string | undefined;
  mirror?: string | undefined;
  init: string;
  readyTimeout: string | number;
  lockTimeout: string | number;
}

export function seconds(name: string, raw: string | number): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0)
    throw new UsageError(`${name} must be a positive number of seconds, got ${raw}`);
  return n;
}

/** host:port names under which this registry is reached, as image references would name it. */
export function registryHosts(config: Config): string[] {
  const { host, port } = config.listen;
  const wildcard = host === '0.0.0.0' || host === '::';
  const names = wildcard
    ? ['127.0.0.1', 'localhost', hostname()]
    : host === '127.0.0.1'
      ? ['127.0.0.1', 'localhost']
      : [host];
  return names.map((h) => (h.includes(':') ? `[${h}]:${port}` : `${h}:${port}`));
}

export function resolveInstallOptions(raw: RawInstallOptions, config: Config): InstallOptions {
  if (!['release', 'tarball', 'go'].includes(raw.source)) {
    throw new UsageError(`source must be release, tarball or go, got ${raw.source}`);
  }
  if (!['auto', 'systemd', 'direct'].includes(raw.init)) {
    throw new UsageError(`init must be auto, systemd or direct, got ${raw.init}`);
  }
  if (raw.sha256 !== undefined && !/^[0-9a-fA-F]{64}$/.test(raw.sha256)) {
    throw new UsageError(`sha256 must be 64 hex digits, got ${raw.sha256}`);
  }
  if (raw.mirror !== undefined && !/^https?:\/\/[^/]/.test(raw.mirror)) {
    throw new UsageError(`mirror must be an http:// or https:// URL, got ${raw.mirror}`);
  }
  if (raw.source === 'tarball' && !raw.tarball)
    throw new UsageError('tarball is required when source is tarball');
  const result: InstallOptions = {
    source: raw.source as SourceKind,
    // systemd is PID 1 exactly when /run/systemd/system exists (sd_booted()'s test).
    init:
      raw.init === 'auto'
        ? existsSync('/run/systemd/system')
          ? 'systemd'
          : 'direct'
        : (raw.init as InitMode),
    readyTimeout: seconds('ready timeout', raw.readyTimeout),
    lockTimeout: seconds('lock timeout', raw.lockTimeout),
    dataDir: config.dataDir,
    registryHosts: registryHosts(config),
    trustedSha256: config.installer.trustedSha256,
  };
  if (raw.tarball) result.tarball = isAbsolute(raw.tarball) ? raw.tarball : resolve(raw.tarball);
  if (raw.sha256) result.sha256 = raw.sha256.toLowerCase();
  if (raw.mirror) result.mirror = raw.mirror;
  return result;
}
