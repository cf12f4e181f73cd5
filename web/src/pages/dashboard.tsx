// The first page: what this server is (version, sockets from /api/v1/system/info), how its
// services stand (/api/v1/services) and the latest builds (/api/v1/builds).
import { getJson } from '../api/client';
import type { BuildRecord, ServiceSummary, SystemInfo } from '../api/types';
import { useLoad } from '../api/use-api';
import { ErrorNote } from '../components/error-note';
import { StateBadge } from '../components/state-badge';
import { when } from '../format';
import { Link } from '../router';

function Info() {
  const info = useLoad(() => getJson<SystemInfo>('/api/v1/system/info'), []);
  const d = info.data;
  return (
    <section className="card">
      <h2>Server</h2>
      <ErrorNote error={info.error} />
      {d && (
        <dl className="facts">
          <dt>Version</dt>
          <dd data-testid="version">{d.version}</dd>
          <dt>Node.js</dt>
          <dd>{d.node}</dd>
          <dt>BuildKit</dt>
          <dd>{d.buildkitVersion}</dd>
          <dt>Listening</dt>
          <dd>{d.listen}</dd>
          <dt>Data dir</dt>
          <dd>{d.dataDir}</dd>
          <dt>containerd socket</dt>
          <dd>{d.sockets.containerd}</dd>
          <dt>buildkitd socket</dt>
          <dd>{d.sockets.buildkit}</dd>
        </dl>
      )}
    </section>
  );
}

function Services() {
  const services = useLoad(() => getJson<ServiceSummary[]>('/api/v1/services'), []);
  return (
    <section className="card">
      <h2>
        <Link to="/services">Services</Link>
      </h2>
      <ErrorNote error={services.error} />
      <ul className="plain">
        {services.data?.map((s) => (
          <li key={s.name} data-testid="dashboard-service">
            {s.name} <StateBadge state={s.state} />
          </li>
        ))}
      </ul>
    </section>
  );
}

function RecentBuilds() {
  const builds = useLoad(() => getJson<{ builds: BuildRecord[] }>('/api/v1/builds?limit=5'), []);
  return (
    <section className="card">
      <h2>
        <Link to="/builds">Recent builds</Link>
      </h2>
      <ErrorNote error={builds.error} />
      {builds.data?.builds.length === 0 && <p className="muted">No builds yet.</p>}
      <ul className="plain">
        {builds.data?.builds.map((b) => (
          <li key={b.id}>
            <Link to={`/builds/${b.id}`}>
              {b.definition.repository}:{b.definition.tags.join(',')}
            </Link>{' '}
            <StateBadge state={b.state} /> <span className="muted">{when(b.createdAt)}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}

export function Dashboard() {
  return (
    <div className="grid" data-testid="dashboard">
      <Info />
      <Services />
      <RecentBuilds />
    </div>
  );
}
