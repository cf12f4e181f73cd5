// The sign-in form shown when the server wants a session: the user name and password go once to
// POST /api/v1/session, which answers with the session cookie; nothing of them is kept.
import { useState, type FormEvent } from 'react';
import { signIn } from '../api/auth';

export function SignIn({ expired }: { expired: boolean }) {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [problem, setProblem] = useState<string>();
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setProblem(undefined);
    try {
      await signIn(user, password);
    } catch (err) {
      setProblem((err as Error).message);
      setPassword('');
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="card form sign-in" onSubmit={(e) => void submit(e)} data-testid="sign-in">
      <h2>Sign in</h2>
      <p className="muted">
        {expired
          ? 'Your session has ended: sign in again.'
          : 'This registry needs a user name and a password. (API tokens are for scripts and registry clients.)'}
      </p>
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
        Password
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
