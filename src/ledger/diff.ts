// `ledger diff`: what applying a document would change here. Services: a state that differs, or
// (both enabled) an option that differs. Registry: repositories and tags the document has and this
// instance lacks or points elsewhere. Policies (when the document has them): every rule that
// differs either way, since apply makes the instance's rules equal to the document's. What this instance has beyond the document is not a
// difference: apply never removes it, and a service the document does not name is left alone.
import type { RetentionRule } from '../policies/retention.js';
import { OPTION_KEYS, type LedgerDocument, type ServiceOptions } from './document.js';

export type Difference =
  | { kind: 'service-state'; service: string; from: 'enabled' | 'disabled'; to: 'enabled' | 'disabled' }
  | {
      kind: 'service-option';
      service: string;
      option: keyof ServiceOptions;
      from: string | number | null;
      to: string | number | null;
    }
  | { kind: 'repository-missing'; repository: string; tags: number }
  | { kind: 'tag-missing'; repository: string; tag: string; digest: string }
  | { kind: 'tag-digest'; repository: string; tag: string; from: string; to: string }
  /** An immutable-tags rule to add (`from` null), remove (`to` null) or change. */
  | { kind: 'policy-immutable-tags'; repositories: string; from: string | null; to: string | null }
  /** A retention rule to add, remove or change (its settings as `key=value` text). */
  | { kind: 'policy-retention'; repositories: string; from: string | null; to: string | null }
  /** A quota to add, remove or change (bytes). */
  | { kind: 'policy-quota'; repositories: string; from: number | null; to: number | null };

/** Differences from `current` (this instance) to `wanted` (the document), in document order. */
export function compareDocuments(wanted: LedgerDocument, current: LedgerDocument): Difference[] {
  const out: Difference[] = [];
  for (const s of wanted.services) {
    const here = current.services.find((c) => c.name === s.name);
    const from = here?.state ?? 'disabled';
    if (from !== s.state) {
      out.push({ kind: 'service-state', service: s.name, from, to: s.state });
    } else if (s.state === 'enabled') {
      for (const option of OPTION_KEYS) {
        const was = here?.options?.[option] ?? null;
        const is = s.options?.[option] ?? null;
        if (was !== is) out.push({ kind: 'service-option', service: s.name, option, from: was, to: is });
      }
    }
  }
  for (const repo of wanted.registry.repositories) {
    const here = current.registry.repositories.find((r) => r.name === repo.name);
    if (!here) {
      out.push({ kind: 'repository-missing', repository: repo.name, tags: repo.tags.length });
      continue;
    }
    for (const tag of repo.tags) {
      const digest = here.tags.find((t) => t.name === tag.name)?.digest;
      if (digest === undefined)
        out.push({ kind: 'tag-missing', repository: repo.name, tag: tag.name, digest: tag.digest });
      else if (digest !== tag.digest)
        out.push({ kind: 'tag-digest', repository: repo.name, tag: tag.name, from: digest, to: tag.digest });
    }
  }
  if (wanted.policies) {
    const here = current.policies?.immutableTags ?? [];
    for (const r of wanted.policies.immutableTags) {
      const was = here.find((h) => h.repositories === r.repositories)?.tags ?? null;
      if (was !== r.tags)
        out.push({ kind: 'policy-immutable-tags', repositories: r.repositories, from: was, to: r.tags });
    }
    for (const h of here)
      if (!wanted.policies.immutableTags.some((r) => r.repositories === h.repositories))
        out.push({ kind: 'policy-immutable-tags', repositories: h.repositories, from: h.tags, to: null });
    const kept = current.policies?.retention ?? [];
    for (const r of wanted.policies.retention) {
      const was = kept.find((h) => h.repositories === r.repositories);
      const [from, to] = [was ? settings(was) : null, settings(r)];
      if (from !== to) out.push({ kind: 'policy-retention', repositories: r.repositories, from, to });
    }
    for (const h of kept)
      if (!wanted.policies.retention.some((r) => r.repositories === h.repositories))
        out.push({ kind: 'policy-retention', repositories: h.repositories, from: settings(h), to: null });
    const quotas = current.policies?.quotas ?? [];
    for (const q of wanted.policies.quotas) {
      const was = quotas.find((h) => h.repositories === q.repositories)?.bytes ?? null;
      if (was !== q.bytes)
        out.push({ kind: 'policy-quota', repositories: q.repositories, from: was, to: q.bytes });
    }
    for (const h of quotas)
      if (!wanted.policies.quotas.some((q) => q.repositories === h.repositories))
        out.push({ kind: 'policy-quota', repositories: h.repositories, from: h.bytes, to: null });
  }
  return out;
}

/** A retention rule's settings as one comparable line: `keepLast=10 keepTags=^v`, in key order. */
function settings(r: RetentionRule): string {
  return Object.entries(r)
    .filter(([k]) => k !== 'repositories')
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
}

const value = (v: string | number | null) => (v === null ? '(none)' : String(v));

/** One line per difference, as `ledger diff` prints it. */
export function describeDifference(d: Difference): string {
  switch (d.kind) {
    case 'service-state':
      return `service ${d.service}: state ${d.from} → ${d.to}`;
    case 'service-option':
      return `service ${d.service}: option ${d.option} ${value(d.from)} → ${value(d.to)}`;
    case 'repository-missing':
      return `registry: repository ${d.repository} missing (tags: ${d.tags})`;
    case 'tag-missing':
      return `registry: ${d.repository}:${d.tag} missing (${d.digest})`;
    case 'tag-digest':
      return `registry: ${d.repository}:${d.tag} digest ${d.from} → ${d.to}`;
    case 'policy-quota':
      return `policies: quota of ${d.repositories} ${d.from === null ? '(none)' : `${d.from} bytes`} → ${d.to === null ? '(none)' : `${d.to} bytes`}`;
    case 'policy-retention':
      return `policies: retention in ${d.repositories} ${d.from ?? '(none)'} → ${d.to ?? '(none)'}`;
    case 'policy-immutable-tags': {
      const rule = (t: string | null) => (t === null ? '(none)' : `/${t}/`);
      return `policies: immutable tags in ${d.repositories} ${rule(d.from)} → ${rule(d.to)}`;
    }
  }
}

export type ServiceDifference = Extract<Difference, { service: string }>;

export const isServiceDifference = (d: Difference): d is ServiceDifference =>
  d.kind === 'service-state' || d.kind === 'service-option';

export const isPolicyDifference = (d: Difference): boolean =>
  d.kind === 'policy-immutable-tags' || d.kind === 'policy-retention' || d.kind === 'policy-quota';
