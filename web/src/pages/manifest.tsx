// One manifest of a repository, by tag or digest: its media type and digest, when the tag was
// pushed and the manifest last pulled (or, by digest, the tags on it), a copy-ready
// `docker pull`, and then either an index's platforms (each a link to its manifest) or an
// image's layers with sizes and its config (env, entrypoint, cmd, labels). Deleting the tag or
// the whole manifest (every tag on it) is asked twice, then leads back to the repository. Below,
// the manifest's referrers (signatures, SBOMs, attestations: GET /v2/<name>/referrers/<digest>).
import {
  deleteManifest,
  imageConfig,
  manifest,
  referrers,
  tagsOf,
  type Descriptor,
  type Manifest,
} from '../api/registry';
import { useLoad } from '../api/use-api';
import { ConfirmButton } from '../components/confirm-button';
import { CopyLine } from '../components/copy-line';
import { LoadNote } from '../components/load-note';
import { age, bytes, shortDigest } from '../format';
import { Link, navigate, repoPath } from '../router';

/** OCI and Docker image configs; an artifact's config is something else and is not read. */
const IMAGE_CONFIG = /^application\/vnd\.(oci\.image\.config|docker\.container\.image)\.v1\+json$/;

const platformOf = (d: Descriptor) =>
  d.platform
    ? `${d.platform.os}/${d.platform.architecture}${d.platform.variant ? `/${d.platform.variant}` : ''}`
    : (d.artifactType ?? d.annotations?.['vnd.docker.reference.type'] ?? 'unknown');

function Platforms({ name, m }: { name: string; m: Manifest }) {
  return (
    <table className="stacked" data-testid="platforms">
      <thead>
        <tr>
          <th>Platform</th>
          <th>Digest</th>
          <th>Size</th>
        </tr>
      </thead>
      <tbody>
        {m.manifests?.map((d) => (
          <tr key={d.digest}>
            <td data-label="Platform">
              <Link to={`/repositories/${repoPath(name)}/-/${encodeURIComponent(d.digest)}`}>
                {platformOf(d)}
              </Link>
            </td>
            <td data-label="Digest" className="mono">
              {shortDigest(d.digest)}
            </td>
            <td data-label="Size">{bytes(d.size)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Layers({ m }: { m: Manifest }) {
  const total = (m.layers ?? []).reduce((n, l) => n + l.size, 0);
  return (
    <table className="stacked" data-testid="layers">
      <thead>
        <tr>
          <th>#</th>
          <th>Digest</th>
          <th>Media type</th>
          <th>Size</th>
        </tr>
      </thead>
      <tbody>
        {m.layers?.map((l, i) => (
          <tr key={`${i}-${l.digest}`} data-testid="layer">
            <td data-label="#">{i + 1}</td>
            <td data-label="Digest" className="mono">
              {shortDigest(l.digest)}
            </td>
            <td data-label="Media type" className="mono">
              {l.mediaType}
            </td>
            <td data-label="Size" data-testid="layer-size">
              {bytes(l.size)}
            </td>
          </tr>
        ))}
      </tbody>
      <tfoot>
        <tr>
          <td colSpan={3}>Total</td>
          <td>{bytes(total)}</td>
        </tr>
      </tfoot>
    </table>
  );
}

function Lines({ items }: { items: string[] }) {
  if (items.length === 0) return <span className="muted">—</span>;
  return (
    <ul className="plain mono">
      {items.map((e, i) => (
        <li key={i}>{e}</li>
      ))}
    </ul>
  );
}

function Config({ name, digest }: { name: string; digest: string }) {
  const cfg = useLoad(() => imageConfig(name, digest), [name, digest]);
  const c = cfg.data?.config;
  const list = (v: string[] | null | undefined) => (v && v.length ? JSON.stringify(v) : '—');
  return (
    <div data-testid="image-config">
      <h3>Config</h3>
      <LoadNote loaded={cfg} what="the image configuration" />
      {cfg.data && (
        <dl className="facts">
          <dt>Platform</dt>
          <dd>
            {cfg.data.os}/{cfg.data.architecture}
          </dd>
          <dt>Entrypoint</dt>
          <dd className="mono">{list(c?.Entrypoint)}</dd>
          <dt>Cmd</dt>
          <dd className="mono">{list(c?.Cmd)}</dd>
          {c?.WorkingDir && (
            <>
              <dt>Working dir</dt>
              <dd className="mono">{c.WorkingDir}</dd>
            </>
          )}
          <dt>Env</dt>
          <dd>
            <Lines items={c?.Env ?? []} />
          </dd>
          <dt>Labels</dt>
          <dd data-testid="labels">
            <Lines items={Object.entries(c?.Labels ?? {}).map(([k, v]) => `${k}=${v}`)} />
          </dd>
        </dl>
      )}
    </div>
  );
}

function Referrers({ name, digest }: { name: string; digest: string }) {
  const list = useLoad(() => referrers(name, digest), [name, digest]);
  return (
    <div data-testid="referrers">
      <h3>Referrers</h3>
      <LoadNote loaded={list} what="referrers" />
      {list.data?.length === 0 && (
        <p className="muted empty" data-testid="no-referrers">
          No referrers. Signatures, SBOMs and attestations pushed with this manifest as their subject (for
          example with <code>oras attach</code> or <code>cosign sign</code>) are listed here.
        </p>
      )}
      {list.data && list.data.length > 0 && (
        <div className="table-wrap">
          <table className="stacked">
            <thead>
              <tr>
                <th>Artifact type</th>
                <th>Digest</th>
                <th>Size</th>
              </tr>
            </thead>
            <tbody>
              {list.data.map((r) => (
                <tr key={r.digest} data-testid="referrer" data-digest={r.digest}>
                  <td data-label="Type" className="mono name" data-testid="referrer-type">
                    {r.artifactType ?? r.mediaType}
                  </td>
                  <td data-label="Digest" className="mono">
                    <Link to={`/repositories/${repoPath(name)}/-/${encodeURIComponent(r.digest)}`}>
                      {shortDigest(r.digest)}
                    </Link>
                  </td>
                  <td data-label="Size" data-testid="referrer-size" data-bytes={r.size}>
                    {bytes(r.size)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

export function ManifestView({ name, reference }: { name: string; reference: string }) {
  const m = useLoad(() => manifest(name, reference), [name, reference]);
  // The tag (or the tags on a digest) and what the caller may do here, in one request.
  const tags = useLoad(() => tagsOf(name, reference), [name, reference]);
  const mayDelete = !!tags.data?.actions.includes('delete');
  const d = m.data;
  const sep = reference.includes(':') ? '@' : ':';
  const tag = sep === ':' ? tags.data?.tags[0] : undefined;
  return (
    <section className="card">
      <p className="crumbs">
        <Link to="/repositories">Repositories</Link> /{' '}
        <Link to={`/repositories/${repoPath(name)}`}>{name}</Link> / {reference}
      </p>
      <h2>
        {name}
        {sep}
        {reference}
      </h2>
      {/* A pull command only for what is there to pull. */}
      {d && <CopyLine text={`docker pull ${location.host}/${name}${sep}${reference}`} />}
      <LoadNote loaded={m} what="the manifest" />
      {d && (
        <>
          <dl className="facts">
            <dt>Media type</dt>
            <dd className="mono" data-testid="media-type">
              {d.mediaType}
            </dd>
            <dt>Digest</dt>
            <dd className="mono">{d.digest}</dd>
            <dt>Manifest size</dt>
            <dd>{bytes(d.size)}</dd>
            {d.artifactType && (
              <>
                <dt>Artifact type</dt>
                <dd className="mono">{d.artifactType}</dd>
              </>
            )}
            {tag && (
              <>
                <dt>Pushed</dt>
                <dd title={tag.pushedAt}>{age(tag.pushedAt)}</dd>
                <dt>Last pulled</dt>
                <dd data-testid="last-pulled" title={tag.pulledAt ?? ''}>
                  {tag.pulledAt ? age(tag.pulledAt) : 'never'}
                </dd>
              </>
            )}
            {sep === '@' && tags.data && (
              <>
                <dt>Tags</dt>
                <dd data-testid="digest-tags">
                  {tags.data.tags.length === 0
                    ? 'none (reachable by digest only)'
                    : tags.data.tags.map((t, i) => (
                        <span key={t.name}>
                          {i > 0 && ', '}
                          <Link to={`/repositories/${repoPath(name)}/-/${encodeURIComponent(t.name)}`}>
                            {t.name}
                          </Link>
                        </span>
                      ))}
                </dd>
              </>
            )}
          </dl>
          <div className="actions">
            {mayDelete && sep === ':' && (
              <ConfirmButton
                label="Delete tag"
                question={`Delete tag ${reference}? The manifest stays, by digest.`}
                confirmLabel="Delete tag"
                onConfirm={async () => {
                  await deleteManifest(name, reference);
                  navigate(`/repositories/${repoPath(name)}`);
                }}
              />
            )}
            {mayDelete && d.digest && (
              <ConfirmButton
                label="Delete manifest"
                question={`Delete manifest ${shortDigest(d.digest)} and every tag on it?`}
                confirmLabel="Delete manifest"
                onConfirm={async () => {
                  await deleteManifest(name, d.digest);
                  navigate(`/repositories/${repoPath(name)}`);
                }}
              />
            )}
          </div>
          {d.manifests && <Platforms name={name} m={d} />}
          {d.layers && <Layers m={d} />}
          {d.config && IMAGE_CONFIG.test(d.config.mediaType) && (
            <Config name={name} digest={d.config.digest} />
          )}
          {d.digest && <Referrers name={name} digest={d.digest} />}
        </>
      )}
    </section>
  );
}
