// The application shell: the navigation, the page for the current path, and the sign-in gate.
// On start one signed-in request tells whether the server wants credentials; any 401 later
// brings the sign-in form back.
import { useEffect, useState } from 'react';
import { signOut, useAuth } from './api/auth';
import { request } from './api/client';
import { BuildView } from './pages/build-view';
import { Builds } from './pages/builds';
import { Dashboard } from './pages/dashboard';
import { ManifestView } from './pages/manifest';
import { Repositories, Repository } from './pages/repositories';
import { Services } from './pages/services';
import { SignIn } from './pages/sign-in';
import { Link, segments, usePath } from './router';

const NAV = [
  { to: '/', label: 'Dashboard' },
  { to: '/repositories', label: 'Repositories' },
  { to: '/builds', label: 'Builds' },
  { to: '/services', label: 'Services' },
];

function Page({ path }: { path: string }) {
  if (path === '/') return <Dashboard />;
  if (path === '/builds') return <Builds />;
  if (path.startsWith('/builds/')) return <BuildView id={segments(path, '/builds/')[0] ?? ''} />;
  if (path === '/services') return <Services />;
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

/** True once the server said whether it wants credentials (a 401 flips the auth state). */
function useSignInProbe(): boolean {
  const [checked, setChecked] = useState(false);
  useEffect(() => {
    request('/api/v1/builds?limit=1')
      .catch(() => undefined) // a 401 flips the auth state; other errors show on the pages
      .finally(() => setChecked(true));
  }, []);
  return checked;
}

export function App() {
  const path = usePath();
  const auth = useAuth();
  const probed = useSignInProbe();
  const current = (to: string) => (to === '/' ? path === '/' : path === to || path.startsWith(`${to}/`));
  return (
    <>
      <header className="top">
        <Link to="/" className="brand">
          OpenCloud Registry
        </Link>
        <nav>
          {NAV.map((n) => (
            <Link key={n.to} to={n.to} className={current(n.to) ? 'active' : undefined}>
              {n.label}
            </Link>
          ))}
        </nav>
        {auth.user && (
          <span className="user">
            {auth.user}{' '}
            <button type="button" className="link" onClick={signOut}>
              sign out
            </button>
          </span>
        )}
      </header>
      <main>{auth.signInNeeded ? <SignIn /> : probed && <Page key={path} path={path} />}</main>
    </>
  );
}
