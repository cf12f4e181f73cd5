// Runs a real `buildctl build` against the test buildkitd, with "busybox" in FROM lines resolved
// to the locally made base image (nothing can be pulled from the internet).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensureBaseImage } from './base-image.js';
import { binDir, testEnv } from './env.js';

const run = promisify(execFile);

export function buildWithBase(contextDir: string, output: string, extraArgs: string[] = []) {
  const base = ensureBaseImage(testEnv!.cacheDir);
  return run(
    join(binDir(), 'buildctl'),
    [
      ...['--addr', 'unix:///run/buildkit/buildkitd.sock', 'build', '--frontend', 'dockerfile.v0'],
      ...['--local', `context=${contextDir}`, '--local', `dockerfile=${contextDir}`],
      ...['--oci-layout', `base=${base.layout}`, '--opt', `context:busybox=oci-layout://base@${base.digest}`],
      ...['--output', output, ...extraArgs],
    ],
    { maxBuffer: 16 * 1024 * 1024 },
  );
}
