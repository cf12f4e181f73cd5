// The repositories the user may pull (GET /api/v1/registry/repositories: tag count, size, last push;
// sorted, filtered and paged by the server) and one repository's tags, a page at a time from
// GET /api/v1/registry/tags (one request: sorted, filtered and paged by the
// server), each with its digest, size (an index: its platforms'), push time, referrers as badges,
// pull commands to copy, a link to the manifest view and a delete asked twice (DELETE
// /v2/<name>/manifests/<tag> removes only the tag).
import { useEffect, useState } from 'react';
import {
  deleteManifest,
  repositoryPage,
  tagPage,
  type RepositoryOrder,
  type TagOrder,
  type TagRow,
} from '../api/registry';
import { useLoad } from '../api/use-api';
import { ConfirmButton } from '../components/confirm-button';
import { CopyLine } from '../components/copy-line';
import { LoadNote } from '../components/load-note';
import { age, bytes, shortDigest } from '../format';
import { Link, repoPath } from '../router';

const REPOSITORY_ORDERS: [RepositoryOrder, string][] = [
  ['name', 'Name'],
  ['size', 'Size'],
  ['pushed', 'Last push'],
];

/** Sort, filter and page of a list the server sorts, filters and pages; a new sort or filter goes back to page 1. */
interface ServerList<O extends string> {
  sort: O;
  setSort: (o: O) => void;
  /** As typed; `filter` follows once typing pauses (not a request per key). */
  typed: string;
  setTyped: (t: string) => void;
  filter: string;
  offset: number;
  setOffset: (n: number) => void;
}

function useServerList<O extends string>(initial: O): ServerList<O> {
  const [sort, setSortOnly] = useState<O>(initial);
  const [offset, setOffset] = useState(0);
  const [typed, setTyped] = useState('');
  const [filter, setFilter] = useState('');
  useEffect(() => {
    const t = setTimeout(() => {
      setFilter(typed.trim().toLowerCase());
      setOffset(0);
    }, 250);
    return () => clearTimeout(t);
  }, [typed]);
  const setSort = (o: O) => {
    setSortOnly(o);
    setOffset(0);
  };
  return { sort, setSort, typed, setTyped, filter, offset, setOffset };
}

/** The search box and the sort menu above a server-side list. */
function ListControls<O extends string>({
  list,
  orders,
  search,
  sortName,
}: {
  list: ServerList<O>;
  orders: [O, string][];
  search: { name: string; label: string; placeholder: string };
  sortName: string;
}) {
  return (
    <div className="filters">
      <input
        type="search"
        name={search.name}
        aria-label={search.label}
        placeholder={search.placeholder}
        value={list.typed}
        onChange={(e) => list.setTyped(e.target.value)}
      />
      <label className="inline">
        Sort
        <select name={sortName} value={list.sort} onChange={(e) => list.setSort(e.target.value as O)}>
          {orders.map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
      </label>
    </div>
  );
}

export function Repositories() {
  const controls = useServerList<RepositoryOrder>('name');
  const { sort, filter, offset, setOffset } = controls;
  const list = useLoad(() => repositoryPage({ sort, filter, offset, limit: PAGE }), [sort, filter, offset]);
  const page = list.data;
  return (
    <section className="card">
      <h2>
        Repositories <button onClick={list.reload}>Refresh</button>
      </h2>
      <LoadNote loaded={list} what="repositories" />
      {page?.total === 0 && !filter && (
        <div className="empty" data-testid="empty">
          <p>Nothing pushed yet. Push an image to this registry, or build one on the Builds page:</p>
          <CopyLine text={`docker push ${location.host}/team/app:1`} />
          <Link to="/builds">Start a build</Link>
        </div>
      )}
      {(!!page?.total || filter) && (
        <ListControls
          list={controls}
          orders={REPOSITORY_ORDERS}
          search={{ name: 'search', label: 'Search', placeholder: 'team/app' }}
          sortName="repository-sort"
        />
      )}
      {page?.total === 0 && filter && <p className="muted">No repository name contains “{filter}”.</p>}
      {!!page?.repositories.length && (
        <div className="table-wrap">
          <table className="stacked" data-testid="repositories">
            <thead>
              <tr>
                <th>Repository</th>
                <th>Tags</th>
                <th>Size</th>
                <th>Last push</th>
              </tr>
            </thead>
            <tbody>
              {page.repositories.map((r) => (
                <tr key={r.name} data-testid="repository-row" data-repository={r.name}>
                  <td className="name" data-label="Repository">
                    <Link to={`/repositories/${repoPath(r.name)}`}>{r.name}</Link>
                  </td>
                  <td data-label="Tags">{r.tags}</td>
                  <td data-label="Size">{bytes(r.size)}</td>
                  <td data-label="Last push" title={r.pushedAt ?? ''}>
                    {r.pushedAt ? age(r.pushedAt) : '—'}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {!!page && <Pager page={page} offset={offset} setOffset={setOffset} testId="repository-pager" />}
    </section>
  );
}

/** Previous / Next over a list the server pages, PAGE rows at a time. */
function Pager({
  page,
  offset,
  setOffset,
  testId,
}: {
  page: { total: number };
  offset: number;
  setOffset: (n: number) => void;
  testId: string;
}) {
  if (page.total <= PAGE) return null;
  return (
    <p className="pager" data-testid={testId}>
      <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
        Previous
      </button>
      <span>
        {offset + 1}–{Math.min(offset + PAGE, page.total)} of {page.total}
      </span>
      <button type="button" disabled={offset + PAGE >= page.total} onClick={() => setOffset(offset + PAGE)}>
        Next
      </button>
    </p>
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
  const controls = useServerList<TagOrder>('newest');
  const { sort, filter, offset, setOffset } = controls;
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
        <ListControls
          list={controls}
          orders={ORDERS}
          search={{ name: 'tag-filter', label: 'Filter tags', placeholder: 'Filter tags' }}
          sortName="tag-sort"
        />
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
                <th>Last pulled</th>
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
                  <td data-label="Last pulled" data-testid="tag-pulled" title={tag.pulledAt ?? ''}>
                    {tag.pulledAt ? age(tag.pulledAt) : <span className="muted">never</span>}
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
      {!!page && <Pager page={page} offset={offset} setOffset={setOffset} testId="tag-pager" />}
    </section>
  );
}
