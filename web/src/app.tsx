// The application shell: the navigation, the page for the current path, and the sign-in gate.
// On start GET /api/v1/session tells whether this tab has a session (or the server needs none);
// any 401 later brings the sign-in form back.
import { useEffect, useState } from 'react';
import { checkSession, signOut, useAuth } from './api/auth';
import { Account } from './pages/account';
import { BuildView } from './pages/build-view';
import { Builds } from './pages/builds';
import { Dashboard } from './pages/dashboard';
import { Images } from './pages/images';
import { ManifestView } from './pages/manifest';
import { Repositories, Repository } from './pages/repositories';
import { Services } from './pages/services';
import { SignIn } from './pages/sign-in';
import { Users, UserView } from './pages/users';
import { PoliciesPage } from './pages/policies';
import { Link, segments, usePath } from './router';

// Pages whose every call needs an admin are not offered to others (the server refuses them anyway).
const NAV = [
  { to: '/', label: 'Dashboard' },
  { to: '/repositories', label: 'Repositories' },
  { to: '/builds', label: 'Builds' },
  { to: '/images', label: 'Images', admin: true },
  { to: '/services', label: 'Services', admin: true },
  { to: '/users', label: 'Users', admin: true },
  { to: '/policies', label: 'Policies', admin: true },
];

function Page({ path }: { path: string }) {
  if (path === '/') return <Dashboard />;
  if (path === '/builds') return <Builds />;
  if (path.startsWith('/builds/')) return <BuildView id={segments(path, '/builds/')[0] ?? ''} />;
  if (path === '/services') return <Services />;
  if (path === '/images') return <Images />;
  if (path === '/users') return <Users />;
  if (path === '/policies') return <PoliciesPage />;
  if (path === '/account') return <Account />;
  if (path.startsWith('/users/')) return <UserView name={segments(path, '/users/')[0] ?? ''} />;
  if (path === '/repositories') return <Repositories />;
  if (path.startsWith('/repositories/')) {
    const parts = segments(path, '/repositories/');
    const cut = parts.indexOf('-');
    if (cut < 0) return <Repository name={parts.join('/')} />;
    return <ManifestView name={parts.slice(0, cut).join('/')} reference={parts.slice(cut + 1).join('/')} />;
  }
  return (
    <section className="card">
      <h2>Not found</h2>
      <p>
        Nothing at {path}. <Link to="/">Back to the dashboard</Link>
      </p>
    </section>
  );
}

/** The page's name, for the tab title and the page's heading. */
function titleOf(path: string): string {
  if (path === '/') return 'Dashboard';
  if (path.startsWith('/repositories/')) {
    const parts = segments(path, '/repositories/');
    const cut = parts.indexOf('-');
    return cut < 0 ? parts.join('/') : `${parts.slice(0, cut).join('/')}:${parts.slice(cut + 1).join('/')}`;
  }
  if (path.startsWith('/builds/')) return `Build ${(segments(path, '/builds/')[0] ?? '').slice(0, 8)}`;
  if (path.startsWith('/users/')) return `User ${segments(path, '/users/')[0] ?? ''}`;
  const nav = NAV.find((n) => n.to === path);
  if (nav) return nav.label;
  return path === '/account' ? 'My account' : 'Not found';
}

/** The signed-in user and the Sign out control (which says so if the server could not end it). */
function UserMenu({ user }: { user: string }) {
  const [problem, setProblem] = useState<string>();
  const [busy, setBusy] = useState(false);
  const leave = () => {
    setBusy(true);
    setProblem(undefined);
    signOut().catch((err: Error) => {
      setProblem(`Not signed out: ${err.message}`);
      setBusy(false);
    });
  };
  return (
    <span className="user" data-testid="user">
      <Link to="/account">{user}</Link>{' '}
      <button type="button" className="link" onClick={leave} disabled={busy}>
        Sign out
      </button>
      {problem && (
        <span className="error" role="alert">
          {' '}
          {problem}
        </span>
      )}
    </span>
  );
}

export function App() {
  const path = usePath();
  const auth = useAuth();
  useEffect(() => {
    void checkSession();
  }, []);
  const title = auth.signInNeeded ? 'Sign in' : titleOf(path);
  useEffect(() => {
    document.title = `${title} · OpenCloud Registry`;
  }, [title]);
  const current = (to: string) => (to === '/' ? path === '/' : path === to || path.startsWith(`${to}/`));
  return (
    <>
      <header className="top">
        <Link to="/" className="brand">
          OpenCloud Registry
        </Link>
        <nav>
          {NAV.filter((n) => !n.admin || auth.admin).map((n) => (
            <Link key={n.to} to={n.to} className={current(n.to) ? 'active' : undefined}>
              {n.label}
            </Link>
          ))}
        </nav>
        {auth.user && <UserMenu user={auth.user} />}
      </header>
      <main>
        {/* The page's level-1 heading for assistive technology; each card keeps its own visible h2. */}
        <h1 className="sr-only">{title}</h1>
        {auth.signInNeeded ? (
          <SignIn expired={auth.expired} />
        ) : (
          auth.checked && <Page key={path} path={path} />
        )}
      </main>
    </>
  );
}
