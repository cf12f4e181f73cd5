// Quotas on the policies page: each namespace's limit with the bytes its repositories hold now
// (GET /api/v1/policies/quotas/usage), a remove asked twice, and a form that sets one
// (PUT /api/v1/policies/quotas with every quota).
import { useState, type FormEvent } from 'react';
import { getJson, putJson } from '../api/client';
import { useLoad } from '../api/use-api';
import { ConfirmButton } from '../components/confirm-button';
import { ErrorNote } from '../components/error-note';
import { LoadNote } from '../components/load-note';
import { bytes } from '../format';

interface Quota {
  repositories: string;
  bytes: number;
  used: number;
}

const UNITS = { MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 } as const;

export function QuotaRules() {
  const list = useLoad(() => getJson<{ quotas: Quota[] }>('/api/v1/policies/quotas/usage'), []);
  const quotas = list.data?.quotas ?? [];
  const [repositories, setRepositories] = useState('');
  const [amount, setAmount] = useState('');
  const [unit, setUnit] = useState<keyof typeof UNITS>('GiB');
  const [error, setError] = useState<Error>();
  const save = (rules: { repositories: string; bytes: number }[]) =>
    putJson('/api/v1/policies/quotas', { rules });
  const limits = (except?: string) =>
    quotas
      .filter((q) => q.repositories !== except)
      .map((q) => ({ repositories: q.repositories, bytes: q.bytes }));

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    const n = Math.round(Number(amount) * UNITS[unit]);
    if (!Number.isSafeInteger(n) || n <= 0) return setError(new Error('The limit is a number above 0.'));
    try {
      await save([...limits(repositories.trim()), { repositories: repositories.trim(), bytes: n }]);
      setRepositories('');
      setAmount('');
      list.reload();
    } catch (err) {
      setError(err as Error);
    }
  };

  return (
    <section className="card" data-testid="quotas">
      <h2>Quotas</h2>
      <p className="muted">
        What the repositories a pattern matches may store together, each blob counted once; a push past it is
        refused.
      </p>
      <LoadNote loaded={list} what="quotas" />
      {list.data && quotas.length === 0 && <p data-testid="no-quotas">No quotas.</p>}
      {quotas.length > 0 && (
        <table className="stacked" data-testid="quota-rules">
          <thead>
            <tr>
              <th>Repositories</th>
              <th>Used</th>
              <th>Limit</th>
              <th>
                <span className="sr-only">Remove</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {quotas.map((q) => (
              <tr key={q.repositories} data-testid="quota-rule" data-repositories={q.repositories}>
                <td data-label="Repositories" className="mono">
                  {q.repositories}
                </td>
                <td data-label="Used" data-testid="quota-used" data-bytes={q.used}>
                  {bytes(q.used)} ({Math.round((q.used / q.bytes) * 100)}%)
                </td>
                <td data-label="Limit">{bytes(q.bytes)}</td>
                <td className="row-actions">
                  <ConfirmButton
                    label="Remove"
                    ariaLabel={`Remove the quota of ${q.repositories}`}
                    question={`Remove the quota of ${q.repositories}?`}
                    confirmLabel="Remove quota"
                    onConfirm={async () => {
                      await save(limits(q.repositories));
                      list.reload();
                    }}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form className="form" onSubmit={(e) => void submit(e)} data-testid="add-quota">
        <h3>Set a quota</h3>
        <label>
          Quota repositories
          <input
            name="quotaRepositories"
            placeholder="team/**"
            value={repositories}
            onChange={(e) => setRepositories(e.target.value)}
            required
          />
        </label>
        <label>
          Limit
          <input
            name="quotaAmount"
            inputMode="decimal"
            placeholder="e.g. 10"
            value={amount}
            onChange={(e) => setAmount(e.target.value)}
            required
          />
        </label>
        <label>
          Unit
          <select
            name="quotaUnit"
            value={unit}
            onChange={(e) => setUnit(e.target.value as keyof typeof UNITS)}
          >
            {Object.keys(UNITS).map((u) => (
              <option key={u}>{u}</option>
            ))}
          </select>
        </label>
        <ErrorNote error={error} />
        <button type="submit">Set quota</button>
      </form>
    </section>
  );
}
