// The ledger document (`opencloud ledger export`): one versioned JSON file that describes an
// instance (each service's state and the options its last enable used, and the registry's
// repositories and tags), serialized with sorted keys so two exports of the same state are
// byte-identical apart from `exportedAt`.
import { EXIT, OpenCloudError } from '../errors.js';

import type { RetentionRule } from '../policies/retention.js';

export const DOCUMENT_KIND = 'opencloud-ledger';
export const DOCUMENT_VERSION = 1;

/** The services a document may name (the ones `runService` knows). */
export const KNOWN_SERVICES: readonly string[] = ['container-registry'];

/** What an enable was run with: the replayable part of the ledger's recorded options. */
export interface ServiceOptions {
  source: 'release' | 'tarball' | 'go';
  tarball?: string;
  sha256?: string;
  mirror?: string;
  init: 'systemd' | 'direct';
  readyTimeout: number;
  lockTimeout: number;
}

export const OPTION_KEYS = [
  'source',
  'tarball',
  'sha256',
  'mirror',
  'init',
  'readyTimeout',
  'lockTimeout',
] as const satisfies readonly (keyof ServiceOptions)[];

export interface ServiceEntry {
  name: string;
  state: 'enabled' | 'disabled';
  /** The options of the last successful enable; null when the service was never enabled. */
  options: ServiceOptions | null;
  /** Installed versions and checksums (informational: apply does not read them). */
  facts: Record<string, unknown>;
  /** What enabling put on the host (informational: apply does not read them). */
  artifacts: Record<string, unknown>[];
}

export interface TagEntry {
  name: string;
  digest: string;
}

export interface RepositoryEntry {
  name: string;
  tags: TagEntry[];
  /** How many manifests the repository holds, tagged or not (informational). */
  manifests: number;
}

/** The registry's policies (src/policies), every kind by repository pattern. */
export interface LedgerPolicies {
  retention: RetentionRule[];
  immutableTags: { repositories: string; tags: string }[];
  quotas: { repositories: string; bytes: number }[];
}

export interface LedgerDocument {
  kind: typeof DOCUMENT_KIND;
  version: typeof DOCUMENT_VERSION;
  exportedAt: string;
  services: ServiceEntry[];
  registry: { repositories: RepositoryEntry[] };
  /** Absent in documents from before policies: `apply` then leaves the instance's alone. */
  policies?: LedgerPolicies;
}

/** The document of an instance that has no state yet. */
export function emptyDocument(now: Date = new Date()): LedgerDocument {
  return {
    kind: DOCUMENT_KIND,
    version: DOCUMENT_VERSION,
    exportedAt: now.toISOString(),
    services: [],
    registry: { repositories: [] },
    policies: { retention: [], immutableTags: [], quotas: [] },
  };
}

/** A document that cannot be read or does not match the schema: EX_DATAERR. */
export class DocumentError extends OpenCloudError {
  override readonly exitCode = EXIT.dataErr;
}

/** Code-unit order, the same on every host and locale. */
export const byName = <T extends { name: string }>(a: T, b: T): number =>
  a.name < b.name ? -1 : a.name > b.name ? 1 : 0;

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}

/** The document as written: keys sorted at every level, two-space indent, a final newline. */
export function serializeDocument(doc: LedgerDocument): string {
  return JSON.stringify(sortKeys(doc), null, 2) + '\n';
}

/**
 * The replayable options out of what the ledger recorded for a run (which also holds
 * instance-specific values such as registryHosts), or null when they are not complete.
 */
export function pickOptions(recorded: Record<string, unknown>): ServiceOptions | null {
  const out: Record<string, unknown> = {};
  for (const key of OPTION_KEYS) if (recorded[key] !== undefined) out[key] = recorded[key];
  const complete =
    typeof out.source === 'string' &&
    typeof out.init === 'string' &&
    typeof out.readyTimeout === 'number' &&
    typeof out.lockTimeout === 'number';
  return complete ? (out as unknown as ServiceOptions) : null;
}
