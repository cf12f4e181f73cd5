// ANSI colours in build logs, as data: text split into segments, each with its foreground colour
// (SGR 30–37 and 90–97) and whether it is bold (SGR 1; 22 ends it, 39 ends the colour, 0 or an
// empty SGR ends both). Every other escape sequence (cursor moves, erases, window titles, other
// SGR attributes) and stray control characters are dropped. Pure: no DOM, so the log is rendered
// as React spans (components/ansi-text.tsx), never as HTML.

export const ANSI_COLORS = ['black', 'red', 'green', 'yellow', 'blue', 'magenta', 'cyan', 'white'] as const;
export type AnsiColor = (typeof ANSI_COLORS)[number] | `bright-${(typeof ANSI_COLORS)[number]}`;

export interface AnsiSegment {
  text: string;
  fg?: AnsiColor;
  bold: boolean;
}

interface Style {
  fg?: AnsiColor;
  bold: boolean;
}

// One alternation, tried in order at each ESC: a complete CSI (SGR when it ends in `m` with no
// intermediate bytes), an unfinished CSI at the end of the text (the rest is still arriving),
// OSC and other strings up to BEL or ST, any other escape; then other control characters
// (tab, newline and carriage return stay).
const SEQUENCES =
  // eslint-disable-next-line no-control-regex
  /\x1b(?:\[([0-?]*)([ -/]*)([@-~])|\[[0-?]*[ -/]*$|[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\|(?=\x1b)|$)|[ -/]*[0-~]|$)|[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f]/g;

/** The style after an SGR sequence's parameters ("1;31", "" for reset). */
export function applySgr(style: Style, params: string): Style {
  const codes = params === '' ? [0] : params.split(/[;:]/).map((p) => (p === '' ? 0 : Number(p)));
  let { fg, bold } = style;
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i] as number;
    if (c === 0) {
      fg = undefined;
      bold = false;
    } else if (c === 1) bold = true;
    else if (c === 22) bold = false;
    else if (c === 39) fg = undefined;
    else if (c >= 30 && c <= 37) fg = ANSI_COLORS[c - 30];
    else if (c >= 90 && c <= 97) fg = `bright-${ANSI_COLORS[c - 90] as (typeof ANSI_COLORS)[number]}`;
    else if (c === 38 || c === 48 || c === 58) {
      // Extended colours (not rendered): skip their arguments, which are not codes of their own.
      i += codes[i + 1] === 5 ? 2 : codes[i + 1] === 2 ? 4 : 0;
    }
  }
  return fg === undefined ? { bold } : { fg, bold };
}

/** `text` as styled segments; adjacent text of one style is one segment. */
export function parseAnsi(text: string): AnsiSegment[] {
  const out: AnsiSegment[] = [];
  let style: Style = { bold: false };
  const push = (t: string) => {
    if (!t) return;
    const last = out[out.length - 1];
    if (last && last.fg === style.fg && last.bold === style.bold) last.text += t;
    else out.push({ text: t, ...style });
  };
  let at = 0;
  for (const m of text.matchAll(SEQUENCES)) {
    push(text.slice(at, m.index));
    at = m.index + m[0].length;
    if (m[3] === 'm' && m[2] === '') style = applySgr(style, m[1] ?? '');
  }
  push(text.slice(at));
  return out;
}

/** The text without any escape sequence (what a copy of the log should hold). */
export const stripAnsi = (text: string) =>
  parseAnsi(text)
    .map((s) => s.text)
    .join('');
