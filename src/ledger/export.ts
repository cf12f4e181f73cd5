// `ledger export`: this instance as a ledger document (the services' records, the registry's
// repositories and tags, and its policies, read from the StateStore), validated before it is handed out, and
// written to a file atomically (temp file, fsync, rename) so a reader never sees half of it.
import { atomicWrite } from '../installer/host/atomic-write.js';
import type { StateStore } from '../state/store.js';
import {
  byName,
  DOCUMENT_KIND,
  KNOWN_SERVICES,
  DOCUMENT_VERSION,
  pickOptions,
  serializeDocument,
  type LedgerDocument,
  type RepositoryEntry,
  type ServiceEntry,
} from './document.js';
import { immutableTagRules } from '../policies/immutable-tags.js';
import { quotaRules } from '../policies/quotas.js';
import { retentionRules } from '../policies/retention.js';
import { Ledger } from './records.js';
import { validateDocument } from './validate.js';

async function serviceEntries(state: StateStore): Promise<ServiceEntry[]> {
  const ledger = new Ledger(state);
  const entries: ServiceEntry[] = [];
  for (const record of await ledger.services()) {
    // The services `ledger apply` can enable elsewhere; OpenCloud's own deployment (`opencloud
    // install`, recorded as "opencloud") is made per host by that command, not from a document.
    if (!KNOWN_SERVICES.includes(record.name)) continue;
    entries.push({
      name: record.name,
      state: record.state,
      options: pickOptions(record.options),
      facts: record.facts,
      artifacts: (await ledger.artifacts(record.name)) as unknown as Record<string, unknown>[],
    });
  }
  return entries.sort(byName);
}

async function repositoryEntries(state: StateStore): Promise<RepositoryEntry[]> {
  const repos = await state.db.selectFrom('repositories').select(['id', 'name']).execute();
  const tags = await state.db
    .selectFrom('tags')
    .select(['repository_id', 'name', 'manifest_digest'])
    .execute();
  const counts = await state.db
    .selectFrom('manifests')
    .select((eb) => ['repository_id', eb.fn.countAll<number>().as('n')])
    .groupBy('repository_id')
    .execute();
  return repos
    .map((r) => ({
      name: r.name,
      tags: tags
        .filter((t) => t.repository_id === r.id)
        .map((t) => ({ name: t.name, digest: t.manifest_digest }))
        .sort(byName),
      manifests: Number(counts.find((c) => c.repository_id === r.id)?.n ?? 0),
    }))
    .sort(byName);
}

/**
 * The instance behind `state` as a document (validated when it is written, not here). The
 * repositories come from `registry` when the registry's state is elsewhere (a shared PostgreSQL):
 * the services are always this host's.
 */
export async function exportDocument(
  state: StateStore,
  now: Date = new Date(),
  registry: StateStore = state,
): Promise<LedgerDocument> {
  return {
    kind: DOCUMENT_KIND,
    version: DOCUMENT_VERSION,
    exportedAt: now.toISOString(),
    services: await serviceEntries(state),
    registry: { repositories: await repositoryEntries(registry) },
    policies: {
      retention: await retentionRules(registry),
      immutableTags: await immutableTagRules(registry),
      quotas: await quotaRules(registry),
    },
  };
}

/**
 * The document as text, validated first (what is checked is the serialized form, exactly what is
 * written); to a file atomically when `path` is given.
 */
export async function writeDocument(doc: LedgerDocument, path?: string): Promise<string> {
  const text = serializeDocument(doc);
  validateDocument(JSON.parse(text), 'the exported document');
  if (path !== undefined) await atomicWrite(path, text, { mode: 0o644 });
  return text;
}
