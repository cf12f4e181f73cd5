// A user's API tokens (GET /api/v1/users/{name}/tokens): a form that creates one
// (POST …/tokens) and shows its secret once, ready to copy, and the list with each token's
// rights, dates and state, and a revoke asked twice (DELETE /api/v1/tokens/{id}).
import { useState, type FormEvent } from 'react';
import { deleteIt, getJson, postJson } from '../api/client';
import { ACTIONS, type Action, type TokenRecord } from '../api/types';
import { useLoad } from '../api/use-api';
import { ConfirmButton } from '../components/confirm-button';
import { CopyLine } from '../components/copy-line';
import { ErrorNote } from '../components/error-note';
import { LoadNote } from '../components/load-note';
import { StateBadge } from '../components/state-badge';
import { age, when } from '../format';
import { grantSummary } from './grants';

type Rights = 'user' | 'admin' | 'scoped';

interface Created {
  id: string;
  name: string;
  token: string;
  expiresAt: string | null;
}

function tokenState(t: TokenRecord): 'active' | 'revoked' | 'expired' {
  if (t.revokedAt) return 'revoked';
  if (t.expiresAt && Date.parse(t.expiresAt) <= Date.now()) return 'expired';
  return 'active';
}

const rightsOf = (t: TokenRecord) =>
  t.scopes === null ? "the user's rights" : t.scopes === 'admin' ? 'admin' : grantSummary(t.scopes);

function NewToken({ created, user, onDone }: { created: Created; user: string; onDone: () => void }) {
  return (
    <div className="once" role="status" data-testid="new-token">
      <p>
        <strong>Token “{created.name}” created.</strong> Copy it now: it is not shown again.
        {created.expiresAt && <> It expires {when(created.expiresAt)}.</>}
      </p>
      <CopyLine text={created.token} />
      <p className="muted">
        Use it as the password of <code>{user}</code> for <code>docker login {location.host}</code>, or as{' '}
        <code>Authorization: Bearer …</code> for the API.
      </p>
      <button type="button" onClick={onDone}>
        Done, I have copied it
      </button>
    </div>
  );
}

function CreateToken({
  user,
  admin,
  onCreated,
}: {
  user: string;
  admin: boolean;
  onCreated: (c: Created) => void;
}) {
  const [name, setName] = useState('');
  const [rights, setRights] = useState<Rights>('user');
  const [pattern, setPattern] = useState('');
  const [actions, setActions] = useState<Action[]>(['pull']);
  const [days, setDays] = useState('');
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    const body: Record<string, unknown> = { name: name.trim() };
    if (rights === 'admin') body.admin = true;
    if (rights === 'scoped') {
      if (actions.length === 0) return setError(new Error('Choose at least one action for the token.'));
      body.scopes = [{ pattern: pattern.trim(), actions }];
    }
    if (days.trim()) {
      const d = Number(days);
      if (!Number.isFinite(d) || d <= 0)
        return setError(new Error('Expires in takes a number of days above 0.'));
      body.expiresDays = d;
    }
    setBusy(true);
    try {
      const r = await postJson<{ id: string; token: string; expiresAt: string | null }>(
        `/api/v1/users/${encodeURIComponent(user)}/tokens`,
        body,
      );
      setName('');
      onCreated({ ...r, name: body.name as string });
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="form" onSubmit={(e) => void submit(e)} data-testid="create-token">
      <h3>New token</h3>
      <label>
        Token name
        <input
          name="tokenName"
          placeholder="ci"
          maxLength={64}
          value={name}
          onChange={(e) => setName(e.target.value)}
          required
        />
      </label>
      <label>
        Rights
        <select name="rights" value={rights} onChange={(e) => setRights(e.target.value as Rights)}>
          <option value="user">the user’s own rights</option>
          {admin && <option value="admin">admin</option>}
          <option value="scoped">only one repository pattern</option>
        </select>
      </label>
      {rights === 'scoped' && (
        <div className="options">
          <label>
            Token pattern
            <input
              name="tokenPattern"
              placeholder="team/*"
              value={pattern}
              onChange={(e) => setPattern(e.target.value)}
              required
            />
          </label>
          <span className="checks" role="group" aria-label="token actions">
            {ACTIONS.map((a) => (
              <label key={a} className="inline">
                <input
                  type="checkbox"
                  name={`token-${a}`}
                  checked={actions.includes(a)}
                  onChange={(e) =>
                    setActions(ACTIONS.filter((x) => (x === a ? e.target.checked : actions.includes(x))))
                  }
                />
                {a}
              </label>
            ))}
          </span>
        </div>
      )}
      <label>
        Expires in (days)
        <input
          name="expiresDays"
          inputMode="decimal"
          placeholder="never"
          value={days}
          onChange={(e) => setDays(e.target.value)}
        />
      </label>
      <ErrorNote error={error} />
      <button type="submit" disabled={busy}>
        {busy ? 'Creating…' : 'Create token'}
      </button>
    </form>
  );
}

export function Tokens({ user, admin }: { user: string; admin: boolean }) {
  const list = useLoad(
    () => getJson<{ tokens: TokenRecord[] }>(`/api/v1/users/${encodeURIComponent(user)}/tokens`),
    [user],
  );
  // The secret lives in this state only: leaving the page (or Done) forgets it.
  const [created, setCreated] = useState<Created>();
  const tokens = list.data?.tokens;
  return (
    <section className="card" data-testid="tokens">
      <h2>
        API tokens <button onClick={list.reload}>Refresh</button>
      </h2>
      <p className="muted">For scripts and registry clients; the web UI signs in with the password.</p>
      <LoadNote loaded={list} what="tokens" />
      {created && <NewToken created={created} user={user} onDone={() => setCreated(undefined)} />}
      {tokens?.length === 0 && (
        <p className="muted" data-testid="no-tokens">
          {user} has no API tokens. Create one below for a script or <code>docker login</code>.
        </p>
      )}
      {!!tokens?.length && (
        <div className="table-wrap">
          <table className="stacked" data-testid="token-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Id</th>
                <th>Rights</th>
                <th>Created</th>
                <th>Expires</th>
                <th>Last used</th>
                <th>State</th>
                <th>
                  <span className="sr-only">Revoke</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {tokens.map((t) => {
                const state = tokenState(t);
                return (
                  <tr key={t.id} data-testid="token-row" data-token-id={t.id} data-name={t.name}>
                    <td data-label="Name">{t.name}</td>
                    <td data-label="Id" className="mono">
                      {t.id}
                    </td>
                    <td data-label="Rights">{rightsOf(t)}</td>
                    <td data-label="Created" title={when(t.createdAt)}>
                      {age(t.createdAt)}
                    </td>
                    <td data-label="Expires">
                      {t.expiresAt ? when(t.expiresAt) : <span className="muted">never</span>}
                    </td>
                    <td data-label="Last used">
                      {t.lastUsedAt ? age(t.lastUsedAt) : <span className="muted">never</span>}
                    </td>
                    <td data-label="State" data-testid="token-state">
                      <StateBadge state={state} />
                    </td>
                    <td className="row-actions">
                      {state === 'active' && (
                        <ConfirmButton
                          label="Revoke"
                          ariaLabel={`Revoke token ${t.name}`}
                          question={`Revoke “${t.name}”? What uses it is refused from now on.`}
                          confirmLabel="Revoke token"
                          onConfirm={async () => {
                            await deleteIt(`/api/v1/tokens/${encodeURIComponent(t.id)}`);
                            list.reload();
                          }}
                        />
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <CreateToken
        user={user}
        admin={admin}
        onCreated={(c) => {
          setCreated(c);
          list.reload();
        }}
      />
    </section>
  );
}
