// Retention rules on the policies page: each rule with what it keeps and a remove asked twice,
// and a form that previews a rule — the tags garbage collection would delete now with it in
// place (GET /api/v1/policies/retention/preview) — before it is applied (PUT …/retention).
import { useState, type FormEvent } from 'react';
import { getJson, putJson } from '../api/client';
import { ConfirmButton } from '../components/confirm-button';
import { ErrorNote } from '../components/error-note';
import { RulePreview, type Preview } from '../components/rule-preview';

export interface RetentionRule {
  repositories: string;
  keepLast?: number;
  keepTags?: string;
  pulledWithinDays?: number;
  untaggedAfterDays?: number;
}

const save = (rules: RetentionRule[]) => putJson('/api/v1/policies/retention', { rules });

/** What a rule keeps, in words. */
export function keeps(r: RetentionRule): string {
  const parts = [
    r.keepLast !== undefined && `the newest ${r.keepLast}`,
    r.keepTags !== undefined && `tags matching /${r.keepTags}/`,
    r.pulledWithinDays !== undefined && `tags pulled within ${r.pulledWithinDays} days`,
  ].filter(Boolean);
  return parts.length ? parts.join(', ') : 'every tag';
}

function RuleForm({ rules, onSaved }: { rules: RetentionRule[]; onSaved: () => void }) {
  const [fields, setFields] = useState({
    repositories: '',
    keepLast: '',
    keepTags: '',
    pulled: '',
    untagged: '',
  });
  const [preview, setPreview] = useState<Preview>();
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);
  const field = (name: keyof typeof fields) => ({
    name,
    value: fields[name],
    onChange: (e: { target: { value: string } }) => {
      setFields({ ...fields, [name]: e.target.value });
      setPreview(undefined);
    },
  });
  const rule = (): RetentionRule => {
    const r: RetentionRule = { repositories: fields.repositories.trim() };
    if (fields.keepLast.trim()) r.keepLast = Number(fields.keepLast);
    if (fields.keepTags.trim()) r.keepTags = fields.keepTags.trim();
    if (fields.pulled.trim()) r.pulledWithinDays = Number(fields.pulled);
    if (fields.untagged.trim()) r.untaggedAfterDays = Number(fields.untagged);
    return r;
  };
  const run = async (fn: () => Promise<void>) => {
    setError(undefined);
    setBusy(true);
    try {
      await fn();
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  const showPreview = (e: FormEvent) => {
    e.preventDefault();
    const q = new URLSearchParams(Object.entries(rule()).map(([k, v]) => [k, String(v)]));
    void run(async () => setPreview(await getJson(`/api/v1/policies/retention/preview?${q.toString()}`)));
  };
  const apply = () =>
    run(async () => {
      const r = rule();
      await save([...rules.filter((x) => x.repositories !== r.repositories), r]);
      setFields({ repositories: '', keepLast: '', keepTags: '', pulled: '', untagged: '' });
      setPreview(undefined);
      onSaved();
    });

  return (
    <form className="card form" onSubmit={showPreview} data-testid="add-retention-rule">
      <h2>Add a retention rule</h2>
      <label>
        Repositories
        <input {...field('repositories')} placeholder="team/**" required />
      </label>
      <label>
        Keep the newest
        <input {...field('keepLast')} inputMode="numeric" placeholder="e.g. 10 tags" />
      </label>
      <label>
        Keep tags matching
        <input {...field('keepTags')} placeholder="e.g. ^v[0-9]" />
      </label>
      <label>
        Keep tags pulled within (days)
        <input {...field('pulled')} inputMode="numeric" placeholder="e.g. 30" />
      </label>
      <label>
        Delete untagged manifests after (days)
        <input {...field('untagged')} inputMode="numeric" placeholder="e.g. 7" />
      </label>
      <ErrorNote error={error} />
      <RulePreview
        preview={preview}
        none="Garbage collection would delete no tag now."
        some={(n) => `Garbage collection would delete ${n} tag${n === 1 ? '' : 's'}`}
        testIds={{ block: 'retention-preview', list: 'retention-preview-tags' }}
        busy={busy}
        onApply={() => void apply()}
      />
    </form>
  );
}

export function RetentionRules({ rules, onChange }: { rules: RetentionRule[]; onChange: () => void }) {
  return (
    <>
      <section className="card">
        <h2>Retention</h2>
        <p className="muted">
          Garbage collection deletes the tags no rule of their repository keeps (never an immutable one), and
          untagged manifests past their age unless a signature or an index holds them.
        </p>
        {rules.length === 0 && <p data-testid="no-retention">No rules: garbage collection deletes no tag.</p>}
        {rules.length > 0 && (
          <table className="stacked" data-testid="retention-rules">
            <thead>
              <tr>
                <th>Repositories</th>
                <th>Keeps</th>
                <th>Untagged manifests</th>
                <th>
                  <span className="sr-only">Remove</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {rules.map((r) => (
                <tr key={r.repositories} data-testid="retention-rule" data-repositories={r.repositories}>
                  <td data-label="Repositories" className="mono">
                    {r.repositories}
                  </td>
                  <td data-label="Keeps">{keeps(r)}</td>
                  <td data-label="Untagged">
                    {r.untaggedAfterDays === undefined ? 'kept' : `deleted after ${r.untaggedAfterDays} days`}
                  </td>
                  <td className="row-actions">
                    <ConfirmButton
                      label="Remove"
                      ariaLabel={`Remove the retention rule for ${r.repositories}`}
                      question={`Remove the retention rule for ${r.repositories}?`}
                      confirmLabel="Remove rule"
                      onConfirm={async () => {
                        await save(rules.filter((x) => x.repositories !== r.repositories));
                        onChange();
                      }}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <RuleForm rules={rules} onSaved={onChange} />
    </>
  );
}
