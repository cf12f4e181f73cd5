// Log text with its ANSI colours as React spans (classes `ansi-<colour>` and `ansi-bold` from the
// stylesheet); the text is only ever text, never markup.
import { useMemo } from 'react';
import { parseAnsi } from '../ansi';

export function AnsiText({ text }: { text: string }) {
  const segments = useMemo(() => parseAnsi(text), [text]);
  return (
    <>
      {segments.map((s, i) => {
        if (!s.fg && !s.bold) return <span key={i}>{s.text}</span>;
        const cls = [s.fg && `ansi-${s.fg}`, s.bold && 'ansi-bold'].filter(Boolean).join(' ');
        return (
          <span key={i} className={cls} data-ansi={cls}>
            {s.text}
          </span>
        );
      })}
    </>
  );
}
