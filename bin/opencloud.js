#!/usr/bin/env node
// The `opencloud` command: runs the compiled CLI from dist/ (built by `npm ci` via "prepare").
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  console.error('opencloud: dist/ is missing; run `npm ci` (or `npm run build`) in the checkout first');
  process.exit(70);
}
const { run } = await import(main.href);
process.exitCode = await run(process.argv);
