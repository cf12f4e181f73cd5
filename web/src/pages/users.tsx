// Users and what they may do, for admins (GET /api/v1/users): the list with each user's grants,
// adding a user (a password left empty is generated and shown once), deleting one (asked
// twice), the grants of requests without credentials; and one user's page with their grants and
// API tokens. While the server has no user at all everything is open: the first user added
// turns sign-in on, and the page says so.
import { useState, type FormEvent } from 'react';
import { checkSession, useAuth } from '../api/auth';
import { deleteIt, getJson, postJson } from '../api/client';
import type { Grant, UserRecord } from '../api/types';
import { useLoad } from '../api/use-api';
import { ConfirmButton } from '../components/confirm-button';
import { CopyLine } from '../components/copy-line';
import { ErrorNote } from '../components/error-note';
import { LoadNote } from '../components/load-note';
import { StateBadge } from '../components/state-badge';
import { age, when } from '../format';
import { Link } from '../router';
import { grantSummary, Grants } from './grants';
import { Tokens } from './tokens';

interface UsersAnswer {
  users: UserRecord[];
  anonymous: Grant[];
}

const loadUsers = () => getJson<UsersAnswer>('/api/v1/users');
const userPath = (name: string) => `/users/${encodeURIComponent(name)}`;

function AddUser({ first, onAdded }: { first: boolean; onAdded: () => void }) {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [admin, setAdmin] = useState(first);
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);
  const [added, setAdded] = useState<{ name: string; password?: string }>();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    setAdded(undefined);
    setBusy(true);
    try {
      const body = { name: name.trim(), admin, ...(password ? { password } : {}) };
      const r = await postJson<{ name: string; password?: string }>('/api/v1/users', body);
      setAdded(r);
      setName('');
      setPassword('');
      setAdmin(false);
      // The first user turns sign-in on: a reload would answer 401 and swap this page for the
      // sign-in form before a generated password could be copied. The user goes on when ready.
      if (!first) onAdded();
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="card form" onSubmit={(e) => void submit(e)} data-testid="add-user">
      <h2>Add a user</h2>
      {first && (
        <p className="muted">
          The first user should be an admin: once a user exists, this server asks everyone to sign in.
        </p>
      )}
      <label>
        User name
        <input
          name="newUser"
          autoComplete="off"
          placeholder="lowercase letters, digits, . _ -"
          value={name}
          onChange={(e) => setName(e.target.value)}
          required
        />
      </label>
      <label>
        Password
        <input
          name="newPassword"
          type="password"
          autoComplete="new-password"
          placeholder="at least 8 characters; empty: generate one"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
      </label>
      <label className="inline">
        <input type="checkbox" name="admin" checked={admin} onChange={(e) => setAdmin(e.target.checked)} />
        Admin (may do everything, including managing users)
      </label>
      <ErrorNote error={error} />
      {added && (
        <div className="once" role="status" data-testid="user-added">
          <p>
            <strong>User {added.name} added.</strong>{' '}
            {added.password ? 'Their generated password, shown only now:' : ''}
          </p>
          {added.password && <CopyLine text={added.password} />}
          {first ? (
            <p>
              Sign-in is on now.{' '}
              <button type="button" onClick={() => void checkSession()}>
                Sign in as {added.name}
              </button>
            </p>
          ) : (
            <p>
              <Link to={userPath(added.name)}>Give {added.name} grants or an API token</Link>
            </p>
          )}
        </div>
      )}
      <button type="submit" disabled={busy}>
        {busy ? 'Adding…' : 'Add user'}
      </button>
    </form>
  );
}

export function Users() {
  const auth = useAuth();
  const list = useLoad(loadUsers, []);
  const users = list.data?.users;
  return (
    <div className="stack" data-testid="users-page">
      <section className="card">
        <h2>
          Users <button onClick={list.reload}>Refresh</button>
        </h2>
        <LoadNote loaded={list} what="users" />
        {users?.length === 0 && (
          <p className="muted" data-testid="no-users">
            No users yet, so sign-in is off: anyone who reaches this server may do everything. Add the first
            user below, an admin, to turn it on.
          </p>
        )}
        {!!users?.length && (
          <div className="table-wrap">
            <table className="stacked" data-testid="user-table">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Role</th>
                  <th>Grants</th>
                  <th>Added</th>
                  <th>
                    <span className="sr-only">Delete</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {users.map((u) => (
                  <tr key={u.name} data-testid="user-row" data-name={u.name}>
                    <td data-label="Name">
                      <Link to={userPath(u.name)}>{u.name}</Link>
                      {u.name === auth.user && <span className="muted"> (you)</span>}
                    </td>
                    <td data-label="Role">
                      <StateBadge state={u.admin ? 'admin' : 'user'} />
                    </td>
                    <td data-label="Grants" data-testid="user-grants">
                      {u.admin ? (
                        <span className="muted">everything</span>
                      ) : u.grants.length ? (
                        grantSummary(u.grants)
                      ) : (
                        <span className="muted">
                          none: <Link to={userPath(u.name)}>add a grant</Link>
                        </span>
                      )}
                    </td>
                    <td data-label="Added" title={when(u.createdAt)}>
                      {age(u.createdAt)}
                    </td>
                    <td className="row-actions">
                      {u.name !== auth.user && (
                        <ConfirmButton
                          label="Delete"
                          ariaLabel={`Delete user ${u.name}`}
                          question={`Delete ${u.name}, their grants and their API tokens?`}
                          confirmLabel="Delete user"
                          onConfirm={async () => {
                            await deleteIt(`/api/v1/users/${encodeURIComponent(u.name)}`);
                            list.reload();
                          }}
                        />
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      {users && <AddUser first={users.length === 0} onAdded={list.reload} />}
      {list.data && (
        <section className="card" data-testid="anonymous">
          <h2>Without credentials</h2>
          <p className="muted">What a request that does not sign in may do (once users exist).</p>
          <Grants subject="anonymous" grants={list.data.anonymous} onChange={list.reload} />
        </section>
      )}
    </div>
  );
}

export function UserView({ name }: { name: string }) {
  const list = useLoad(loadUsers, []);
  const user = list.data?.users.find((u) => u.name === name);
  return (
    <div className="stack" data-testid="user-view">
      <section className="card">
        <p className="crumbs">
          <Link to="/users">Users</Link> / {name}
        </p>
        <h2>
          {name} {user && <StateBadge state={user.admin ? 'admin' : 'user'} />}
        </h2>
        <LoadNote loaded={list} what="users" />
        {list.data && !user && (
          <p className="error" role="alert">
            There is no user {name}. <Link to="/users">Back to the users</Link>
          </p>
        )}
        {user && (
          <>
            <h3>Grants</h3>
            {user.admin && <p className="muted">An admin may do everything: grants add nothing to that.</p>}
            <Grants subject={user.name} grants={user.grants} onChange={list.reload} />
          </>
        )}
      </section>
      {user && <Tokens user={user.name} admin={user.admin} />}
    </div>
  );
}
