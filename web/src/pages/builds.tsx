// The builds page: the form for a new build and the history (GET /api/v1/builds), newest first.
import { getJson } from '../api/client';
import type { BuildRecord } from '../api/types';
import { useLoad } from '../api/use-api';
import { ErrorNote } from '../components/error-note';
import { StateBadge } from '../components/state-badge';
import { duration, when } from '../format';
import { Link } from '../router';
import { BuildForm } from './build-form';

function History() {
  const list = useLoad(() => getJson<{ builds: BuildRecord[] }>('/api/v1/builds?limit=50'), []);
  return (
    <section className="card">
      <h2>
        History <button onClick={list.reload}>Refresh</button>
      </h2>
      <ErrorNote error={list.error} />
      {list.data?.builds.length === 0 && <p className="muted">No builds yet.</p>}
      {!!list.data?.builds.length && (
        <table data-testid="build-history">
          <thead>
            <tr>
              <th>Image</th>
              <th>State</th>
              <th>Created</th>
              <th>Took</th>
            </tr>
          </thead>
          <tbody>
            {list.data.builds.map((b) => (
              <tr key={b.id}>
                <td>
                  <Link to={`/builds/${b.id}`}>
                    {b.definition.repository}:{b.definition.tags.join(',')}
                  </Link>
                </td>
                <td>
                  <StateBadge state={b.state} />
                </td>
                <td>{when(b.createdAt)}</td>
                <td>{duration(b.startedAt, b.finishedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function Builds() {
  return (
    <div className="stack">
      <BuildForm />
      <History />
    </div>
  );
}
