// npm's `prepare` hook: builds the checkout (`npm run build`) after `npm ci` / `npm install`.
// `npx opencloud …` run inside the checkout installs the checkout itself into npm's npx cache as a
// link, and npm runs `prepare` again for it: a second full build (~10 s) on a newcomer's first
// command, and a half-written npx cache entry if that is interrupted. The link points at this very
// directory, so when `npm exec` is the caller and dist/ is already built there is nothing to do.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const built = existsSync(new URL('../dist/cli/main.js', import.meta.url));
if (process.env.npm_command === 'exec' && built) process.exit(0);
const npm = process.env.npm_execpath
  ? [process.execPath, [process.env.npm_execpath, 'run', 'build']]
  : ['npm', ['run', 'build']];
const result = spawnSync(npm[0], npm[1], { stdio: 'inherit' });
process.exit(result.status ?? 1);
