// Change my password: the current one, the new one twice. The server ends every other session
// and registry sign-in made with the old password; API tokens keep working (revoke them below if
// the password leaked with them).
import { useState, type FormEvent } from 'react';
import { changePassword } from '../api/auth';
import { ErrorNote } from '../components/error-note';

export function PasswordForm() {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [again, setAgain] = useState('');
  const [error, setError] = useState<Error>();
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    setDone(false);
    if (next.length < 8) return setError(new Error('The new password needs at least 8 characters.'));
    if (next !== again) return setError(new Error('The two new passwords differ.'));
    setBusy(true);
    try {
      await changePassword(current, next);
      setCurrent('');
      setNext('');
      setAgain('');
      setDone(true);
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="card">
      <form className="form" onSubmit={(e) => void submit(e)} data-testid="password-form">
        <h2>Password</h2>
        <label>
          Current password
          <input
            type="password"
            name="currentPassword"
            autoComplete="current-password"
            value={current}
            onChange={(e) => setCurrent(e.target.value)}
            required
          />
        </label>
        <label>
          New password
          <input
            type="password"
            name="newPassword"
            autoComplete="new-password"
            minLength={8}
            maxLength={1024}
            value={next}
            onChange={(e) => setNext(e.target.value)}
            required
          />
        </label>
        <label>
          New password again
          <input
            type="password"
            name="newPasswordAgain"
            autoComplete="new-password"
            value={again}
            onChange={(e) => setAgain(e.target.value)}
            required
          />
        </label>
        <ErrorNote error={error} />
        {done && (
          <p role="status" data-testid="password-changed">
            Password changed. Other browsers and registry clients signed in with the old one must sign in
            again; API tokens still work.
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? 'Changing…' : 'Change password'}
        </button>
      </form>
    </section>
  );
}
