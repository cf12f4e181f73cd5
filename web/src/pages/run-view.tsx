// One install run followed live (/api/v1/runs/{id}/events): every step with its status and
// reason, the changes a plan found (unit and file diffs shown line by line), the step's log,
// rollback lines, and the recap line that ends every run.
import { useEffect } from 'react';
import type { InstallerEvent, PlannedChange } from '../api/types';
import { useEventStream } from '../api/use-event-stream';
import { ErrorNote } from '../components/error-note';
import { StateBadge } from '../components/state-badge';
import { bytes } from '../format';
import { applyRunEvent, emptyRun, type RunProgress, type RunStep } from './run-progress';

function Diff({ text }: { text: string }) {
  return (
    <pre className="diff">
      {text.split('\n').map((line, i) => (
        <span key={i} className={/^\+(?!\+\+)/.test(line) ? 'add' : /^-(?!--)/.test(line) ? 'del' : ''}>
          {line}
          {'\n'}
        </span>
      ))}
    </pre>
  );
}

function Change({ c }: { c: PlannedChange }) {
  return (
    <li data-testid="run-change">
      <span className="mono">
        {c.action} {c.kind} {c.target}
      </span>
      {c.detail && <span className="muted"> — {c.detail}</span>}
      {c.diff && <Diff text={c.diff} />}
    </li>
  );
}

function Step({ s }: { s: RunStep }) {
  return (
    <details className="step" open={s.changes.length > 0 || s.status === 'failed'} data-testid="run-step">
      <summary>
        <StateBadge state={s.status} /> <span className="step-name">{s.title}</span>
        {s.phase && <span className="muted"> ({s.phase})</span>}
        {s.reason && <span className="muted"> — {s.reason}</span>}
        {s.progress && s.status === 'running' && (
          <span className="muted">
            {' '}
            {bytes(s.progress.done)}
            {s.progress.total > 0 && ` / ${bytes(s.progress.total)}`}
          </span>
        )}
      </summary>
      {s.changes.length > 0 && (
        <ul className="changes">
          {s.changes.map((c, i) => (
            <Change key={i} c={c} />
          ))}
        </ul>
      )}
      {s.logs.length > 0 && <pre className="log">{s.logs.join('\n')}</pre>}
      {s.evidence && <pre className="log error">{s.evidence}</pre>}
    </details>
  );
}

/** `onEnd` is told once the run has its recap (the page refreshes what the run changed). */
export function RunView({ runId, onEnd }: { runId: string; onEnd?: () => void }) {
  const run = useEventStream<InstallerEvent, RunProgress>(
    `/api/v1/runs/${encodeURIComponent(runId)}/events`,
    emptyRun,
    applyRunEvent,
    (p) => !!p.recap,
  );
  const p = run.state;
  const ended = !!p.recapLine;
  useEffect(() => {
    if (ended) onEnd?.();
  }, [ended, onEnd]);
  return (
    <div className="run" data-testid="run-view">
      <p className="muted">
        Run {runId}
        {p.started ? `: ${p.started}` : ''}
      </p>
      <ErrorNote error={run.error} />
      <div className="steps">
        {p.steps.map((s) => (
          <Step key={s.id} s={s} />
        ))}
      </div>
      {p.logs.length > 0 && <pre className="log">{p.logs.join('\n')}</pre>}
      {p.rollback.length > 0 && <pre className="log error">{p.rollback.join('\n')}</pre>}
      {p.recapLine ? (
        <p className="recap mono" data-testid="recap">
          {p.recapLine}
        </p>
      ) : (
        !run.ended && <p className="muted">running…</p>
      )}
    </div>
  );
}
