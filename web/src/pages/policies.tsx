// Policies, for admins (GET /api/v1/policies): the immutable-tags rules with a remove asked
// twice, and a form that previews a rule — the tags it would keep fixed now
// (GET …/immutable-tags/preview) — before it is applied (PUT …/immutable-tags with every rule);
// then the retention rules, likewise (retention-rules.tsx), and the quotas with their usage
// (quota-rules.tsx).
import { useState, type FormEvent } from 'react';
import { getJson, putJson } from '../api/client';
import { useLoad } from '../api/use-api';
import { ConfirmButton } from '../components/confirm-button';
import { ErrorNote } from '../components/error-note';
import { LoadNote } from '../components/load-note';
import { RulePreview, type Preview } from '../components/rule-preview';
import { QuotaRules } from './quota-rules';
import { RetentionRules, type RetentionRule } from './retention-rules';

interface Rule {
  repositories: string;
  tags: string;
}
interface Policies {
  immutableTags: Rule[];
  retention: RetentionRule[];
}

const save = (rules: Rule[]) => putJson<Policies>('/api/v1/policies/immutable-tags', { rules });

function AddRule({ rules, onSaved }: { rules: Rule[]; onSaved: () => void }) {
  const [repositories, setRepositories] = useState('');
  const [tags, setTags] = useState('');
  const [preview, setPreview] = useState<Preview>();
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);
  const rule = { repositories: repositories.trim(), tags: tags.trim() };
  const replaces = rules.some((r) => r.repositories === rule.repositories);

  const showPreview = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    setBusy(true);
    try {
      setPreview(
        await getJson<Preview>(
          `/api/v1/policies/immutable-tags/preview?${new URLSearchParams({ ...rule }).toString()}`,
        ),
      );
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  const apply = async () => {
    setError(undefined);
    setBusy(true);
    try {
      await save([...rules.filter((r) => r.repositories !== rule.repositories), rule]);
      setRepositories('');
      setTags('');
      setPreview(undefined);
      onSaved();
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="card form" onSubmit={(e) => void showPreview(e)} data-testid="add-immutable-rule">
      <h2>Add an immutable-tags rule</h2>
      <label>
        Repositories
        <input
          name="ruleRepositories"
          placeholder="team/**"
          value={repositories}
          onChange={(e) => {
            setRepositories(e.target.value);
            setPreview(undefined);
          }}
          required
        />
      </label>
      <label>
        Tags (regular expression)
        <input
          name="ruleTags"
          placeholder="^v[0-9]"
          value={tags}
          onChange={(e) => {
            setTags(e.target.value);
            setPreview(undefined);
          }}
          required
        />
      </label>
      <ErrorNote error={error} />
      <RulePreview
        preview={preview}
        none="No tag here matches it now; tags pushed later that match will be fixed."
        some={(n) => `It fixes ${n} tag${n === 1 ? '' : 's'}`}
        note={replaces ? `It replaces the rule for ${rule.repositories}.` : undefined}
        testIds={{ block: 'rule-preview', list: 'preview-tags' }}
        busy={busy}
        onApply={() => void apply()}
      />
    </form>
  );
}

export function PoliciesPage() {
  const list = useLoad(() => getJson<Policies>('/api/v1/policies'), []);
  const rules = list.data?.immutableTags ?? [];
  return (
    <div className="stack" data-testid="policies">
      <section className="card">
        <h2>Immutable tags</h2>
        <p className="muted">
          A matching tag is pushed once; moving or deleting it is refused to everyone, admins included, until
          its rule is removed.
        </p>
        <LoadNote loaded={list} what="policies" />
        {list.data && rules.length === 0 && <p data-testid="no-rules">No rules: every tag can be moved.</p>}
        {rules.length > 0 && (
          <table className="stacked" data-testid="immutable-rules">
            <thead>
              <tr>
                <th>Repositories</th>
                <th>Tags</th>
                <th>
                  <span className="sr-only">Remove</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {rules.map((r) => (
                <tr key={r.repositories} data-testid="immutable-rule" data-repositories={r.repositories}>
                  <td data-label="Repositories" className="mono">
                    {r.repositories}
                  </td>
                  <td data-label="Tags" className="mono">
                    /{r.tags}/
                  </td>
                  <td className="row-actions">
                    <ConfirmButton
                      label="Remove"
                      ariaLabel={`Remove the rule for ${r.repositories}`}
                      question={`Remove the rule for ${r.repositories}? Its tags can be moved and deleted again.`}
                      confirmLabel="Remove rule"
                      onConfirm={async () => {
                        await save(rules.filter((x) => x.repositories !== r.repositories));
                        list.reload();
                      }}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      {list.data && <AddRule rules={rules} onSaved={list.reload} />}
      {list.data && <RetentionRules rules={list.data.retention} onChange={list.reload} />}
      <QuotaRules />
    </div>
  );
}
