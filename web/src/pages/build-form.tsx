// The form that submits a build (POST /api/v1/builds): a Dockerfile, the repository, tags,
// build args (KEY=VALUE lines) and no-cache; on success the live view of the new build opens.
import { useState, type FormEvent } from 'react';
import { postJson } from '../api/client';
import { ErrorNote } from '../components/error-note';
import { navigate } from '../router';

const EXAMPLE = `FROM ${location.host}/library/busybox:1\nRUN echo hello\n`;

/** `A=1` lines to an object; a line without `=` is an error naming it. */
export function parseBuildArgs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`build arg "${line}" must be KEY=VALUE`);
    out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

export function BuildForm() {
  const [dockerfile, setDockerfile] = useState('');
  const [repository, setRepository] = useState('');
  const [tags, setTags] = useState('latest');
  const [buildArgs, setBuildArgs] = useState('');
  const [noCache, setNoCache] = useState(false);
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    setBusy(true);
    try {
      const body = {
        dockerfile,
        repository: repository.trim(),
        tags: tags.split(/[\s,]+/).filter(Boolean),
        buildArgs: parseBuildArgs(buildArgs),
        noCache,
      };
      const { id } = await postJson<{ id: string }>('/api/v1/builds', body);
      navigate(`/builds/${id}`);
    } catch (err) {
      setError(err as Error);
      setBusy(false);
    }
  };

  return (
    <form className="card form" onSubmit={(e) => void submit(e)} data-testid="build-form">
      <h2>New build</h2>
      <label>
        Dockerfile
        <textarea
          name="dockerfile"
          rows={10}
          spellCheck={false}
          placeholder={EXAMPLE}
          value={dockerfile}
          onChange={(e) => setDockerfile(e.target.value)}
          required
        />
      </label>
      <label>
        Repository
        <input
          name="repository"
          placeholder="team/app"
          value={repository}
          onChange={(e) => setRepository(e.target.value)}
          required
        />
      </label>
      <label>
        Tags
        <input name="tags" placeholder="latest, 1.0" value={tags} onChange={(e) => setTags(e.target.value)} />
      </label>
      <label>
        Build args
        <textarea
          name="buildArgs"
          rows={3}
          spellCheck={false}
          placeholder="KEY=value, one per line"
          value={buildArgs}
          onChange={(e) => setBuildArgs(e.target.value)}
        />
      </label>
      <label className="inline">
        <input
          type="checkbox"
          name="noCache"
          checked={noCache}
          onChange={(e) => setNoCache(e.target.checked)}
        />
        No cache
      </label>
      <ErrorNote error={error} />
      <button type="submit" disabled={busy}>
        {busy ? 'Submitting…' : 'Build'}
      </button>
    </form>
  );
}
