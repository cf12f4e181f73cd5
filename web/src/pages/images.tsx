// containerd's images (GET /api/v1/images: every configured namespace, BuildKit's builds in
// "buildkit") with their real sizes, filtered as you type; and BuildKit's build cache
// (GET /api/v1/builder/disk-usage) with a prune asked twice (POST /api/v1/builder/prune, admins).
import { useState, type FormEvent } from 'react';
import { useAuth } from '../api/auth';
import { getJson, postJson } from '../api/client';
import type { CacheUsage, ContainerdImage } from '../api/types';
import { useLoad } from '../api/use-api';
import { ConfirmButton } from '../components/confirm-button';
import { LoadNote } from '../components/load-note';
import { age, bytes, shortDigest } from '../format';
import { Link } from '../router';

function ImageList() {
  const list = useLoad(() => getJson<ContainerdImage[]>('/api/v1/images'), []);
  const [filter, setFilter] = useState('');
  const needle = filter.trim().toLowerCase();
  const shown = list.data?.filter((i) => `${i.namespace}/${i.name}`.toLowerCase().includes(needle));
  return (
    <section className="card" data-testid="images">
      <h2>
        Images in containerd <button onClick={list.reload}>Refresh</button>
      </h2>
      <LoadNote loaded={list} what="images" />
      {list.data?.length === 0 && (
        <p className="muted" data-testid="empty">
          containerd holds no images in the namespaces this server reads. A build stores its image here (in
          the “buildkit” namespace): <Link to="/builds">start a build</Link>.
        </p>
      )}
      {!!list.data?.length && (
        <label className="search">
          Search
          <input
            type="search"
            name="search"
            placeholder="name or namespace"
            value={filter}
            onChange={(e) => setFilter(e.target.value)}
          />
        </label>
      )}
      {!!list.data?.length && shown?.length === 0 && (
        <p className="muted">
          No image matches “{filter}”. Clear the search to see all {list.data.length}.
        </p>
      )}
      {!!shown?.length && (
        <div className="table-wrap">
          <table className="stacked" data-testid="image-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Namespace</th>
                <th>Digest</th>
                <th>Platforms</th>
                <th>Size</th>
                <th>Created</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((i) => (
                <tr key={`${i.namespace}/${i.name}`} data-testid="image-row" data-name={i.name}>
                  <td className="mono name" data-label="Name" data-testid="image-name">
                    {i.name}
                  </td>
                  <td data-label="Namespace">{i.namespace}</td>
                  <td
                    className="mono"
                    data-label="Digest"
                    data-testid="image-digest"
                    data-digest={i.digest}
                    title={i.digest}
                  >
                    {shortDigest(i.digest)}
                  </td>
                  <td data-label="Platforms">
                    {i.platforms.map((p) => p.platform).join(', ') || <span className="muted">—</span>}
                  </td>
                  <td data-label="Size" data-testid="image-size">
                    {i.size === null ? <span className="muted">unknown</span> : bytes(i.size)}
                  </td>
                  <td data-label="Created" title={i.createdAt ?? undefined}>
                    {age(i.createdAt)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

const HOUR = 3600;
const MAX_KEEP_HOURS = 10 * 365 * 24;

/** The prune options as the API takes them; empty fields are left out. */
function pruneBody(all: boolean, keepHours: string, keepMiB: string): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  if (all) body.all = true;
  if (keepHours.trim()) {
    const h = Number(keepHours);
    if (!Number.isFinite(h) || h < 0 || h > MAX_KEEP_HOURS)
      throw new Error(`“keep what was used within” takes 0 to ${MAX_KEEP_HOURS} hours`);
    body.keepDuration = Math.round(h * HOUR);
  }
  if (keepMiB.trim()) {
    const m = Number(keepMiB);
    if (!Number.isFinite(m) || m < 0) throw new Error('“keep at most” takes a number of MiB, 0 or more');
    body.keepBytes = Math.round(m * 1024 * 1024);
  }
  return body;
}

function BuilderCache() {
  const auth = useAuth();
  const usage = useLoad(() => getJson<CacheUsage>('/api/v1/builder/disk-usage'), []);
  const [all, setAll] = useState(false);
  const [keepHours, setKeepHours] = useState('');
  const [keepMiB, setKeepMiB] = useState('');
  const [result, setResult] = useState<{ reclaimed: number; records: number }>();
  const u = usage.data;
  const biggest = u ? [...u.records].sort((a, b) => b.size - a.size).slice(0, 10) : [];

  const prune = async () => {
    setResult(undefined);
    const r = await postJson<{ reclaimed: number; records: number }>(
      '/api/v1/builder/prune',
      pruneBody(all, keepHours, keepMiB),
    );
    setResult(r);
    usage.reload();
  };
  const noSubmit = (e: FormEvent) => e.preventDefault();

  return (
    <section className="card" data-testid="builder-cache">
      <h2>
        Builder cache <button onClick={usage.reload}>Refresh</button>
      </h2>
      <LoadNote loaded={usage} what="the build cache" />
      {u && (
        <dl className="facts">
          <dt>Total</dt>
          <dd data-testid="cache-total">{bytes(u.totalSize)}</dd>
          <dt>Reclaimable</dt>
          <dd data-testid="cache-reclaimable">{bytes(u.reclaimable)}</dd>
          <dt>Shared</dt>
          <dd>{bytes(u.shared)}</dd>
          <dt>Records</dt>
          <dd data-testid="cache-records">{u.records.length}</dd>
        </dl>
      )}
      {u && u.records.length === 0 && (
        <p className="muted">The build cache is empty: builds fill it, and reuse what they can.</p>
      )}
      {biggest.length > 0 && (
        <details>
          <summary>The largest records</summary>
          <div className="table-wrap">
            <table className="stacked">
              <thead>
                <tr>
                  <th>Description</th>
                  <th>Type</th>
                  <th>Size</th>
                  <th>Last used</th>
                </tr>
              </thead>
              <tbody>
                {biggest.map((r) => (
                  <tr key={r.id}>
                    <td data-label="Record" className="mono name">
                      {r.description || r.id}
                      {r.inUse && <span className="muted"> (in use)</span>}
                    </td>
                    <td data-label="Type">{r.recordType}</td>
                    <td data-label="Size">{bytes(r.size)}</td>
                    <td data-label="Last used">{age(r.lastUsedAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </details>
      )}
      {auth.admin ? (
        <form className="form prune" onSubmit={noSubmit} data-testid="prune-form">
          <fieldset className="options">
            <legend>Prune</legend>
            <label>
              Keep what was used within (hours)
              <input
                name="keepHours"
                inputMode="decimal"
                placeholder="e.g. 48"
                value={keepHours}
                onChange={(e) => setKeepHours(e.target.value)}
              />
            </label>
            <label>
              Keep at most (MiB)
              <input
                name="keepMiB"
                inputMode="decimal"
                placeholder="e.g. 2048"
                value={keepMiB}
                onChange={(e) => setKeepMiB(e.target.value)}
              />
            </label>
            <label className="inline">
              <input type="checkbox" name="all" checked={all} onChange={(e) => setAll(e.target.checked)} />
              Also internal and frontend records
            </label>
          </fieldset>
          <div className="actions">
            <ConfirmButton
              label="Prune…"
              question={
                keepHours.trim() || keepMiB.trim()
                  ? 'Prune the build cache beyond what you keep? Later builds redo what they no longer find.'
                  : 'Prune every unused build cache record? Later builds start from scratch.'
              }
              confirmLabel="Prune"
              onConfirm={prune}
            />
          </div>
          {result && (
            <p className="ok" role="status" data-testid="prune-result">
              Reclaimed {bytes(result.reclaimed)} from {result.records}{' '}
              {result.records === 1 ? 'record' : 'records'}.
            </p>
          )}
        </form>
      ) : (
        <p className="muted">Pruning the cache needs an admin.</p>
      )}
    </section>
  );
}

export function Images() {
  return (
    <div className="stack">
      <ImageList />
      <BuilderCache />
    </div>
  );
}
