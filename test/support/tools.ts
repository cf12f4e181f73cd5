// The Go tools scripts/test-env/setup.sh builds into the bin cache (see GO_TOOLS in lib.sh): the OCI
// conformance suite and the registry clients crane, regctl and oras. Describe blocks skip on
// `missing(...)` first; `tool(...)` inside a test then gives the binary to run.
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { binDir, missing } from './env.js';

/** Tool name (its env.json component) → binary name in the bin cache. */
const BINARIES = {
  conformance: 'oci-conformance',
  crane: 'crane',
  regctl: 'regctl',
  oras: 'oras',
} as const;

export type Tool = keyof typeof BINARIES;

/** Absolute path of a cached tool binary; throws, saying why, when the test setup has none. */
export function tool(name: Tool): string {
  const why = missing(name);
  if (why) throw new Error(`no ${name} binary: ${why}`);
  const path = join(binDir(), BINARIES[name]);
  try {
    accessSync(path, constants.X_OK);
  } catch (err) {
    throw new Error(`${name} is marked available but ${path} is not executable: ${String(err)}`);
  }
  return path;
}
