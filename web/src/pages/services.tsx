// The services this server installs (container-registry): state, live health, facts from the
// ledger, and the installer's runs: Plan (read-only) shows each step and the unit/file diffs;
// Enable and Disable change this host, so they ask first, in the page (no browser dialog). The
// run's output follows live; the past runs are listed from the ledger.
import { useCallback, useState } from 'react';
import { getJson, postJson } from '../api/client';
import type { ServiceSummary } from '../api/types';
import { useLoad } from '../api/use-api';
import { ConfirmButton } from '../components/confirm-button';
import { ErrorNote } from '../components/error-note';
import { LoadNote } from '../components/load-note';
import { StateBadge } from '../components/state-badge';
import { defaultRunOptions, runBody, RunOptionsForm } from './run-options';
import { RunHistory } from './run-history';
import { RunView } from './run-view';

interface Health {
  answers: boolean;
  detail: string;
  unit?: string;
}
interface ServiceStatus {
  state: string;
  healthy: boolean;
  init: string;
  containerd: Health;
  buildkit: Health;
}

type Action = 'plan' | 'enable' | 'disable';
/** Enable and Disable change this host: asked in the page first (ConfirmButton), never in a browser dialog. */
const CONFIRM: Record<Exclude<Action, 'plan'>, { question: string; confirm: string }> = {
  enable: {
    question: 'Enable installs containerd and BuildKit on this host and starts them. Go on?',
    confirm: 'Enable now',
  },
  disable: {
    question: 'Disable stops BuildKit and removes what enabling installed on this host. Go on?',
    confirm: 'Disable now',
  },
};

function Daemon({ name, h }: { name: string; h: Health }) {
  return (
    <>
      <dt>{name}</dt>
      <dd>
        <StateBadge state={h.answers ? 'answers' : 'silent'} /> {h.detail}
        {h.unit && <div className="muted">{h.unit}</div>}
      </dd>
    </>
  );
}

function Service({ s, onRun }: { s: ServiceSummary; onRun: () => void }) {
  const status = useLoad(
    () => getJson<ServiceStatus>(`/api/v1/services/${encodeURIComponent(s.name)}`),
    [s.name],
  );
  const [runId, setRunId] = useState<string | null>(null);
  const [options, setOptions] = useState(defaultRunOptions);
  const [error, setError] = useState<Error>();
  // Each run that ends refreshes the history (its outcome and recap are in the ledger then).
  const [endedRuns, setEndedRuns] = useState(0);
  const ended = useCallback(() => setEndedRuns((n) => n + 1), []);
  /** Starts a run; a refusal rejects (shown by the caller: beside Plan, or in the question). */
  const start = async (action: Action) => {
    setError(undefined);
    const r = await postJson<{ runId: string }>(
      `/api/v1/services/${encodeURIComponent(s.name)}/${action}`,
      runBody(options),
    );
    setRunId(r.runId);
    onRun();
  };
  const facts = Object.entries(s.facts);
  return (
    <section className="card" data-testid={`service-${s.name}`}>
      <h2>
        {s.name} <StateBadge state={s.state} />
      </h2>
      <LoadNote loaded={status} what="the status" />
      <dl className="facts">
        {status.data && <Daemon name="containerd" h={status.data.containerd} />}
        {status.data && <Daemon name="BuildKit" h={status.data.buildkit} />}
        {facts.map(([k, v]) => (
          <div key={k} className="fact">
            <dt>{k}</dt>
            <dd className="mono">{typeof v === 'string' ? v : JSON.stringify(v)}</dd>
          </div>
        ))}
      </dl>
      <RunOptionsForm value={options} onChange={setOptions} />
      <div className="actions">
        <button type="button" onClick={() => start('plan').catch((err: Error) => setError(err))}>
          Plan
        </button>
        {(['enable', 'disable'] as const).map((action) => (
          <ConfirmButton
            key={action}
            label={action === 'enable' ? 'Enable' : 'Disable'}
            ariaLabel={`${action === 'enable' ? 'Enable' : 'Disable'} ${s.name}`}
            question={CONFIRM[action].question}
            confirmLabel={CONFIRM[action].confirm}
            onConfirm={() => start(action)}
          />
        ))}
        {!runId && s.lastRunId && (
          <button type="button" className="link" onClick={() => setRunId(s.lastRunId)}>
            Show the last run
          </button>
        )}
      </div>
      <ErrorNote error={error} />
      {runId && <RunView key={runId} runId={runId} onEnd={ended} />}
      <RunHistory service={s.name} version={`${runId}:${endedRuns}`} onShow={setRunId} />
    </section>
  );
}

export function Services() {
  const list = useLoad(() => getJson<ServiceSummary[]>('/api/v1/services'), []);
  return (
    <div className="stack">
      <LoadNote loaded={list} what="services" />
      {list.data?.map((s) => (
        <Service key={s.name} s={s} onRun={list.reload} />
      ))}
    </div>
  );
}
