// Runs once before all tests: prepares shared fixtures that need the test environment.
import { ensureBaseImage } from './base-image.js';
import { missing, testEnv } from './env.js';

export default function setup(): void {
  if (testEnv && !missing('buildkit')) ensureBaseImage(testEnv.cacheDir);
}
