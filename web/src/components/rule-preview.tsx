// What a policy rule would do now, before it is applied: a sentence, the first tags it touches,
// and the Apply button; or, until the preview is asked for, the Preview button (a form's submit).
export interface Preview {
  total: number;
  tags: string[];
}

export function RulePreview({
  preview,
  none,
  some,
  note,
  testIds,
  busy,
  onApply,
}: {
  preview: Preview | undefined;
  /** The sentence when no tag is touched. */
  none: string;
  /** The start of the sentence for `n` tags ("It fixes 3 tags"). */
  some: (n: number) => string;
  /** Said after the sentence (what else applying does). */
  note?: string | undefined;
  /** Test ids of the block and of its list of tags. */
  testIds: { block: string; list: string };
  busy: boolean;
  onApply: () => void;
}) {
  if (!preview)
    return (
      <button type="submit" disabled={busy}>
        {busy ? 'Looking…' : 'Preview'}
      </button>
    );
  const shown = preview.total > preview.tags.length ? ` (the first ${preview.tags.length} shown)` : '';
  return (
    <div role="status" data-testid={testIds.block}>
      <p>
        {preview.total === 0 ? none : `${some(preview.total)} now${shown}:`}
        {note && ` ${note}`}
      </p>
      {preview.tags.length > 0 && (
        <ul className="mono" data-testid={testIds.list}>
          {preview.tags.map((t) => (
            <li key={t}>{t}</li>
          ))}
        </ul>
      )}
      <button type="button" disabled={busy} onClick={onApply}>
        Apply the rule
      </button>
    </div>
  );
}
