// What the benchmark prints: progress lines on stderr (`[bench] ...`) and numbers as table cells
// (`n/a` for anything not finite).

export const say = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

export const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
