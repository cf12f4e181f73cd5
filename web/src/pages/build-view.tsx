// One build, live: its record (GET /api/v1/builds/{id}) and its events followed as they come
// (/api/v1/builds/{id}/events): a collapsible pane per step with its log, cached steps marked,
// the final state, a cancel button while it is queued or running, and "build again" once it
// ended. Logs keep their ANSI colours (as spans, never markup).
import { useEffect, useRef, useState } from 'react';
import { getJson, postJson } from '../api/client';
import { FINAL_BUILD_STATES, type BuildEvent, type BuildRecord } from '../api/types';
import { useLoad } from '../api/use-api';
import { useEventStream } from '../api/use-event-stream';
import { AnsiText } from '../components/ansi-text';
import { ErrorNote } from '../components/error-note';
import { StateBadge } from '../components/state-badge';
import { bytes, duration, when } from '../format';
import { Link } from '../router';
import { applyBuildEvent, emptyProgress, type BuildProgress, type StepView } from './build-progress';
import { Rebuild } from './rebuild';

const isFinal = (p: BuildProgress) => !!p.state && FINAL_BUILD_STATES.includes(p.state);

function Step({ step }: { step: StepView }) {
  const status = step.cached ? 'cached' : step.status;
  return (
    <details
      className="step"
      open={!!step.log || step.status === 'failed'}
      data-testid="build-step"
      data-status={status}
    >
      <summary>
        <StateBadge state={status} /> <span className="step-name">{step.name}</span>
        {step.progress && step.progress.total > 0 && (
          <span className="muted">
            {' '}
            {bytes(step.progress.current)} / {bytes(step.progress.total)}
          </span>
        )}
      </summary>
      {step.error && (
        <p className="error" data-testid="step-error">
          {step.error}
        </p>
      )}
      {step.log && (
        <pre className="log" data-testid="step-log">
          <AnsiText text={step.log} />
        </pre>
      )}
    </details>
  );
}

function Summary({ record, progress }: { record: BuildRecord; progress: BuildProgress }) {
  const state = progress.state ?? record.state;
  const failedStep = progress.steps.some((s) => s.status === 'failed');
  return (
    <dl className="facts">
      <dt>State</dt>
      <dd data-testid="build-state">
        <StateBadge state={state} /> {progress.message}
      </dd>
      <dt>Repository</dt>
      <dd>
        {record.definition.repository}:{record.definition.tags.join(', ')}
        {record.definition.noCache && <span className="muted"> (no cache)</span>}
      </dd>
      {(record.definition.target || record.definition.platforms?.length) && (
        <>
          <dt>Target, platforms</dt>
          <dd>
            {record.definition.target ?? 'last stage'} ·{' '}
            {record.definition.platforms?.join(', ') ?? 'this host'}
          </dd>
        </>
      )}
      <dt>Created</dt>
      <dd>{when(record.createdAt)}</dd>
      {record.worker && (
        <>
          <dt>Worker</dt>
          <dd className="mono">{record.worker}</dd>
        </>
      )}
      {record.finishedAt && (
        <>
          <dt>Took</dt>
          <dd>{duration(record.startedAt, record.finishedAt)}</dd>
        </>
      )}
      {record.images.length > 0 && (
        <>
          <dt>Images</dt>
          <dd className="mono">{record.images.join(' ')}</dd>
        </>
      )}
      {record.digest && (
        <>
          <dt>Digest</dt>
          <dd className="mono">{record.digest}</dd>
        </>
      )}
      {record.error && (
        <>
          <dt>Error</dt>
          <dd className="error" data-testid="build-error">
            {failedStep ? (
              // The failing step below shows the rest (BuildKit's message and the output) once.
              <>
                {record.error.split('\n')[0]} <span className="muted">(its output is at the step below)</span>
              </>
            ) : (
              <pre className="log">{record.error}</pre>
            )}
          </dd>
        </>
      )}
    </dl>
  );
}

export function BuildView({ id }: { id: string }) {
  const record = useLoad(() => getJson<BuildRecord>(`/api/v1/builds/${encodeURIComponent(id)}`), [id]);
  // A build a restart interrupted is final in its record without a final event: stop there too.
  const recordFinal = useRef(false);
  recordFinal.current = !!record.data && FINAL_BUILD_STATES.includes(record.data.state);
  const live = useEventStream<BuildEvent, BuildProgress>(
    `/api/v1/builds/${encodeURIComponent(id)}/events`,
    emptyProgress,
    applyBuildEvent,
    (p) => isFinal(p) || recordFinal.current,
  );
  const [cancelError, setCancelError] = useState<Error>();
  const final = isFinal(live.state) || recordFinal.current;
  const { reload } = record;
  // The record's digest, images and error are final only once the build is.
  useEffect(() => {
    if (final) reload();
  }, [final, reload]);
  const cancel = () =>
    postJson(`/api/v1/builds/${encodeURIComponent(id)}/cancel`).catch((err: Error) => setCancelError(err));

  return (
    <section className="card" data-testid="build-view">
      <p className="crumbs">
        <Link to="/builds">Builds</Link> / {id}
      </p>
      <h2>
        Build {id.slice(0, 8)}{' '}
        {!final && record.data && (
          <button type="button" onClick={() => void cancel()}>
            Cancel
          </button>
        )}
      </h2>
      <ErrorNote error={record.error ?? live.error ?? cancelError} />
      {record.data && <Summary record={record.data} progress={live.state} />}
      {final && record.data && FINAL_BUILD_STATES.includes(record.data.state) && (
        <Rebuild record={record.data} />
      )}
      <div className="steps">
        {live.state.steps.map((s) => (
          <Step key={s.id} step={s} />
        ))}
      </div>
      {live.state.warnings.length > 0 && (
        <ul className="warnings">
          {live.state.warnings.map((w, i) => (
            <li key={i}>{w}</li>
          ))}
        </ul>
      )}
      {live.state.output && (
        <pre className="log">
          <AnsiText text={live.state.output} />
        </pre>
      )}
    </section>
  );
}
