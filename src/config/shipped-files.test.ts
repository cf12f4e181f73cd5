// The configuration the repository's Dockerfile and compose.yaml give OpenCloud: every OPENCLOUD_*
// variable they set is a key of the schema, and together they load into the configuration they
// mean (listen address, data dir on the image's volume, PostgreSQL, the S3 bucket). compose.yaml
// cannot be run here (its images come from Docker Hub): this is what keeps it from drifting.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { PACKAGE_ROOT } from '../paths.js';
import { loadConfig } from './load.js';
import { envName, FIELDS } from './schema.js';

const KNOWN = new Set(FIELDS.map((f) => envName(f.key)));

/** ENV lines of the Dockerfile's last stage (the runtime image), continuation lines joined. */
function dockerfileEnv(): Record<string, string> {
  const text = readFileSync(join(PACKAGE_ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const stages = text.split(/^FROM /m);
  const env: Record<string, string> = {};
  for (const line of (stages[stages.length - 1] as string).split('\n')) {
    const m = /^ENV\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    for (const pair of (m[1] as string).trim().split(/\s+/)) {
      const eq = pair.indexOf('=');
      env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  }
  return env;
}

interface Compose {
  services: Record<string, { environment?: Record<string, string>; volumes?: string[] }>;
}
const compose = parse(readFileSync(join(PACKAGE_ROOT, 'compose.yaml'), 'utf8')) as Compose;
/** ${NAME:?message} and ${NAME} replaced as docker compose would, from `given`. */
const interpolate = (value: string, given: Record<string, string>) =>
  value.replace(/\$\{([A-Za-z0-9_]+)(?::\?[^}]*)?\}/g, (_, name: string) => given[name] ?? '');

describe('the configuration the Dockerfile and compose.yaml give OpenCloud', () => {
  it('names only keys of the schema', () => {
    const names = [
      ...Object.keys(dockerfileEnv()),
      ...Object.keys(compose.services.opencloud?.environment ?? {}),
    ].filter((n) => n.startsWith('OPENCLOUD_'));
    expect(names.length).toBeGreaterThan(5);
    expect(names.filter((n) => !KNOWN.has(n))).toEqual([]);
  });

  it('loads: the image listens on all interfaces with its data on its volume', () => {
    const env = dockerfileEnv();
    const { config } = loadConfig({ env, configFile: undefined, cwd: '/' });
    expect(config.listen).toEqual({ host: '0.0.0.0', port: 5000 });
    expect(config.dataDir).toBe('/var/lib/opencloud');
    expect(readFileSync(join(PACKAGE_ROOT, 'Dockerfile'), 'utf8')).toMatch(/^VOLUME \/var\/lib\/opencloud$/m);
    expect(compose.services.opencloud?.volumes).toContain('opencloud:/var/lib/opencloud');
  });

  it('loads: compose points it at its PostgreSQL and its bucket', () => {
    const secrets = { POSTGRES_PASSWORD: 'pg-secret', S3_ACCESS_KEY: 'ak', S3_SECRET_KEY: 'sk' };
    const env = { ...dockerfileEnv() };
    for (const [k, v] of Object.entries(compose.services.opencloud?.environment ?? {}))
      env[k] = interpolate(String(v), secrets);
    const { config } = loadConfig({ env, cwd: '/' });
    expect(config.state.postgresUrl).toBe('postgres://opencloud:pg-secret@postgres:5432/opencloud');
    expect(config.storage.s3).toMatchObject({
      bucket: 'opencloud',
      endpoint: 'http://seaweedfs:8333',
      accessKeyId: 'ak',
      secretAccessKey: 'sk',
      forcePathStyle: true,
    });
    expect(compose.services.postgres?.environment).toMatchObject({
      POSTGRES_USER: 'opencloud',
      POSTGRES_DB: 'opencloud',
    });
  });
});
