// What the test environment (scripts/test-env/setup.sh) brought up. A test that needs a
// component asks `need(...)`: when it is missing the test is skipped and its name says why.
import { existsSync, readFileSync } from 'node:fs';

export type Component =
  | 'containerd'
  | 'buildkit'
  | 'skopeo'
  | 'podman'
  | 'conformance'
  | 'crane'
  | 'regctl'
  | 'oras'
  | 'systemd-host'
  | 'installer'
  | 'postgres'
  | 's3'
  | 'docker'
  | 'node-base';

interface EnvFile {
  runDir: string;
  binDir: string;
  cacheDir: string;
  // Partial: an env.json written by an older setup.sh may lack a component added since.
  // rootfs: the systemd host's root file system tarball (see test/support/systemd-host.ts).
  components: Partial<
    Record<
      Component,
      {
        state: 'available' | 'unavailable';
        reason: string;
        socket?: string;
        rootfs?: string;
        dataDir?: string;
        /** node-base: the directory holding {full,slim}.tar.gz and their .diffid files. */
        dir?: string;
        /** postgres: a superuser URL of the test server, e.g. postgres://postgres@127.0.0.1:55432/postgres */
        url?: string;
        /** s3: the S3-compatible server and a bucket the tests may use (they add their own prefixes). */
        endpoint?: string;
        bucket?: string;
        region?: string;
        accessKeyId?: string;
        secretAccessKey?: string;
      }
    >
  >;
}

function load(): EnvFile | undefined {
  const file = process.env.OPENCLOUD_TEST_ENV;
  if (!file || !existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as EnvFile;
}

export const testEnv = load();

/** `undefined` when every component is up, otherwise the reason to skip. */
export function missing(...components: Component[]): string | undefined {
  if (!testEnv) return 'no test environment: run the suite with `npm test` (scripts/test.sh) as root';
  for (const c of components) {
    const info = testEnv.components[c];
    if (!info)
      return `${c} unavailable: not in ${process.env.OPENCLOUD_TEST_ENV} (written by an older setup.sh)`;
    if (info.state !== 'available') return `${c} unavailable: ${info.reason}`;
  }
  return undefined;
}

/** A describe() title that carries the skip reason when there is one. */
export function titled(title: string, reason: string | undefined): string {
  return reason ? `${title} [skipped: ${reason}]` : title;
}

export const binDir = (): string => testEnv?.binDir ?? '/var/cache/opencloud-test/bin';
