// The installer's options for a run from the UI, as the CLI's flags: where BuildKit comes from
// (release download, a local tarball with its sha256, or built with Go), the init mode and a
// mirror for the release download. Only what the user set is sent; the server fills defaults.
import type { ChangeEvent } from 'react';

export interface RunOptions {
  source: 'release' | 'tarball' | 'go';
  init: 'auto' | 'systemd' | 'direct';
  mirror: string;
  tarball: string;
  sha256: string;
}

export const defaultRunOptions: RunOptions = {
  source: 'release',
  init: 'auto',
  mirror: '',
  tarball: '',
  sha256: '',
};

/** The request body for plan/enable/disable. */
export function runBody(o: RunOptions): Record<string, string> {
  const body: Record<string, string> = { source: o.source, init: o.init };
  if (o.source === 'release' && o.mirror.trim()) body.mirror = o.mirror.trim();
  if (o.source === 'tarball' && o.tarball.trim()) body.tarball = o.tarball.trim();
  if (o.source === 'tarball' && o.sha256.trim()) body.sha256 = o.sha256.trim();
  return body;
}

export function RunOptionsForm({
  value,
  onChange,
}: {
  value: RunOptions;
  onChange: (o: RunOptions) => void;
}) {
  const set = (key: keyof RunOptions) => (e: ChangeEvent<HTMLInputElement | HTMLSelectElement>) =>
    onChange({ ...value, [key]: e.target.value });
  return (
    <fieldset className="options">
      <legend>Installer options</legend>
      <label>
        Source
        <select name="source" value={value.source} onChange={set('source')}>
          <option value="release">release download</option>
          <option value="tarball">local tarball</option>
          <option value="go">build with Go</option>
        </select>
      </label>
      <label>
        Init
        <select name="init" value={value.init} onChange={set('init')}>
          <option value="auto">auto</option>
          <option value="systemd">systemd</option>
          <option value="direct">direct</option>
        </select>
      </label>
      {value.source === 'release' && (
        <label>
          Mirror
          <input
            name="mirror"
            placeholder="https://mirror.example/buildkit"
            value={value.mirror}
            onChange={set('mirror')}
          />
        </label>
      )}
      {value.source === 'tarball' && (
        <>
          <label>
            Tarball
            <input
              name="tarball"
              placeholder="/path/to/buildkit.tar.gz"
              value={value.tarball}
              onChange={set('tarball')}
            />
          </label>
          <label>
            sha256
            <input name="sha256" value={value.sha256} onChange={set('sha256')} />
          </label>
        </>
      )}
    </fieldset>
  );
}
