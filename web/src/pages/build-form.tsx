// The form that submits a build (POST /api/v1/builds). The context is either a Dockerfile typed
// here (sent as JSON) or an uploaded tar / tar.gz with the Dockerfile's path inside it (sent as
// the body, the options in the query). Both take the repository, tags, build args (KEY=VALUE
// lines), a target stage, platforms and no-cache; on success the live view of the new build opens.
import { useState, type FormEvent } from 'react';
import { getJson, postJson, request } from '../api/client';
import type { RegistrySummary } from '../api/types';
import { useLoad } from '../api/use-api';
import { ErrorNote } from '../components/error-note';
import { navigate } from '../router';

/**
 * The Dockerfile the empty form shows: from the latest image pushed here that the user may pull,
 * or, with none, from nothing (no example names an image this registry does not have).
 */
function example(summary: RegistrySummary | undefined): string {
  const latest = summary?.recentPushes[0];
  return latest
    ? `FROM ${location.host}/${latest.repository}:${latest.tag}\nRUN echo hello\n`
    : '# Nothing pushed here yet: this builds from an empty image.\nFROM scratch\nLABEL example=hello\n';
}

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

const words = (text: string) => text.split(/[\s,]+/).filter(Boolean);

export interface BuildOptions {
  repository: string;
  tags: string[];
  buildArgs: Record<string, string>;
  target: string;
  platforms: string[];
  noCache: boolean;
}

/** The archive form's query string: repeatable parameters repeated (see the API docs). */
export function archiveQuery(o: BuildOptions, dockerfile: string): string {
  const q = new URLSearchParams({ repository: o.repository });
  for (const t of o.tags) q.append('tag', t);
  if (dockerfile.trim()) q.set('dockerfile', dockerfile.trim());
  for (const [k, v] of Object.entries(o.buildArgs)) q.append('buildArg', `${k}=${v}`);
  if (o.target) q.set('target', o.target);
  for (const p of o.platforms) q.append('platform', p);
  if (o.noCache) q.set('noCache', 'true');
  return q.toString();
}

/** The media type the API expects for an archive, from its name. */
export function archiveType(name: string): string {
  return /\.(tgz|tar\.gz|gz)$/i.test(name) ? 'application/gzip' : 'application/x-tar';
}

export function BuildForm() {
  const summary = useLoad(() => getJson<RegistrySummary>('/api/v1/registry/summary'), []);
  const [source, setSource] = useState<'dockerfile' | 'archive'>('dockerfile');
  const [dockerfile, setDockerfile] = useState('');
  const [archive, setArchive] = useState<File>();
  const [dockerfilePath, setDockerfilePath] = useState('Dockerfile');
  const [repository, setRepository] = useState('');
  const [tags, setTags] = useState('latest');
  const [buildArgs, setBuildArgs] = useState('');
  const [target, setTarget] = useState('');
  const [platforms, setPlatforms] = useState('');
  const [noCache, setNoCache] = useState(false);
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    setBusy(true);
    try {
      const options: BuildOptions = {
        repository: repository.trim(),
        tags: words(tags),
        buildArgs: parseBuildArgs(buildArgs),
        target: target.trim(),
        platforms: words(platforms),
        noCache,
      };
      let id: string;
      if (source === 'archive') {
        if (!archive) throw new Error('choose a .tar or .tar.gz file holding the build context');
        const res = await request(`/api/v1/builds?${archiveQuery(options, dockerfilePath)}`, {
          method: 'POST',
          headers: { 'content-type': archiveType(archive.name), accept: 'application/json' },
          body: archive,
        });
        ({ id } = (await res.json()) as { id: string });
      } else {
        const { target: t, platforms: p, ...rest } = options;
        const body = {
          dockerfile,
          ...rest,
          ...(t ? { target: t } : {}),
          ...(p.length ? { platforms: p } : {}),
        };
        ({ id } = await postJson<{ id: string }>('/api/v1/builds', body));
      }
      navigate(`/builds/${id}`);
    } catch (err) {
      setError(err as Error);
      setBusy(false);
    }
  };

  return (
    <form className="card form" onSubmit={(e) => void submit(e)} data-testid="build-form">
      <h2>New build</h2>
      <fieldset className="checks">
        <legend>Context</legend>
        <label className="inline">
          <input
            type="radio"
            name="source"
            value="dockerfile"
            checked={source === 'dockerfile'}
            onChange={() => setSource('dockerfile')}
          />
          Write it here
        </label>
        <label className="inline">
          <input
            type="radio"
            name="source"
            value="archive"
            checked={source === 'archive'}
            onChange={() => setSource('archive')}
          />
          Upload an archive (.tar, .tar.gz)
        </label>
      </fieldset>
      {source === 'dockerfile' ? (
        <label>
          Dockerfile
          <textarea
            name="dockerfile"
            rows={10}
            spellCheck={false}
            placeholder={example(summary.data)}
            value={dockerfile}
            onChange={(e) => setDockerfile(e.target.value)}
            required
          />
        </label>
      ) : (
        <>
          <label>
            Archive
            <input
              type="file"
              name="archive"
              accept=".tar,.tgz,.gz,application/x-tar,application/gzip"
              onChange={(e) => setArchive(e.target.files?.[0])}
              required
            />
          </label>
          <label>
            Dockerfile in the archive
            <input
              name="dockerfilePath"
              value={dockerfilePath}
              onChange={(e) => setDockerfilePath(e.target.value)}
            />
          </label>
        </>
      )}
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
      <label>
        Target stage
        <input
          name="target"
          placeholder="the last stage"
          value={target}
          onChange={(e) => setTarget(e.target.value)}
        />
      </label>
      <label>
        Platforms
        <input
          name="platforms"
          placeholder="this host's, or e.g. linux/amd64, linux/arm64"
          value={platforms}
          onChange={(e) => setPlatforms(e.target.value)}
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
