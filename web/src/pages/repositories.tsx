// The registry's repositories (/v2/_catalog, filtered as you type) and one repository's tags
// (/v2/<name>/tags/list), each with its manifest's digest, size and age, a link to the manifest
// view and a delete asked twice (DELETE /v2/<name>/manifests/<tag> removes only the tag).
import { useState } from 'react';
import { catalog, deleteManifest, imageConfig, imageSize, manifest, tags } from '../api/registry';
import { useLoad } from '../api/use-api';
import { ConfirmButton } from '../components/confirm-button';
import { CopyLine } from '../components/copy-line';
import { ErrorNote } from '../components/error-note';
import { age, bytes, shortDigest } from '../format';
import { Link, repoPath } from '../router';

const IMAGE_CONFIG = /^application\/vnd\.(oci\.image\.config|docker\.container\.image)\.v1\+json$/;

export function Repositories() {
  const list = useLoad(catalog, []);
  const [filter, setFilter] = useState('');
  const shown = list.data?.filter((n) => n.includes(filter.trim().toLowerCase()));
  return (
    <section className="card">
      <h2>
        Repositories <button onClick={list.reload}>Refresh</button>
      </h2>
      <ErrorNote error={list.error} />
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

/** A tag's manifest: digest, size (config + layers, or the platforms of an index) and age. */
function TagFacts({ name, tag }: { name: string; tag: string }) {
  const m = useLoad(async () => {
    const d = await manifest(name, tag);
    const created =
      d.config && IMAGE_CONFIG.test(d.config.mediaType)
        ? await imageConfig(name, d.config.digest).then(
            (c) => c.created,
            () => undefined,
          )
        : undefined;
    return { ...d, created };
  }, [name, tag]);
  if (m.error) {
    return (
      <td colSpan={3} className="error">
        {m.error.message}
      </td>
    );
  }
  const d = m.data;
  const size = d && imageSize(d);
  return (
    <>
      <td className="mono" data-testid="tag-digest" title={d?.digest}>
        {d ? shortDigest(d.digest) : '…'}
      </td>
      <td data-testid="tag-size">
        {d && (size !== undefined ? bytes(size) : `index: ${d.manifests?.length ?? 0} platforms`)}
      </td>
      <td title={d?.created}>{d?.created ? age(d.created) : ''}</td>
    </>
  );
}

export function Repository({ name }: { name: string }) {
  const list = useLoad(() => tags(name), [name]);
  return (
    <section className="card">
      <p className="crumbs">
        <Link to="/repositories">Repositories</Link> / {name}
      </p>
      <h2>
        {name} <button onClick={list.reload}>Refresh</button>
      </h2>
      <ErrorNote error={list.error} />
      {list.data?.length === 0 && (
        <div className="empty" data-testid="empty">
          <p>No tags left in {name}. Push one, or build into it on the Builds page:</p>
          <CopyLine text={`docker push ${location.host}/${name}:latest`} />
        </div>
      )}
      {!!list.data?.length && (
        <div className="table-wrap">
          <table data-testid="tags">
            <thead>
              <tr>
                <th>Tag</th>
                <th>Digest</th>
                <th>Size</th>
                <th>Created</th>
                <th>
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.data.map((tag) => (
                <tr key={tag} data-testid="tag-row" data-tag={tag}>
                  <td>
                    <Link to={`/repositories/${repoPath(name)}/-/${encodeURIComponent(tag)}`}>{tag}</Link>
                  </td>
                  <TagFacts name={name} tag={tag} />
                  <td className="row-actions">
                    <ConfirmButton
                      label="Delete"
                      ariaLabel={`Delete tag ${tag}`}
                      question={`Delete tag ${tag}? Its manifest stays, by digest, until garbage collection.`}
                      confirmLabel="Delete tag"
                      onConfirm={async () => {
                        await deleteManifest(name, tag);
                        list.reload();
                      }}
                    />
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
