// Online garbage collection. Retention policies first delete the tags no rule keeps (each
// announced as a delete and audited). Mark: manifests reachable from tags (through index children
// and referrers); with deleteUntagged, the others older than the grace period go, and so do
// untagged manifests older than a retention rule's untaggedAfterDays. Sweep: repository
// links to blobs nothing references, older than the grace period, repositories left empty and
// untouched for that long, then blobs no repository links. Pushes are never hurt: a blob linked within the grace period is kept, a manifest
// re-checks its references inside its own transaction, and a blob's bytes are deleted under the
// same per-digest lock a push takes to commit and link them, after re-checking it is unlinked.
// A dry run does the whole state part in a transaction it rolls back, so it reports exactly
// what a real run would reclaim at that moment.
import { AuditTrail } from '../ledger/audit.js';
import { immutableTagRules } from '../policies/immutable-tags.js';
import { expiredTags, retentionRules, untaggedAfterDays } from '../policies/retention.js';
import {
  allManifests,
  allTagStates,
  allTagTargets,
  deleteTagIfUnchanged,
  deleteBlobIfOrphan,
  deleteEmptyRepositories,
  deleteManifestRows,
  manifestChildren,
  orphanBlobs,
  repositoryNames,
  unlinkUnreferenced,
  uploadsStartedBefore,
  type ManifestNode,
} from '../state/gc-queries.js';
import type { Registry } from './context.js';

export interface GcOptions {
  dryRun: boolean;
  deleteUntagged: boolean;
  /** Seconds: content linked or pushed more recently than this is never collected. */
  gracePeriod: number;
  /** Seconds: upload sessions older than this are abandoned and removed. */
  uploadTtl: number;
  now?: Date;
}

export interface GcReport {
  dryRun: boolean;
  /** Tags retention policies deleted (or, in a dry run, would delete), as repository:tag. */
  tagsRemoved: string[];
  untaggedManifests: { repository: string; digest: string }[];
  linksRemoved: number;
  /** Repositories left with nothing in them and untouched for the grace period. */
  repositoriesRemoved: string[];
  blobs: { digest: string; size: number }[];
  bytesReclaimed: number;
  uploadsExpired: number;
  durationMs: number;
}

class Rollback extends Error {}

/** Manifests reachable from tags in each repository, following index children and referrers. */
export function reachable(
  manifests: ManifestNode[],
  tags: { repositoryId: number; digest: string }[],
  children: { repositoryId: number; parent: string; child: string }[],
): Set<string> {
  const key = (repo: number, digest: string) => `${repo} ${digest}`;
  const childrenOf = new Map<string, string[]>();
  for (const c of children) {
    const k = key(c.repositoryId, c.parent);
    childrenOf.set(k, [...(childrenOf.get(k) ?? []), c.child]);
  }
  const referrersOf = new Map<string, string[]>();
  for (const m of manifests) {
    if (!m.subjectDigest) continue;
    const k = key(m.repositoryId, m.subjectDigest);
    referrersOf.set(k, [...(referrersOf.get(k) ?? []), m.digest]);
  }
  const live = new Set<string>();
  const queue = tags.map((t) => key(t.repositoryId, t.digest));
  while (queue.length > 0) {
    const k = queue.pop() as string;
    if (live.has(k)) continue;
    live.add(k);
    const repo = Number(k.split(' ')[0]);
    for (const d of [...(childrenOf.get(k) ?? []), ...(referrersOf.get(k) ?? [])]) queue.push(key(repo, d));
  }
  return live;
}

export class GcBusyError extends Error {
  constructor(message = 'a garbage collection run is already in progress') {
    super(message);
    this.name = 'GcBusyError';
  }
}

/**
 * One collection at a time across every process sharing the state (other registry nodes, a CLI
 * run): the others are refused with GcBusyError rather than queued, since the running one
 * reclaims what they would have.
 */
export async function collectGarbage(reg: Registry, opts: GcOptions): Promise<GcReport> {
  const report = await reg.state.withExclusiveLock('opencloud:gc', () => collect(reg, opts));
  if (report === undefined) {
    throw new GcBusyError(
      'garbage collection is already running (in this process, or another node or command sharing the state)',
    );
  }
  return report;
}

async function collect(reg: Registry, opts: GcOptions): Promise<GcReport> {
  const started = Date.now();
  const now = opts.now ?? new Date();
  const cutoff = new Date(now.getTime() - opts.gracePeriod * 1000).toISOString();
  const report: GcReport = {
    dryRun: opts.dryRun,
    tagsRemoved: [],
    untaggedManifests: [],
    linksRemoved: 0,
    repositoriesRemoved: [],
    blobs: [],
    bytesReclaimed: 0,
    uploadsExpired: 0,
    durationMs: 0,
  };

  // Pulls this node has seen and not yet written count for pulledWithinDays.
  await reg.pullTimes?.flush().catch(() => undefined);
  const retention = await retentionRules(reg.state);
  const fixed = retention.length ? await immutableTagRules(reg.state) : [];
  const untaggedByRetention = retention.some((r) => r.untaggedAfterDays !== undefined);
  const removed: { repository: string; tag: string; digest: string }[] = [];
  try {
    await reg.state.db.transaction().execute(async (trx) => {
      // Retention first: the manifests it leaves untagged are then judged like any untagged one.
      for (const t of expiredTags(await allTagStates(trx), retention, fixed, now)) {
        if (!(await deleteTagIfUnchanged(trx, t))) continue;
        removed.push(t);
        report.tagsRemoved.push(`${t.repository}:${t.tag}`);
      }
      if (opts.deleteUntagged || untaggedByRetention) {
        const manifests = await allManifests(trx);
        const tagged = await allTagTargets(trx);
        const children = await manifestChildren(trx);
        const live = reachable(manifests, tagged, children);
        // Retention also keeps an untagged manifest something is attached to (a signature, an SBOM).
        const present = new Set(manifests.map((m) => `${m.repositoryId} ${m.digest}`));
        const subjects = manifests
          .filter((m) => m.subjectDigest && present.has(`${m.repositoryId} ${m.subjectDigest}`))
          .map((m) => ({ repositoryId: m.repositoryId, digest: m.subjectDigest as string }));
        const kept = untaggedByRetention ? reachable(manifests, [...tagged, ...subjects], children) : live;
        const names = await repositoryNames(trx);
        for (const m of manifests) {
          const key = `${m.repositoryId} ${m.digest}`;
          if (m.createdAt >= cutoff) continue;
          const days = untaggedAfterDays(retention, names.get(m.repositoryId) ?? '');
          const byGc = opts.deleteUntagged && !live.has(key);
          const byRetention =
            days !== undefined &&
            !kept.has(key) &&
            m.createdAt < new Date(now.getTime() - days * 86_400_000).toISOString();
          if (!byGc && !byRetention) continue;
          await deleteManifestRows(trx, m.repositoryId, m.digest);
          report.untaggedManifests.push({ repository: names.get(m.repositoryId) ?? '?', digest: m.digest });
        }
      }
      report.linksRemoved = await unlinkUnreferenced(trx, cutoff);
      report.repositoriesRemoved = await deleteEmptyRepositories(trx, cutoff);
      report.blobs = await orphanBlobs(trx);
      if (opts.dryRun) throw new Rollback();
    });
  } catch (err) {
    if (!(err instanceof Rollback)) throw err;
  }

  if (opts.dryRun) {
    report.bytesReclaimed = report.blobs.reduce((n, b) => n + b.size, 0);
  } else {
    const deleted: GcReport['blobs'] = [];
    for (const blob of report.blobs) {
      await reg.digestLocks.run(blob.digest, async () => {
        // Re-checked under the lock: a push may have linked the digest since the sweep.
        if (!(await deleteBlobIfOrphan(reg.state.db, blob.digest))) return;
        await reg.blobs.delete(blob.digest);
        deleted.push(blob);
      });
    }
    report.blobs = deleted;
    report.bytesReclaimed = deleted.reduce((n, b) => n + b.size, 0);
  }

  if (!opts.dryRun) await announceRetention(reg, removed);
  report.uploadsExpired = await expireUploads(
    reg,
    new Date(now.getTime() - opts.uploadTtl * 1000),
    opts.dryRun,
  );
  report.durationMs = Date.now() - started;
  return report;
}

/** Each tag retention deleted: a `delete` event (webhooks) and an entry in the audit trail. */
async function announceRetention(
  reg: Registry,
  tags: { repository: string; tag: string; digest: string }[],
): Promise<void> {
  const trail = new AuditTrail(reg.state);
  for (const { repository, tag, digest } of tags) {
    const t = `${repository}:${tag}`;
    reg.events?.emit({
      name: 'delete',
      subject: t,
      data: { repository, tag, digest, actor: 'retention policy' },
    });
    await trail.record({
      action: 'retention-delete',
      target: t,
      actor: 'retention policy',
      address: 'local',
      status: 0,
    });
  }
}

/**
 * Removes upload sessions idle since the cutoff (their data last written before it), whether or
 * not a record knows them (a crash can leave either half), records whose data is gone, and whole
 * blobs a node began to write at their final place and never finished (S3 multipart uploads).
 */
async function expireUploads(reg: Registry, cutoff: Date, dryRun: boolean): Promise<number> {
  const abandonedWrites = (await reg.blobs.expireBlobWrites?.(cutoff, dryRun)) ?? 0;
  const stale = new Set(await reg.blobs.staleUploads(cutoff));
  for (const id of await uploadsStartedBefore(reg.state.db, cutoff.toISOString())) {
    if ((await reg.blobs.uploadSize(id)) === undefined) stale.add(id);
  }
  if (dryRun) return stale.size + abandonedWrites;
  for (const id of stale) {
    await reg.blobs.abortUpload(id);
    await reg.state.deleteUpload(id);
  }
  return stale.size + abandonedWrites;
}
