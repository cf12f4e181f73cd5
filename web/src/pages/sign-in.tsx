// The sign-in form shown when the API answers 401. The credentials are checked with one
// signed-in request before they are kept (for this tab's session only).
import { useState, type FormEvent } from 'react';
import { basicHeader, signIn } from '../api/auth';

async function check(header: string): Promise<string | undefined> {
  const res = await fetch('/api/v1/builds?limit=1', {
    credentials: 'omit',
    headers: { authorization: header, accept: 'application/json' },
  });
  if (res.ok) return undefined;
  if (res.status === 401) return 'The user name or password is not valid.';
  const body = (await res.json().catch(() => ({}))) as { error?: { message?: string } };
  return body.error?.message ?? `The server answered ${res.status}.`;
}

export function SignIn() {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [problem, setProblem] = useState<string>();
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setProblem(undefined);
    const header = basicHeader(user, password);
    try {
      const failed = await check(header);
      if (failed) setProblem(failed);
      else signIn(user, header);
    } catch (err) {
      setProblem((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="card form sign-in" onSubmit={(e) => void submit(e)} data-testid="sign-in">
      <h2>Sign in</h2>
      <p className="muted">This registry needs a user name and a password (or an API token).</p>
      <label>
        User name
        <input
          name="user"
          autoComplete="username"
          value={user}
          onChange={(e) => setUser(e.target.value)}
          required
        />
      </label>
      <label>
        Password or token
        <input
          name="password"
          type="password"
          autoComplete="current-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          required
        />
      </label>
      {problem && (
        <p className="error" role="alert">
          {problem}
        </p>
      )}
      <button type="submit" disabled={busy}>
        {busy ? 'Signing in…' : 'Sign in'}
      </button>
    </form>
  );
}
