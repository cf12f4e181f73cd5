// A service's install runs from the ledger (GET /api/v1/services/{name}/runs), newest first:
// what was done, when, how it ended and its recap; "Show" opens the run's steps and output.
import { getJson } from '../api/client';
import { useLoad } from '../api/use-api';
import { LoadNote } from '../components/load-note';
import { StateBadge } from '../components/state-badge';
import { duration, when } from '../format';

interface PastRun {
  id: string;
  action: 'plan' | 'enable' | 'disable';
  status: 'running' | 'ok' | 'failed';
  recap: { ok: number; changed: number; failed: number; skipped: number } | null;
  startedAt: string;
  finishedAt: string | null;
}

const recapLine = (r: PastRun['recap']) =>
  r ? `ok=${r.ok} changed=${r.changed} failed=${r.failed} skipped=${r.skipped}` : '';

/** `version` changes when a new run starts, so the list is read again. */
export function RunHistory({
  service,
  version,
  onShow,
}: {
  service: string;
  version: unknown;
  onShow: (id: string) => void;
}) {
  const runs = useLoad(
    () => getJson<{ runs: PastRun[] }>(`/api/v1/services/${encodeURIComponent(service)}/runs?limit=10`),
    [service, version],
  );
  return (
    <details className="history" data-testid="run-history">
      <summary>Runs</summary>
      <LoadNote loaded={runs} what="runs" />
      {runs.data?.runs.length === 0 && (
        <p className="muted">No run yet: Plan shows what Enable would change.</p>
      )}
      {!!runs.data?.runs.length && (
        <div className="table-wrap">
          <table className="stacked">
            <thead>
              <tr>
                <th>Action</th>
                <th>Outcome</th>
                <th>Started</th>
                <th>Took</th>
                <th>Recap</th>
                <th>
                  <span className="sr-only">Show</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {runs.data.runs.map((r) => (
                <tr key={r.id} data-testid="past-run">
                  <td data-label="Action">{r.action}</td>
                  <td data-label="Outcome">
                    <StateBadge state={r.status} />
                  </td>
                  <td data-label="Started">{when(r.startedAt)}</td>
                  <td data-label="Took">{duration(r.startedAt, r.finishedAt)}</td>
                  <td data-label="Recap" className="mono">
                    {recapLine(r.recap)}
                  </td>
                  <td className="row-actions">
                    <button type="button" className="link" onClick={() => onShow(r.id)}>
                      Show
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </details>
  );
}
