// Where the program lives, and whether it runs from a source checkout (which decides defaults
// such as the data dir). Works both from dist/ (compiled) and src/ (tests run the TS directly).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(start: string): string {
  let dir = start;
  while (dir !== dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new Error(`package.json not found above ${start}`);
}

export const PACKAGE_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));
export const IS_CHECKOUT = existsSync(join(PACKAGE_ROOT, '.git'));
export const PROTO_DIR = join(PACKAGE_ROOT, 'proto');

export const PACKAGE_VERSION: string = (
  JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }
).version;

/** The BuildKit release this product installs and builds with (DESIGN.md). */
export const BUILDKIT_VERSION = 'v0.16.0';
