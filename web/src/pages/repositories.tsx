// The registry's repositories (/v2/_catalog) and one repository's tags (/v2/<name>/tags/list),
// each tag leading to its manifest view.
import { catalog, tags } from '../api/registry';
import { useLoad } from '../api/use-api';
import { ErrorNote } from '../components/error-note';
import { Link, repoPath } from '../router';

export function Repositories() {
  const list = useLoad(catalog, []);
  return (
    <section className="card">
      <h2>Repositories</h2>
      <ErrorNote error={list.error} />
      {list.data?.length === 0 && <p className="muted">Nothing pushed yet.</p>}
      <ul className="plain" data-testid="repositories">
        {list.data?.map((name) => (
          <li key={name}>
            <Link to={`/repositories/${repoPath(name)}`}>{name}</Link>
          </li>
        ))}
      </ul>
    </section>
  );
}

export function Repository({ name }: { name: string }) {
  const list = useLoad(() => tags(name), [name]);
  return (
    <section className="card">
      <p className="crumbs">
        <Link to="/repositories">Repositories</Link> / {name}
      </p>
      <h2>{name}</h2>
      <ErrorNote error={list.error} />
      {list.data?.length === 0 && <p className="muted">No tags.</p>}
      <ul className="plain" data-testid="tags">
        {list.data?.map((tag) => (
          <li key={tag}>
            <Link to={`/repositories/${repoPath(name)}/-/${encodeURIComponent(tag)}`}>{tag}</Link>
          </li>
        ))}
      </ul>
    </section>
  );
}
