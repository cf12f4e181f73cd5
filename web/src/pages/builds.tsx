// The builds page: the form for a new build and the history (GET /api/v1/builds), newest first,
// filtered by state and repository (kept in the page's URL), a page at a time ("Older" follows the
// server's cursor).
import { useEffect, useState } from 'react';
import { getJson } from '../api/client';
import type { BuildRecord, BuildState } from '../api/types';
import { useLoad } from '../api/use-api';
import { LoadNote } from '../components/load-note';
import { StateBadge } from '../components/state-badge';
import { duration, when } from '../format';
import { Link } from '../router';
import { mayAnywhere, useAuth } from '../api/auth';
import { BuildForm } from './build-form';

const PAGE = 25;
const STATE_FILTERS: { label: string; states: BuildState[] }[] = [
  { label: 'All states', states: [] },
  { label: 'Queued or running', states: ['queued', 'running'] },
  { label: 'Succeeded', states: ['succeeded'] },
  { label: 'Failed', states: ['failed'] },
  { label: 'Canceled', states: ['canceled'] },
];

/** The history query for a filter and a cursor. */
export function historyPath(states: BuildState[], repository: string, before?: string): string {
  const q = new URLSearchParams({ limit: String(PAGE) });
  if (states.length > 0) q.set('state', states.join(','));
  if (repository.trim()) q.set('repository', repository.trim());
  if (before) q.set('before', before);
  return `/api/v1/builds?${q.toString()}`;
}

/** The filter the page's URL names (?state=failed&repository=team/app), so it survives a reload or a link. */
function filterInUrl(): { filter: number; repository: string } {
  const q = new URLSearchParams(location.search);
  const states = q.get('state') ?? '';
  return {
    filter: Math.max(
      0,
      STATE_FILTERS.findIndex((f) => f.states.join(',') === states),
    ),
    repository: q.get('repository') ?? '',
  };
}

function keepInUrl(filter: number, repository: string): void {
  const q = new URLSearchParams();
  const states = STATE_FILTERS[filter]?.states ?? [];
  if (states.length) q.set('state', states.join(','));
  if (repository.trim()) q.set('repository', repository.trim());
  const search = q.toString();
  history.replaceState(null, '', `${location.pathname}${search ? `?${search}` : ''}`);
}

function History() {
  const [initial] = useState(filterInUrl);
  const [filter, setFilter] = useState(initial.filter);
  const [repository, setRepository] = useState(initial.repository);
  const [applied, setApplied] = useState(initial.repository);
  useEffect(() => keepInUrl(filter, applied), [filter, applied]);
  const [cursors, setCursors] = useState<string[]>([]); // the `before` of each page shown after the first
  const states = STATE_FILTERS[filter]?.states ?? [];
  const before = cursors.at(-1);
  const list = useLoad(
    () => getJson<{ builds: BuildRecord[]; next: string | null }>(historyPath(states, applied, before)),
    [filter, applied, before],
  );
  const restart = () => setCursors([]);
  return (
    <section className="card">
      <h2>
        History <button onClick={list.reload}>Refresh</button>
      </h2>
      <form
        className="filters"
        data-testid="build-filters"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied(repository);
          restart();
        }}
      >
        <select
          name="state"
          aria-label="Show states"
          value={filter}
          onChange={(e) => {
            setFilter(Number(e.target.value));
            restart();
          }}
        >
          {STATE_FILTERS.map((f, i) => (
            <option key={f.label} value={i}>
              {f.label}
            </option>
          ))}
        </select>
        <input
          name="repository"
          aria-label="Show builds of"
          placeholder="repository, e.g. team/app"
          value={repository}
          onChange={(e) => setRepository(e.target.value)}
        />
        <button type="submit">Filter</button>
      </form>
      <LoadNote loaded={list} what="builds" />
      {list.data?.builds.length === 0 && (
        <p className="muted">{states.length || applied ? 'No build matches.' : 'No builds yet.'}</p>
      )}
      {!!list.data?.builds.length && (
        <table className="stacked" data-testid="build-history">
          <thead>
            <tr>
              <th>Image</th>
              <th>State</th>
              <th>Created</th>
              <th>Took</th>
              <th>Worker</th>
            </tr>
          </thead>
          <tbody>
            {list.data.builds.map((b) => (
              <tr key={b.id}>
                <td data-label="Image">
                  <Link to={`/builds/${b.id}`}>
                    {b.definition.repository}:{b.definition.tags.join(',')}
                  </Link>
                </td>
                <td data-label="State">
                  <StateBadge state={b.state} />
                </td>
                <td data-label="Created">{when(b.createdAt)}</td>
                <td data-label="Took">{duration(b.startedAt, b.finishedAt)}</td>
                <td data-label="Worker" className="mono muted">
                  {b.worker ?? ''}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <p className="pager">
        {cursors.length > 0 && (
          <button type="button" onClick={() => setCursors(cursors.slice(0, -1))}>
            Newer
          </button>
        )}
        {list.data?.next && (
          <button type="button" onClick={() => setCursors([...cursors, list.data!.next!])}>
            Older
          </button>
        )}
      </p>
    </section>
  );
}

export function Builds() {
  // The form only for users who may build somewhere; everyone sees the builds they may read.
  const canBuild = mayAnywhere(useAuth(), 'build');
  return (
    <div className="stack">
      {canBuild && <BuildForm />}
      <History />
    </div>
  );
}
