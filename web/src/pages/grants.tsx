// A subject's grants (a user, or "anonymous" for requests without credentials): each repository
// pattern with its actions as checkboxes, saved with PUT /api/v1/users/{name}/grants (an empty
// list removes the grant), and a form that adds one.
import { useState, type FormEvent } from 'react';
import { putJson } from '../api/client';
import { ACTIONS, type Action, type Grant } from '../api/types';
import { ConfirmButton } from '../components/confirm-button';
import { ErrorNote } from '../components/error-note';

const grantsUrl = (subject: string) => `/api/v1/users/${encodeURIComponent(subject)}/grants`;

function ActionBoxes({
  value,
  onChange,
  label,
}: {
  value: Action[];
  onChange: (a: Action[]) => void;
  /** Names the group for screen readers ("actions on team/*"). */
  label: string;
}) {
  const toggle = (a: Action, on: boolean) =>
    onChange(ACTIONS.filter((x) => (x === a ? on : value.includes(x))));
  return (
    <span className="checks" role="group" aria-label={label}>
      {ACTIONS.map((a) => (
        <label key={a} className="inline">
          <input
            type="checkbox"
            name={a}
            checked={value.includes(a)}
            onChange={(e) => toggle(a, e.target.checked)}
          />
          {a}
        </label>
      ))}
    </span>
  );
}

function GrantRow({ subject, grant, onSaved }: { subject: string; grant: Grant; onSaved: () => void }) {
  const [actions, setActions] = useState<Action[]>(grant.actions);
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState(false);
  const changed = actions.join(',') !== grant.actions.join(',');
  const save = async () => {
    setBusy(true);
    setError(undefined);
    setSaved(false);
    try {
      await putJson(grantsUrl(subject), { pattern: grant.pattern, actions });
      setSaved(true);
      onSaved();
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <tr data-testid="grant-row" data-pattern={grant.pattern}>
      <td data-label="Pattern" className="mono">
        {grant.pattern}
      </td>
      <td data-label="Actions">
        <ActionBoxes
          value={actions}
          onChange={(a) => {
            setActions(a);
            setSaved(false);
          }}
          label={`actions on ${grant.pattern}`}
        />
        <ErrorNote error={error} />
      </td>
      <td className="row-actions">
        <button type="button" disabled={!changed || busy || actions.length === 0} onClick={() => void save()}>
          {busy ? 'Saving…' : 'Save'}
        </button>{' '}
        {saved && !changed && (
          <span className="ok" role="status">
            saved
          </span>
        )}{' '}
        <ConfirmButton
          label="Remove"
          ariaLabel={`Remove the grant on ${grant.pattern}`}
          question={`Remove every right on ${grant.pattern}?`}
          confirmLabel="Remove grant"
          onConfirm={async () => {
            await putJson(grantsUrl(subject), { pattern: grant.pattern, actions: [] });
            onSaved();
          }}
        />
      </td>
    </tr>
  );
}

function AddGrant({ subject, onAdded }: { subject: string; onAdded: () => void }) {
  const [pattern, setPattern] = useState('');
  const [actions, setActions] = useState<Action[]>(['pull']);
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    if (actions.length === 0) {
      setError(new Error('Choose at least one action.'));
      return;
    }
    setBusy(true);
    try {
      await putJson(grantsUrl(subject), { pattern: pattern.trim(), actions });
      setPattern('');
      onAdded();
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="form inline-form" onSubmit={(e) => void submit(e)} data-testid="add-grant">
      <label>
        Repository pattern
        <input
          name="pattern"
          placeholder="team/* or team/** or team/app"
          value={pattern}
          onChange={(e) => setPattern(e.target.value)}
          required
        />
      </label>
      <ActionBoxes value={actions} onChange={setActions} label="actions of the new grant" />
      <button type="submit" disabled={busy}>
        {busy ? 'Adding…' : 'Add grant'}
      </button>
      <ErrorNote error={error} />
    </form>
  );
}

export function Grants({
  subject,
  grants,
  onChange,
}: {
  subject: string;
  grants: Grant[];
  onChange: () => void;
}) {
  return (
    <div data-testid="grants">
      {grants.length === 0 ? (
        <p className="muted" data-testid="no-grants">
          No grants yet{subject === 'anonymous' ? ': requests without credentials may do nothing' : ''}. Add
          one below: a repository pattern (<code>team/*</code> is one level, <code>team/**</code> any depth)
          and what may be done there.
        </p>
      ) : (
        <div className="table-wrap">
          <table className="stacked">
            <thead>
              <tr>
                <th>Pattern</th>
                <th>Actions</th>
                <th>
                  <span className="sr-only">Change</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {grants.map((g) => (
                <GrantRow key={g.pattern} subject={subject} grant={g} onSaved={onChange} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <AddGrant subject={subject} onAdded={onChange} />
    </div>
  );
}

/** "pull, push on team/*; pull on **" */
export function grantSummary(grants: Grant[]): string {
  return grants.map((g) => `${g.actions.join(', ')} on ${g.pattern}`).join('; ');
}
