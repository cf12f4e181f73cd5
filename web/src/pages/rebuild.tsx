// "Build again" for a finished build (POST /api/v1/builds/{id}/repeat): the recorded definition
// runs once more. Secrets are never stored, so each one it used is asked for again here; a build
// whose context was an uploaded archive cannot be repeated (the archive is not kept) and says so.
import { useState, type FormEvent } from 'react';
import { postJson } from '../api/client';
import type { BuildRecord } from '../api/types';
import { ErrorNote } from '../components/error-note';
import { navigate } from '../router';

export function Rebuild({ record }: { record: BuildRecord }) {
  const secretIds = record.definition.secretIds ?? [];
  const [open, setOpen] = useState(false);
  const [secrets, setSecrets] = useState<Record<string, string>>({});
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);

  if (record.definition.archive) {
    return (
      <p className="muted" data-testid="rebuild-unavailable">
        Built from an uploaded archive, which is not kept: upload it again to rebuild.
      </p>
    );
  }
  const submit = async (e?: FormEvent) => {
    e?.preventDefault();
    setError(undefined);
    setBusy(true);
    try {
      const body = secretIds.length > 0 ? { secrets } : {};
      const { id } = await postJson<{ id: string }>(
        `/api/v1/builds/${encodeURIComponent(record.id)}/repeat`,
        body,
      );
      navigate(`/builds/${id}`);
    } catch (err) {
      setError(err as Error);
      setBusy(false);
    }
  };
  if (!open) {
    return (
      <button
        type="button"
        data-testid="rebuild"
        onClick={() => (secretIds.length > 0 ? setOpen(true) : void submit())}
        disabled={busy}
      >
        {busy ? 'Submitting…' : 'Build again'}
      </button>
    );
  }
  return (
    <form className="form" onSubmit={(e) => void submit(e)} data-testid="rebuild-secrets">
      <p className="muted">This build used secrets; they are never stored. Give them again:</p>
      {secretIds.map((id) => (
        <label key={id}>
          {id}
          <input
            type="password"
            name={`secret-${id}`}
            autoComplete="off"
            required
            value={secrets[id] ?? ''}
            onChange={(e) => setSecrets({ ...secrets, [id]: e.target.value })}
          />
        </label>
      ))}
      <ErrorNote error={error} />
      <button type="submit" disabled={busy}>
        {busy ? 'Submitting…' : 'Build again'}
      </button>
    </form>
  );
}
