// The human view of an install run, with the seed installer's line markers ([INFO], [SUCCESS],
// [ERROR]) and its phase headings, plan diffs, download progress (bytes, total, rate) and the
// recap as the last line. `--json` prints the events themselves instead, one per line.
import type { InstallerEvent } from './types.js';

const MiB = 1024 * 1024;
const mib = (n: number) => (n / MiB).toFixed(1);

export function humanRenderer(out: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean }) {
  let phase: string | undefined;
  let progressStart = 0;
  let lastPrinted = -1;
  let progressShown = false;
  const line = (s: string) => {
    if (progressShown && out.isTTY) out.write('\n');
    progressShown = false;
    out.write(s + '\n');
  };
  return (e: InstallerEvent): void => {
    switch (e.type) {
      case 'step-start':
        if (e.phase && e.phase !== phase) {
          phase = e.phase;
          line(`[INFO] ${phase}`);
        }
        progressStart = 0;
        return;
      case 'log':
        line(`[INFO]   ${e.message}`);
        return;
      case 'progress': {
        const done = e.done ?? 0;
        const total = e.total ?? 0;
        progressStart ||= Date.now();
        const secs = Math.max((Date.now() - progressStart) / 1000, 0.001);
        const text = `[INFO]   ${mib(done)}${total ? ` / ${mib(total)}` : ''} MiB, ${mib(done / secs)} MiB/s`;
        if (out.isTTY) {
          out.write(`\r${text}`);
          progressShown = true;
        } else {
          const quarter = total ? Math.floor((done / total) * 4) : -1; // every 25% when not a terminal
          if (quarter !== lastPrinted || done === total) {
            lastPrinted = quarter;
            line(text);
          }
        }
        return;
      }
      case 'step-result': {
        const mark =
          e.status === 'failed'
            ? '[ERROR]'
            : e.status === 'skipped' || e.reason === 'would change'
              ? '[INFO]'
              : '[SUCCESS]';
        const word = e.status === 'ok' ? 'ok' : e.status;
        line(`${mark} ${e.title}: ${word}${e.reason ? ` — ${e.reason}` : ''}`);
        for (const c of e.changes ?? []) {
          line(`          ${c.action} ${c.kind} ${c.target}${c.detail ? ` (${c.detail})` : ''}`);
          if (c.diff) for (const d of c.diff.trimEnd().split('\n').slice(2)) line(`            ${d}`);
        }
        if (e.evidence) for (const d of e.evidence.split('\n')) line(`          | ${d}`);
        return;
      }
      case 'rollback':
        line(`[INFO] rollback: ${e.message}`);
        return;
      case 'recap':
        line(e.message ?? '');
        return;
      default:
        return;
    }
  };
}
