#!/usr/bin/env node
// The `opencloud` command: runs the compiled CLI from dist/ (built by `npm ci` via "prepare"), from
// its bundle (dist/bundle/, scripts/bundle-server.mjs) when that was built from the current dist/.
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';

// `serve` runs without V8's incremental marking. Node's HTTP parser hands every request body over
// as freshly allocated 64 KiB buffers, and V8 counts their memory against the old generation's
// headroom until a scavenge frees them. With the server's heap that headroom is a few tens of
// MiB, so V8 kept starting incremental marking and finishing it with a full mark-compact, about
// every 25 MiB received: ~20 per 512 MiB upload and ~20% of the server's CPU, whatever the
// semi-space size (measured with --max-semi-space-size 2 and 16). Without incremental marking the
// old generation is collected when it is actually full, in one parallel pause (a few ms to tens of
// ms for this heap). V8 reads the flag whenever it considers starting to mark, so setting it here,
// before the application allocates anything, works without a re-exec; the other commands keep
// V8's defaults, and an explicit `node --incremental-marking ...` wins.
if (process.argv[2] === 'serve' && !process.execArgv.some((a) => a.includes('incremental-marking'))) {
  setFlagsFromString('--no-incremental-marking');
}

const main = new URL('../dist/cli/main.js', import.meta.url);
const bundle = new URL('../dist/bundle/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  console.error('opencloud: dist/ is missing; run `npm ci` (or `npm run build`) in the checkout first');
  process.exit(70);
}
// A `tsc` run after the last full build leaves the bundle behind dist/: then dist/ is what runs.
const mtime = (url) => statSync(fileURLToPath(url), { throwIfNoEntry: false })?.mtimeMs ?? -1;
const entry = mtime(bundle) >= mtime(main) ? bundle : main;
const { run } = await import(entry.href);
process.exitCode = await run(process.argv);
