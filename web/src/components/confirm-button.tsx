// A destructive action asked twice, in the page rather than in a browser dialog: the first
// button opens a question beside it with the real action and "Keep"; Keep (or Escape) closes it.
// Focus goes to Keep, so Enter on the first button never deletes by itself. The action's error
// is shown right there.
import { useEffect, useRef, useState, type KeyboardEvent } from 'react';
import { ErrorNote } from './error-note';

export interface ConfirmButtonProps {
  /** The first button's text ("Delete"). */
  label: string;
  /** The question ("Delete tag 1 of library/busybox?"). */
  question: string;
  /** The button that does it ("Delete tag"). */
  confirmLabel: string;
  /** Does it; a rejection is shown beside the question. */
  onConfirm: () => Promise<unknown>;
  /** The first button's accessible name when the label alone is ambiguous in a list. */
  ariaLabel?: string;
  /** The button that leaves things as they are; "Keep" unless said. */
  cancelLabel?: string;
  disabled?: boolean;
}

export function ConfirmButton({
  label,
  question,
  confirmLabel,
  onConfirm,
  ariaLabel,
  cancelLabel = 'Keep',
  disabled,
}: ConfirmButtonProps) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error>();
  const keep = useRef<HTMLButtonElement>(null);
  const opener = useRef<HTMLButtonElement>(null);
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);
  useEffect(() => {
    if (asking) keep.current?.focus();
  }, [asking]);

  const close = () => {
    setAsking(false);
    setError(undefined);
    // The opener comes back after the question closes: focus it then.
    setTimeout(() => opener.current?.focus(), 0);
  };
  const go = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await onConfirm();
      if (mounted.current) setAsking(false);
    } catch (err) {
      if (mounted.current) setError(err as Error);
    } finally {
      if (mounted.current) setBusy(false);
    }
  };
  const onKey = (e: KeyboardEvent) => {
    if (e.key === 'Escape' && !busy) close();
  };

  if (!asking) {
    return (
      <button
        type="button"
        className="danger"
        ref={opener}
        aria-label={ariaLabel}
        disabled={disabled}
        onClick={() => setAsking(true)}
      >
        {label}
      </button>
    );
  }
  return (
    <span className="confirm" role="group" aria-label={question} onKeyDown={onKey} data-testid="confirm">
      <span className="question">{question}</span>{' '}
      <button type="button" className="danger" disabled={busy} onClick={() => void go()}>
        {busy ? 'Working…' : confirmLabel}
      </button>{' '}
      <button type="button" className="secondary" ref={keep} disabled={busy} onClick={close}>
        {cancelLabel}
      </button>
      <ErrorNote error={error} />
    </span>
  );
}
