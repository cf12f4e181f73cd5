// My account: what every signed-in user can reach without an admin — who they are, what their
// grants let them do, the `docker login` line for this registry, their password (change it), and
// their own API tokens (create within their rights, shown once; revoke). Tokens are what registry clients and scripts sign in with.
import { useAuth } from '../api/auth';
import { CopyLine } from '../components/copy-line';
import { StateBadge } from '../components/state-badge';
import { grantSummary } from './grants';
import { PasswordForm } from './password-form';
import { Tokens } from './tokens';

export function Account() {
  const auth = useAuth();
  if (!auth.user) {
    return (
      <section className="card">
        <h2>My account</h2>
        <p>This server has no users yet: everything is open, and there is no account to show.</p>
      </section>
    );
  }
  return (
    <div className="stack" data-testid="account">
      <section className="card">
        <h2>
          {auth.user} <StateBadge state={auth.admin ? 'admin' : 'user'} />
        </h2>
        <p data-testid="account-grants">
          {auth.admin
            ? 'An admin may do everything.'
            : auth.grants.length
              ? `You may: ${grantSummary(auth.grants)}.`
              : 'You have no grants yet: ask an admin for some.'}
        </p>
        <h3>Sign in a registry client</h3>
        <p className="muted">Create a token below and give it as the password:</p>
        <CopyLine text={`docker login ${location.host} -u ${auth.user}`} />
      </section>
      <PasswordForm />
      <Tokens user={auth.user} admin={auth.admin} />
    </div>
  );
}
