// Options of an install run (`opencloud services … container-registry`), resolved once.
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
}
