import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { loadConfig } from './load.js';
import { envName } from './schema.js';

const dir = mkdtempSync(join(tmpdir(), 'opencloud-config-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}
const noFile = file('empty.yaml', '');

describe('loadConfig', () => {
  it('uses the embedded defaults', () => {
    const { config, sources } = loadConfig({ configFile: noFile, env: {} });
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 5000 });
    expect(config.buildkit.socket).toBe('/run/buildkit/buildkitd.sock');
    expect(config.containerd.socket).toBe('/run/containerd/containerd.sock');
    expect(config.containerd.namespaces).toEqual(['buildkit', 'default']);
    expect(config.dataDir).toMatch(/\/data$/);
    expect(sources.listen).toBe('default');
  });

  it('layers file < environment < flags', () => {
    const cfg = file(
      'layers.yaml',
      'listen: 127.0.0.1:6000\nlogLevel: debug\nbuildkit:\n  socket: /tmp/bk.sock\n',
    );
    const { config, sources } = loadConfig({
      configFile: cfg,
      env: { OPENCLOUD_LISTEN: '127.0.0.1:7000', OPENCLOUD_SHUTDOWN_TIMEOUT: '5' },
      flags: { listen: '[::1]:8000' },
    });
    expect(config.listen).toEqual({ host: '::1', port: 8000 });
    expect(sources.listen).toBe('--listen');
    expect(config.logLevel).toBe('debug');
    expect(config.buildkit.socket).toBe('/tmp/bk.sock');
    expect(config.shutdownTimeout).toBe(5);
    expect(sources.shutdownTimeout).toBe('OPENCLOUD_SHUTDOWN_TIMEOUT');
  });

  it('resolves a relative data dir against where it was written', () => {
    const cfg = file('rel.yaml', 'dataDir: ./state\n');
    expect(loadConfig({ configFile: cfg, env: {} }).config.dataDir).toBe(join(dir, 'state'));
    expect(
      loadConfig({ configFile: noFile, env: {}, flags: { dataDir: 'x' }, cwd: '/srv' }).config.dataDir,
    ).toBe('/srv/x');
  });

  it('names the key, the value, its source and what is allowed', () => {
    const err = (() => {
      try {
        loadConfig({
          configFile: noFile,
          env: { OPENCLOUD_LISTEN: '127.0.0.1:70000', OPENCLOUD_LOG_LEVEL: 'loud' },
        });
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('no error');
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain('listen = "127.0.0.1:70000" (from OPENCLOUD_LISTEN) is not valid');
    expect(err.message).toContain('port from 0 to 65535');
    expect(err.message).toContain('logLevel = "loud" (from OPENCLOUD_LOG_LEVEL)');
    expect(err.message).toContain('fatal, error, warn, info, debug, trace, silent');
  });

  it('refuses unknown keys in the file, nested ones included', () => {
    const cfg = file('unknown.yaml', 'listne: 127.0.0.1:1\nbuildkit:\n  sokcet: /x\n');
    expect(() => loadConfig({ configFile: cfg, env: {} })).toThrow(/listne \(in .*\) is not a known key/);
    expect(() => loadConfig({ configFile: cfg, env: {} })).toThrow(/buildkit\.sokcet/);
  });

  it('refuses a missing explicit file, bad YAML and a non-mapping', () => {
    expect(() => loadConfig({ configFile: join(dir, 'nope.yaml'), env: {} })).toThrow(/does not exist/);
    expect(() => loadConfig({ configFile: file('bad.yaml', 'listen: [1\n'), env: {} })).toThrow(
      /cannot be read/,
    );
    expect(() => loadConfig({ configFile: file('list.yaml', '- a\n'), env: {} })).toThrow(
      /must be a YAML mapping/,
    );
  });

  it('validates socket paths, booleans, integers and namespace lists', () => {
    const bad = (env: Record<string, string>) => () => loadConfig({ configFile: noFile, env });
    expect(bad({ OPENCLOUD_SHUTDOWN_TIMEOUT: '0' })).toThrow(/integer from 1 to 3600/);
    expect(bad({ OPENCLOUD_INSECURE_NO_AUTH: 'maybe' })).toThrow(/true or false/);
    expect(bad({ OPENCLOUD_CONTAINERD_NAMESPACES: 'ok,bad name' })).toThrow(/namespace names/);
    const good = loadConfig({
      configFile: noFile,
      env: { OPENCLOUD_INSECURE_NO_AUTH: 'yes', OPENCLOUD_CONTAINERD_NAMESPACES: 'a, b' },
    });
    expect(good.config.insecureNoAuth).toBe(true);
    expect(good.config.containerd.namespaces).toEqual(['a', 'b']);
  });

  it('takes tls.cert and tls.key together, as absolute paths, or neither', () => {
    const load = (env: Record<string, string>, configFile = noFile) => loadConfig({ configFile, env });
    expect(load({}).config.tls).toEqual({ cert: undefined, key: undefined });
    const both = load({ OPENCLOUD_TLS_CERT: '/etc/tls/a.crt', OPENCLOUD_TLS_KEY: '/etc/tls/a.key' });
    expect(both.config.tls).toEqual({ cert: '/etc/tls/a.crt', key: '/etc/tls/a.key' });
    expect(both.sources['tls.cert']).toBe('OPENCLOUD_TLS_CERT');
    const inFile = file('tls.yaml', 'tls:\n  cert: /etc/tls/b.crt\n  key: /etc/tls/b.key\n');
    expect(load({}, inFile).config.tls).toEqual({ cert: '/etc/tls/b.crt', key: '/etc/tls/b.key' });

    expect(() => load({ OPENCLOUD_TLS_CERT: '/etc/tls/a.crt' })).toThrow(
      'tls.cert is set (from OPENCLOUD_TLS_CERT) but tls.key is not',
    );
    const onlyKey = file('tls-key.yaml', 'tls:\n  key: /etc/tls/b.key\n');
    expect(() => load({}, onlyKey)).toThrow(`tls.key is set (from ${onlyKey}) but tls.cert is not`);
    // Unlike dataDir, TLS files are never resolved against the cwd or the file's folder.
    expect(() => load({ OPENCLOUD_TLS_CERT: 'a.crt', OPENCLOUD_TLS_KEY: '/etc/tls/a.key' })).toThrow(
      'tls.cert = "a.crt" (from OPENCLOUD_TLS_CERT) is not valid: allowed is an absolute path',
    );
    const relative = file('tls-rel.yaml', 'tls:\n  cert: ./b.crt\n  key: b.key\n');
    expect(() => load({}, relative)).toThrow(
      /tls\.cert = "\.\/b\.crt" .*absolute path[\s\S]*tls\.key = "b\.key"/,
    );
    expect(() => load({}, file('tls-typo.yaml', 'tls:\n  crt: /a\n'))).toThrow(
      /tls\.crt .* is not a known key/,
    );
  });

  it('takes nested groups from the file: S3 storage, PostgreSQL state, BuildKit workers', () => {
    const cfg = file(
      'scale.yaml',
      [
        'state:',
        '  postgresUrl: postgres://oc:pw@db.internal:5432/opencloud',
        'storage:',
        '  s3:',
        '    bucket: oc-blobs',
        '    endpoint: http://127.0.0.1:8333',
        '    accessKeyId: AKID',
        '    secretAccessKey: SECRET',
        'buildkit:',
        '  workers: [unix:///run/buildkit/buildkitd.sock, tcp://builder-2.internal:1234]',
        '  tls: { ca: /etc/oc/ca.pem, cert: /etc/oc/client.pem, key: /etc/oc/client.key }',
        '',
      ].join('\n'),
    );
    const { config } = loadConfig({ configFile: cfg, env: {} });
    expect(config.state.postgresUrl).toBe('postgres://oc:pw@db.internal:5432/opencloud');
    expect(config.storage.s3).toMatchObject({
      bucket: 'oc-blobs',
      endpoint: 'http://127.0.0.1:8333',
      region: 'us-east-1',
      prefix: '',
      forcePathStyle: true,
      redirect: false,
      partSize: 8 * 1024 * 1024,
    });
    expect(config.buildkit.workers).toEqual([
      'unix:///run/buildkit/buildkitd.sock',
      'tcp://builder-2.internal:1234',
    ]);
    expect(config.buildkit.tls).toMatchObject({ ca: '/etc/oc/ca.pem', serverName: undefined });
    expect(() =>
      loadConfig({ configFile: file('deep-typo.yaml', 'storage:\n  s3:\n    bukket: x\n'), env: {} }),
    ).toThrow(/storage\.s3\.bukket .* is not a known key/);
  });

  it('refuses half-given S3 credentials, S3 keys without a bucket, and TCP workers without TLS', () => {
    const load = (env: Record<string, string>) => loadConfig({ configFile: noFile, env });
    expect(load({}).config.storage.s3.bucket).toBeUndefined();
    expect(load({}).config.state.postgresUrl).toBeUndefined();
    expect(() =>
      load({ OPENCLOUD_STORAGE_S3_BUCKET: 'b1b', OPENCLOUD_STORAGE_S3_ACCESS_KEY_ID: 'x' }),
    ).toThrow(/storage\.s3\.accessKeyId is set .* but storage\.s3\.secretAccessKey is not/);
    expect(() => load({ OPENCLOUD_STORAGE_S3_ENDPOINT: 'http://s3:8333' })).toThrow(
      /storage\.s3\.endpoint set .* but storage\.s3\.bucket is not/,
    );
    expect(() => load({ OPENCLOUD_STORAGE_S3_BUCKET: 'Bad_Bucket' })).toThrow(/an S3 bucket name/);
    expect(() => load({ OPENCLOUD_STATE_POSTGRES_URL: 'mysql://x/y' })).toThrow(
      /a postgres:\/\/ or postgresql:\/\/ URL/,
    );
    expect(() => load({ OPENCLOUD_BUILDKIT_WORKERS: 'tcp://10.0.0.2:1234' })).toThrow(
      /over TCP use mutual TLS: set all of .*missing: buildkit\.tls\.ca, buildkit\.tls\.cert, buildkit\.tls\.key/,
    );
    expect(() => load({ OPENCLOUD_BUILDKIT_WORKERS: 'http://10.0.0.2:1234' })).toThrow(
      /a list of BuildKit addresses/,
    );
    expect(() => load({ OPENCLOUD_BUILDKIT_WORKERS: 'unix:///a.sock,unix:///a.sock' })).toThrow(
      /each address once/,
    );
    expect(
      load({ OPENCLOUD_BUILDKIT_WORKERS: 'unix:///a.sock, unix:///b.sock' }).config.buildkit.workers,
    ).toEqual(['unix:///a.sock', 'unix:///b.sock']);
  });

  it('trustProxy is a boolean, off by default', () => {
    expect(loadConfig({ configFile: noFile, env: {} }).config.trustProxy).toBe(false);
    expect(loadConfig({ configFile: noFile, env: { OPENCLOUD_TRUST_PROXY: 'true' } }).config.trustProxy).toBe(
      true,
    );
    expect(() => loadConfig({ configFile: noFile, env: { OPENCLOUD_TRUST_PROXY: '10.0.0.1' } })).toThrow(
      /trustProxy = "10\.0\.0\.1" .*true or false/,
    );
  });

  it('webhooks.allowedHosts takes host names, addresses and CIDRs; a bad CIDR stops start-up', () => {
    expect(loadConfig({ configFile: noFile, env: {} }).config.webhooks.allowedHosts).toEqual([]);
    const cfg = file(
      'hooks.yaml',
      'webhooks:\n  allowedHosts: [hooks.internal, 10.0.5.0/24, "fd00:1::/64"]\n',
    );
    expect(loadConfig({ configFile: cfg, env: {} }).config.webhooks.allowedHosts).toEqual([
      'hooks.internal',
      '10.0.5.0/24',
      'fd00:1::/64',
    ]);
    const env = { OPENCLOUD_WEBHOOKS_ALLOWED_HOSTS: '127.0.0.1, ::1' };
    expect(loadConfig({ configFile: noFile, env }).config.webhooks.allowedHosts).toEqual([
      '127.0.0.1',
      '::1',
    ]);
    const bad = file('bad-hooks.yaml', 'webhooks:\n  allowedHosts: [hooks.internal, 10.0.0.0/33]\n');
    expect(() => loadConfig({ configFile: bad, env: {} })).toThrow(
      /webhooks\.allowedHosts = \["hooks\.internal","10\.0\.0\.0\/33"\] \(from .*bad-hooks\.yaml\) is not valid: .*"10\.0\.0\.0\/33": the prefix length of an IPv4 range is 0 to 32/,
    );
    expect(() =>
      loadConfig({ configFile: noFile, env: { OPENCLOUD_WEBHOOKS_ALLOWED_HOSTS: '10.1.0.0/8' } }),
    ).toThrow(/"10\.1\.0\.0\/8" has bits set after the first 8: the range is 10\.0\.0\.0\/8/);
  });

  it('maps keys to OPENCLOUD_* names', () => {
    expect(envName('dataDir')).toBe('OPENCLOUD_DATA_DIR');
    expect(envName('buildkit.socket')).toBe('OPENCLOUD_BUILDKIT_SOCKET');
    expect(envName('insecureNoAuth')).toBe('OPENCLOUD_INSECURE_NO_AUTH');
    expect(envName('tls.cert')).toBe('OPENCLOUD_TLS_CERT');
    expect(envName('trustProxy')).toBe('OPENCLOUD_TRUST_PROXY');
  });
});
