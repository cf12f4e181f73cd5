// The registry's repositories (/v2/_catalog, filtered as you type) and one repository's tags, a
// page at a time from GET /api/v1/registry/tags (one request: sorted, filtered and paged by the
// server), each with its digest, size (an index: its platforms'), push time, referrers as badges,
// pull commands to copy, a link to the manifest view and a delete asked twice (DELETE
// /v2/<name>/manifests/<tag> removes only the tag).
import { useEffect, useState } from 'react';
import { catalog, deleteManifest, tagPage, type TagOrder, type TagRow } from '../api/registry';
import { useLoad } from '../api/use-api';
import { ConfirmButton } from '../components/confirm-button';
import { CopyLine } from '../components/copy-line';
import { LoadNote } from '../components/load-note';
import { age, bytes, shortDigest } from '../format';
import { Link, repoPath } from '../router';

export function Repositories() {
  const list = useLoad(catalog, []);
  const [filter, setFilter] = useState('');
  const shown = list.data?.filter((n) => n.includes(filter.trim().toLowerCase()));
  return (
    <section className="card">
      <h2>
        Repositories <button onClick={list.reload}>Refresh</button>
      </h2>
      <LoadNote loaded={list} what="repositories" />
      {list.data?.length === 0 && (
        <div className="empty" data-testid="empty">
          <p>Nothing pushed yet. Push an image to this registry, or build one on the Builds page:</p>
          <CopyLine text={`docker push ${location.host}/team/app:1`} />
          <Link to="/builds">Start a build</Link>
        </div>
      )}
      {!!list.data?.length && (
        <label className="search">
          Search
          <input
            type="search"
            name="search"
            placeholder="team/app"
            value={filter}
            onChange={(e) => setFilter(e.target.value)}
          />
        </label>
      )}
      {!!list.data?.length && shown?.length === 0 && (
        <p className="muted">
          No repository name contains “{filter}”. Clear the search to see all {list.data.length}.
        </p>
      )}
      <ul className="plain" data-testid="repositories">
        {shown?.map((name) => (
          <li key={name}>
            <Link to={`/repositories/${repoPath(name)}`}>{name}</Link>
          </li>
        ))}
      </ul>
    </section>
  );
}

const PAGE = 50;
const ORDERS: [TagOrder, string][] = [
  ['newest', 'Newest push'],
  ['version', 'Version'],
  ['name', 'Name'],
];

/** The last part of an artifact type, as a badge says it: application/vnd.dev.sigstore.bundle.v0.3+json → sigstore.bundle. */
function badge(type: string | null): string {
  if (!type) return 'artifact';
  const tail = type.split('/').pop() ?? type;
  return tail.replace(/^vnd\./, '').replace(/\.v\d.*$|\+json$|\.json$/g, '');
}

/** A short button that copies `text` (the clipboard API, or a prompt to copy from where there is none). */
function CopyButton({ text, label, testId }: { text: string; label: string; testId: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      data-testid={testId}
      data-copy={text}
      title={text}
      onClick={() =>
        void navigator.clipboard.writeText(text).then(
          () => {
            setCopied(true);
            setTimeout(() => setCopied(false), 1500);
          },
          () => window.prompt('Copy this command', text),
        )
      }
    >
      {copied ? 'copied' : label}
    </button>
  );
}

function TagSize({ tag }: { tag: TagRow }) {
  if (!tag.platforms) return <>{bytes(tag.size)}</>;
  const each = tag.platforms
    .map((p) => `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}: ${bytes(p.size)}`)
    .join('\n');
  return (
    <span title={each}>
      {bytes(tag.size)} <span className="muted">({tag.platforms.length} platforms)</span>
    </span>
  );
}

export function Repository({ name }: { name: string }) {
  const [sort, setSort] = useState<TagOrder>('newest');
  const [typed, setTyped] = useState('');
  const [filter, setFilter] = useState('');
  const [offset, setOffset] = useState(0);
  // The filter is asked for once typing pauses, not on every key.
  useEffect(() => {
    const t = setTimeout(() => {
      setFilter(typed.trim());
      setOffset(0);
    }, 250);
    return () => clearTimeout(t);
  }, [typed]);
  const list = useLoad(
    () => tagPage(name, { sort, filter, offset, limit: PAGE }),
    [name, sort, filter, offset],
  );
  const page = list.data;
  const host = location.host;
  // Delete is offered only where the server says the caller may delete.
  const mayDelete = !!page?.actions.includes('delete');
  return (
    <section className="card">
      <p className="crumbs">
        <Link to="/repositories">Repositories</Link> / {name}
      </p>
      <h2>
        {name} <button onClick={list.reload}>Refresh</button>
      </h2>
      <LoadNote loaded={list} what="tags" />
      {page?.total === 0 && !filter && (
        <div className="empty" data-testid="empty">
          <p>No tags left in {name}. Push one, or build into it on the Builds page:</p>
          <CopyLine text={`docker push ${host}/${name}:latest`} />
        </div>
      )}
      {(!!page?.total || filter) && (
        <div className="filters">
          <input
            type="search"
            name="tag-filter"
            aria-label="Filter tags"
            placeholder="Filter tags"
            value={typed}
            onChange={(e) => setTyped(e.target.value)}
          />
          <label className="inline">
            Sort
            <select
              name="tag-sort"
              value={sort}
              onChange={(e) => {
                setSort(e.target.value as TagOrder);
                setOffset(0);
              }}
            >
              {ORDERS.map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
          </label>
        </div>
      )}
      {page?.total === 0 && filter && <p className="muted">No tag name contains “{filter}”.</p>}
      {!!page?.tags.length && (
        <div className="table-wrap">
          <table className="stacked" data-testid="tags">
            <thead>
              <tr>
                <th>Tag</th>
                <th>Digest</th>
                <th>Size</th>
                <th>Pushed</th>
                <th>Pull</th>
                <th>
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {page.tags.map((tag) => (
                <tr key={tag.name} data-testid="tag-row" data-tag={tag.name}>
                  <td className="name" data-label="Tag">
                    <Link to={`/repositories/${repoPath(name)}/-/${encodeURIComponent(tag.name)}`}>
                      {tag.name}
                    </Link>
                    {tag.referrers.map((r) => (
                      <span
                        key={String(r.artifactType)}
                        className="badge"
                        data-testid="referrer-badge"
                        title={r.artifactType ?? ''}
                      >
                        {badge(r.artifactType)}
                        {r.count > 1 ? ` ×${r.count}` : ''}
                      </span>
                    ))}
                  </td>
                  <td className="mono" data-label="Digest" data-testid="tag-digest" title={tag.digest}>
                    {shortDigest(tag.digest)}
                  </td>
                  <td data-label="Size" data-testid="tag-size">
                    <TagSize tag={tag} />
                  </td>
                  <td data-label="Pushed" title={tag.pushedAt}>
                    {age(tag.pushedAt)}
                  </td>
                  <td className="pull" data-label="Pull">
                    <CopyButton
                      testId="copy-tag"
                      label="by tag"
                      text={`docker pull ${host}/${name}:${tag.name}`}
                    />
                    <CopyButton
                      testId="copy-digest"
                      label="by digest"
                      text={`docker pull ${host}/${name}@${tag.digest}`}
                    />
                  </td>
                  <td className="row-actions">
                    {mayDelete && (
                      <ConfirmButton
                        label="Delete"
                        ariaLabel={`Delete tag ${tag.name}`}
                        question={`Delete tag ${tag.name}? Its manifest stays, by digest, until garbage collection.`}
                        confirmLabel="Delete tag"
                        onConfirm={async () => {
                          await deleteManifest(name, tag.name);
                          list.reload();
                        }}
                      />
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {!!page && page.total > PAGE && (
        <p className="pager" data-testid="tag-pager">
          <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
            Previous
          </button>
          <span>
            {offset + 1}–{Math.min(offset + PAGE, page.total)} of {page.total}
          </span>
          <button
            type="button"
            disabled={offset + PAGE >= page.total}
            onClick={() => setOffset(offset + PAGE)}
          >
            Next
          </button>
        </p>
      )}
    </section>
  );
}
