// The first page: what this server is (version, sockets from /api/v1/system/info), whether
// containerd, BuildKit and the data dir answer (/api/v1/system/doctor, admins only), the storage
// the registry uses and its latest pushes (/api/v1/registry/summary: for a user who is not an
// admin, of the repositories they may pull), how its services stand (/api/v1/services, admins
// only) and the latest builds (/api/v1/builds).
import { useAuth } from '../api/auth';
import { getJson } from '../api/client';
import type { BuildRecord, DoctorReport, RegistrySummary, ServiceSummary, SystemInfo } from '../api/types';
import { useLoad, type Loaded } from '../api/use-api';
import { ErrorNote } from '../components/error-note';
import { LoadNote } from '../components/load-note';
import { StateBadge } from '../components/state-badge';
import { age, bytes, shortDigest, when } from '../format';
import { Link, repoPath } from '../router';

/** The doctor's checks the dashboard shows, in this order, with their display names. */
const HEALTH_CHECKS: [string, string][] = [
  ['containerd', 'containerd'],
  ['buildkit', 'BuildKit'],
  ['data-dir', 'Storage (data dir)'],
];

function Info() {
  const info = useLoad(() => getJson<SystemInfo>('/api/v1/system/info'), []);
  const d = info.data;
  return (
    <section className="card">
      <h2>Server</h2>
      <LoadNote loaded={info} what="version information" />
      {d && (
        <dl className="facts">
          <dt>Version</dt>
          <dd data-testid="version">{d.version}</dd>
          <dt>Node.js</dt>
          <dd>{d.node}</dd>
          <dt>BuildKit</dt>
          <dd>{d.buildkitVersion}</dd>
          {d.sockets && (
            <>
              <dt>Listening</dt>
              <dd>{d.listen}</dd>
              <dt>Data dir</dt>
              <dd>{d.dataDir}</dd>
              <dt>containerd socket</dt>
              <dd>{d.sockets.containerd}</dd>
              <dt>buildkitd socket</dt>
              <dd>{d.sockets.buildkit}</dd>
            </>
          )}
        </dl>
      )}
    </section>
  );
}

function Health({ report }: { report: Loaded<DoctorReport | undefined> }) {
  return (
    <section className="card" data-testid="health">
      <h2>
        Health{' '}
        <button type="button" className="secondary" onClick={report.reload} disabled={report.loading}>
          {report.loading ? 'Checking…' : 'Check again'}
        </button>
      </h2>
      <ErrorNote error={report.error} />
      {!report.data && report.loading && <p className="muted">Asking the daemons…</p>}
      {report.data && (
        <dl className="facts">
          {HEALTH_CHECKS.map(([name, label]) => {
            const c = report.data?.checks.find((x) => x.name === name);
            if (!c) return null;
            return (
              <div key={name} className="fact" data-testid={`health-${name}`} data-status={c.status}>
                <dt>{label}</dt>
                <dd>
                  <StateBadge state={c.status} /> <span data-testid="health-message">{c.message}</span>
                  {c.fix && <div className="muted">Fix: {c.fix}</div>}
                </dd>
              </div>
            );
          })}
        </dl>
      )}
    </section>
  );
}

/** For a user who is not an admin: the daemons' health is an admin's (the doctor reveals the host). */
function HealthForAdmins() {
  return (
    <section className="card" data-testid="health">
      <h2>Health</h2>
      <p className="muted" data-testid="health-admin-only">
        containerd and BuildKit health is shown to admins. Builds report a daemon that does not answer when
        they start.
      </p>
    </section>
  );
}

function Storage({ summary }: { summary: Loaded<RegistrySummary> }) {
  const d = summary.data;
  const count = (label: string, id: string, value: number, title?: string) => (
    <div>
      <dt>{label}</dt>
      <dd data-testid={id} data-value={value} title={title}>
        {id === 'summary-blob-bytes' ? bytes(value) : value.toLocaleString('en')}
      </dd>
    </div>
  );
  return (
    <section className="card" data-testid="registry-summary">
      <h2>
        <Link to="/repositories">Storage used</Link>
      </h2>
      <LoadNote loaded={summary} what="storage" />
      {d && (
        <>
          <dl className="counts">
            {count(
              'Blob bytes',
              'summary-blob-bytes',
              d.blobBytes,
              `${d.blobBytes.toLocaleString('en')} bytes`,
            )}
            {count('Blobs', 'summary-blobs', d.blobs)}
            {count('Repositories', 'summary-repositories', d.repositories)}
            {count('Manifests', 'summary-manifests', d.manifests)}
            {count('Tags', 'summary-tags', d.tags)}
          </dl>
          {d.scope === 'visible' && (
            <p className="muted" data-testid="summary-scope">
              Of the repositories you may pull.
            </p>
          )}
        </>
      )}
    </section>
  );
}

function RecentPushes({ summary }: { summary: Loaded<RegistrySummary> }) {
  const pushes = summary.data?.recentPushes;
  return (
    <section className="card" data-testid="recent-pushes">
      <h2>
        <Link to="/repositories">Recent pushes</Link>
      </h2>
      {pushes?.length === 0 && (
        <p className="muted empty">
          Nothing pushed yet. Push an image (<code>docker push {location.host}/name:tag</code>) or{' '}
          <Link to="/builds">start a build</Link>.
        </p>
      )}
      <ul className="plain">
        {pushes?.map((p) => (
          <li
            key={`${p.repository}:${p.tag}`}
            data-testid="recent-push"
            data-repository={p.repository}
            data-tag={p.tag}
          >
            <Link to={`/repositories/${repoPath(p.repository)}/-/${encodeURIComponent(p.tag)}`}>
              {p.repository}:{p.tag}
            </Link>{' '}
            <span className="mono muted" data-testid="recent-push-digest">
              {shortDigest(p.digest)}
            </span>{' '}
            <span className="muted" title={when(p.at)} data-testid="recent-push-at" data-at={p.at}>
              {age(p.at)}
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}

/** Whether the doctor found both daemons answering (whoever installed them). */
const runtimeAnswers = (report: DoctorReport | undefined) =>
  !!report &&
  ['containerd', 'buildkit'].every((n) => report.checks.find((c) => c.name === n)?.status === 'ok');

function Services({ doctor }: { doctor: DoctorReport | undefined }) {
  const services = useLoad(() => getJson<ServiceSummary[]>('/api/v1/services'), []);
  return (
    <section className="card">
      <h2>
        <Link to="/services">Services</Link>
      </h2>
      <LoadNote loaded={services} what="services" />
      <ul className="plain">
        {services.data?.map((s) => (
          <li key={s.name} data-testid="dashboard-service">
            {s.name} <StateBadge state={s.state} />
            {s.name === 'container-registry' && s.state !== 'enabled' && runtimeAnswers(doctor) && (
              <div className="muted" data-testid="runtime-elsewhere">
                containerd and BuildKit answer, installed by other means: builds work; enabling the service
                would let OpenCloud manage them.
              </div>
            )}
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
      <LoadNote loaded={builds} what="recent builds" />
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
  const { admin } = useAuth();
  const summary = useLoad(() => getJson<RegistrySummary>('/api/v1/registry/summary'), []);
  // The doctor's report, asked once for the two cards that show it, and only by admins.
  const doctor = useLoad(
    () => (admin ? getJson<DoctorReport>('/api/v1/system/doctor') : Promise.resolve(undefined)),
    [admin],
  );
  return (
    <div className="grid" data-testid="dashboard">
      {admin ? <Health report={doctor} /> : <HealthForAdmins />}
      <Storage summary={summary} />
      <RecentPushes summary={summary} />
      <RecentBuilds />
      {admin && <Services doctor={doctor.data} />}
      <Info />
    </div>
  );
}
