// Manifests: PUT (validated, stored byte-exact under the digest of the exact body, recorded with
// its references in one transaction), GET/HEAD by tag or digest, DELETE (a digest deletes the
// manifest and its tags; a tag only untags). Tags an immutable-tags policy keeps fixed are
// pushed once and then neither moved nor deleted (DENIED, naming the policy).
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { existingRepository, queryParams, readBody, readManifest, type Registry } from './context.js';
import { OciError } from './errors.js';
import { parseManifest, type ParsedManifest } from './manifest-parse.js';
import { isDigestLike, parseDigest, validateTag, type Algorithm } from './names.js';
import { acceptedTypes, platformFallback } from './negotiate.js';
import { linkWithinQuota } from './quota-link.js';
import { FixedTagError, MissingReferenceError, type ManifestRecord } from '../state/store.js';
import {
  describeRule,
  immutableTagRules,
  ruleFixing,
  type ImmutableTagRule,
} from '../policies/immutable-tags.js';

export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

function digestOf(body: Buffer, algorithm: Algorithm): string {
  return `${algorithm}:${createHash(algorithm).update(body).digest('hex')}`;
}

export async function putManifest(
  reg: Registry,
  name: string,
  reference: string,
  req: FastifyRequest,
  reply: FastifyReply,
) {
  const byDigest = isDigestLike(reference);
  const algorithm = byDigest ? parseDigest(reference).algorithm : 'sha256';
  // Tags to set: the reference when it is a tag, plus any ?tag= parameters (OCI 1.1 push by digest).
  const tags = [...new Set([...(byDigest ? [] : [reference]), ...queryParams(req, 'tag')])];
  for (const tag of tags) validateTag(tag);
  const body = await readBody(req, MAX_MANIFEST_BYTES);
  const parsed = parseManifest(body, req.headers['content-type']);
  const digest = digestOf(body, algorithm);
  if (byDigest && digest !== reference) {
    throw new OciError('DIGEST_INVALID', `the body's digest is ${digest}, not ${reference}`, { digest });
  }

  const repositoryId = await reg.state.ensureRepository(name);
  await checkReferences(reg, repositoryId, name, parsed);

  await reg.digestLocks.run(digest, async () => {
    await reg.state.recordBlob(digest, body.length);
    await reg.blobs.putBytes(digest, body);
    await linkWithinQuota(reg, name, repositoryId, digest, body.length);
  });
  const references = [
    ...parsed.blobs.filter((b) => !b.urls?.length).map((b) => ({ digest: b.digest, kind: 'blob' as const })),
    ...parsed.manifests.map((m) => ({ digest: m.digest, kind: 'manifest' as const })),
  ];
  // Tags a policy keeps fixed: created by this push if new, never moved (checked in the transaction).
  const rules = tags.length ? await immutableTagRules(reg.state) : [];
  const fixed = new Set(tags.filter((t) => ruleFixing(rules, name, t)));
  try {
    await reg.state.putManifest(
      repositoryId,
      {
        digest,
        mediaType: parsed.mediaType,
        artifactType: parsed.artifactType,
        subjectDigest: parsed.subject?.digest ?? null,
        annotations: parsed.annotations,
        size: body.length,
      },
      references,
      tags,
      !reg.options.allowSparseManifests,
      fixed,
    );
  } catch (err) {
    if (err instanceof FixedTagError) {
      const rule = ruleFixing(rules, name, err.tag) as ImmutableTagRule;
      throw new OciError(
        'DENIED',
        `tag ${err.tag} of ${name} is immutable (${describeRule(rule)}): it points at ${err.digest} and cannot be moved`,
        { tag: err.tag, digest: err.digest, policy: rule },
      );
    }
    if (err instanceof MissingReferenceError) {
      const what = err.reference.kind === 'blob' ? 'blob' : 'manifest';
      throw new OciError('MANIFEST_BLOB_UNKNOWN', `${what} ${err.reference.digest} is not in ${name}`, {
        digest: err.reference.digest,
      });
    }
    throw err;
  }
  // Committed: announce it (a synchronous hand-off; receivers are served by the webhook worker).
  reg.events?.emit({
    name: 'push',
    subject: tags.length > 0 ? `${name}:${tags[0]}` : `${name}@${digest}`,
    data: {
      repository: name,
      tag: tags[0] ?? null,
      tags,
      digest,
      mediaType: parsed.mediaType,
      artifactType: parsed.artifactType,
      size: body.length,
      actor: req.principal?.name ?? null,
    },
  });

  reply.status(201).headers({
    location: `/v2/${name}/manifests/${digest}`,
    'docker-content-digest': digest,
    'content-length': 0,
  });
  if (parsed.subject) reply.header('oci-subject', parsed.subject.digest);
  if (byDigest && tags.length > 0) reply.header('oci-tag', tags);
  return reply.send();
}

/**
 * Every blob an image manifest names must be in the repository with the size it claims, and every
 * child of an index must be a manifest there — unless sparse manifests are allowed (partial
 * mirrors), where absent content is accepted but a wrong size still is not.
 */
async function checkReferences(reg: Registry, repositoryId: number, name: string, parsed: ParsedManifest) {
  const sparse = reg.options.allowSparseManifests;
  for (const blob of parsed.blobs) {
    if (blob.urls && blob.urls.length > 0) continue; // foreign layers live elsewhere by design
    const size = await reg.state.repositoryBlob(repositoryId, blob.digest);
    if (size === undefined) {
      if (sparse) continue;
      throw new OciError('MANIFEST_BLOB_UNKNOWN', `blob ${blob.digest} is not in ${name}`, {
        digest: blob.digest,
      });
    }
    if (size !== blob.size) {
      throw new OciError(
        'MANIFEST_INVALID',
        `descriptor of ${blob.digest} says ${blob.size} bytes, the blob has ${size}`,
      );
    }
  }
  if (sparse) return;
  for (const child of parsed.manifests) {
    if (!(await reg.state.manifest(repositoryId, child.digest))) {
      throw new OciError('MANIFEST_BLOB_UNKNOWN', `manifest ${child.digest} is not in ${name}`, {
        digest: child.digest,
      });
    }
  }
}

async function resolve(reg: Registry, name: string, reference: string): Promise<ManifestRecord> {
  const byDigest = isDigestLike(reference);
  if (byDigest) parseDigest(reference);
  else validateTag(reference);
  // One statement answers a request that finds its manifest; a miss is explained step by step.
  const found = byDigest
    ? await reg.state.reads.manifestByDigest(name, reference)
    : await reg.state.reads.manifestByTag(name, reference);
  if (found) return found;
  const repositoryId = await existingRepository(reg, name);
  let digest = reference;
  if (!byDigest) {
    const tagged = await reg.state.resolveTag(repositoryId, reference);
    if (!tagged)
      throw new OciError('MANIFEST_UNKNOWN', `tag ${reference} is not in ${name}`, { tag: reference });
    digest = tagged;
  }
  const manifest = await reg.state.manifest(repositoryId, digest);
  if (!manifest) throw new OciError('MANIFEST_UNKNOWN', `manifest ${digest} is not in ${name}`, { digest });
  return manifest;
}

export async function getManifest(
  reg: Registry,
  name: string,
  reference: string,
  head: boolean,
  req: FastifyRequest,
  reply: FastifyReply,
) {
  let manifest = await resolve(reg, name, reference);
  let body: Buffer | undefined;
  const accepted = acceptedTypes(req.headers.accept);
  if (accepted && !accepted.has(manifest.mediaType)) {
    body = await readManifest(reg, manifest.digest);
    const fallback = platformFallback(manifest.mediaType, body, accepted);
    const child = fallback ? await resolve(reg, name, fallback).catch(() => undefined) : undefined;
    if (!child) {
      throw new OciError(
        'MANIFEST_UNKNOWN',
        `manifest ${manifest.digest} is ${manifest.mediaType}, which the request's Accept header does not list`,
        { mediaType: manifest.mediaType, accepted: [...accepted] },
      );
    }
    manifest = child;
    body = undefined;
  }
  reply.status(200).headers({
    'content-type': manifest.mediaType,
    'docker-content-digest': manifest.digest,
    'content-length': manifest.size,
    etag: `"${manifest.digest}"`,
  });
  if (head) return reply.send();
  // The web UI showing a manifest says so (OpenCloud-View): someone looking is not a pull.
  if (req.headers['opencloud-view'] === undefined) reg.pullTimes?.pulled(name, manifest.digest);
  return reply.send(body ?? (await readManifest(reg, manifest.digest)));
}

/** DENIED when a policy keeps one of `tags` (about to be deleted) fixed. */
async function refuseFixed(reg: Registry, name: string, tags: string[]): Promise<void> {
  if (tags.length === 0) return;
  const rules = await immutableTagRules(reg.state);
  for (const tag of tags) {
    const rule = ruleFixing(rules, name, tag);
    if (!rule) continue;
    const why = `tag ${tag} of ${name} is immutable (${describeRule(rule)}): it cannot be deleted`;
    throw new OciError('DENIED', why, { tag, policy: rule });
  }
}

export async function deleteManifest(
  reg: Registry,
  name: string,
  reference: string,
  req: FastifyRequest,
  reply: FastifyReply,
) {
  const repositoryId = await existingRepository(reg, name);
  const byDigest = isDigestLike(reference);
  // The digest a deleted tag pointed at, for the event (looked up only when someone listens).
  let tagged: string | undefined;
  if (byDigest) {
    parseDigest(reference);
    await refuseFixed(reg, name, await reg.state.tagsOn(repositoryId, reference));
    if (!(await reg.state.deleteManifest(repositoryId, reference))) {
      throw new OciError('MANIFEST_UNKNOWN', `manifest ${reference} is not in ${name}`, {
        digest: reference,
      });
    }
  } else {
    validateTag(reference);
    await refuseFixed(reg, name, [reference]);
    if (reg.events) tagged = await reg.state.resolveTag(repositoryId, reference);
    if (!(await reg.state.deleteTag(repositoryId, reference))) {
      throw new OciError('MANIFEST_UNKNOWN', `tag ${reference} is not in ${name}`, { tag: reference });
    }
  }
  reg.events?.emit({
    name: 'delete',
    subject: byDigest ? `${name}@${reference}` : `${name}:${reference}`,
    data: {
      repository: name,
      tag: byDigest ? null : reference,
      digest: byDigest ? reference : (tagged ?? null),
      actor: req.principal?.name ?? null,
    },
  });
  return reply.status(202).header('content-length', 0).send();
}
