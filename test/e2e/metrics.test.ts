// GET /metrics against a running server: exact request counts per route template and status,
// body bytes in and out (a chunked upload and a hijacked blob download included), the registry
// state gauges, garbage collection runs, daemon reachability, a line-by-line check that the
// output is valid Prometheus text format (0.0.4), x-request-id on every response, and who may
// scrape once authentication is on.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startServe, type ServeHandle } from '../support/cli.js';
import { freePort } from '../support/ports.js';
import { missing } from '../support/env.js';
import { RegistryClient, sha256 } from '../support/registry-client.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const VALUE = /^(?:[+-]?Inf|NaN|[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)$/;

function parseValue(raw: string, line: string): number {
  if (!VALUE.test(raw)) throw new Error(`bad value ${JSON.stringify(raw)} in: ${line}`);
  if (raw.endsWith('Inf')) return raw.startsWith('-') ? -Infinity : Infinity;
  return Number(raw);
}

/** `{a="x",b="y\"z"}` starting at text[0] → labels and the rest of the line. */
function parseLabels(text: string, line: string): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let i = 1;
  const fail = (why: string): never => {
    throw new Error(`${why} at column ${i} in: ${line}`);
  };
  while (text[i] !== '}') {
    const eq = text.indexOf('=', i);
    if (eq < 0) fail('label without "="');
    const name = text.slice(i, eq);
    if (!LABEL_NAME.test(name)) fail(`bad label name ${JSON.stringify(name)}`);
    if (name in labels) fail(`label ${name} given twice`);
    i = eq + 1;
    if (text[i] !== '"') fail('label value not quoted');
    i++;
    let value = '';
    for (;;) {
      const c = text[i];
      if (c === undefined || c === '\n') fail('unterminated label value');
      if (c === '"') break;
      if (c === '\\') {
        const e = text[i + 1];
        if (e === '\\') value += '\\';
        else if (e === '"') value += '"';
        else if (e === 'n') value += '\n';
        else fail(`bad escape \\${e ?? ''}`);
        i += 2;
      } else {
        value += c;
        i++;
      }
    }
    labels[name] = value;
    i++; // the closing quote
    if (text[i] === ',') i++;
    else if (text[i] !== '}') fail('expected "," or "}" after a label');
  }
  return { labels, rest: text.slice(i + 1) };
}

/**
 * Checks the text exposition format line by line and returns the samples: HELP and TYPE at
 * most once per family and TYPE before its samples, a family's samples together, valid names,
 * labels, escapes and values, no duplicate series, and histograms with cumulative buckets whose
 * +Inf bucket equals _count.
 */
function checkExposition(text: string): Sample[] {
  if (!text.endsWith('\n')) throw new Error('the exposition does not end with a line feed');
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const closed = new Set<string>();
  const seen = new Set<string>();
  const samples: Sample[] = [];
  let current: string | undefined;
  const familyOf = (name: string): string => {
    for (const suffix of ['_bucket', '_sum', '_count']) {
      const base = name.slice(0, -suffix.length);
      if (name.endsWith(suffix) && types.get(base) === 'histogram') return base;
    }
    return name;
  };
  const enter = (family: string, line: string) => {
    if (family === current) return;
    if (closed.has(family)) throw new Error(`family ${family} is split in two: ${line}`);
    if (current) closed.add(current);
    current = family;
  };
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') throw new Error('empty line in the exposition');
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) continue; // a plain comment
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      if (!METRIC_NAME.test(name)) throw new Error(`bad metric name in: ${line}`);
      enter(name, line);
      if (kind === 'HELP') {
        if (helps.has(name)) throw new Error(`second HELP for ${name}`);
        if (rest.replace(/\\[\\n]/g, '').includes('\\')) throw new Error(`bad escape in HELP: ${line}`);
        helps.add(name);
      } else {
        if (types.has(name)) throw new Error(`second TYPE for ${name}`);
        if (samples.some((s) => familyOf(s.name) === name)) throw new Error(`TYPE after samples: ${line}`);
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest))
          throw new Error(`bad type in: ${line}`);
        types.set(name, rest);
      }
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(.*)$/.exec(line);
    if (!m) throw new Error(`not a sample: ${line}`);
    const name = m[1] as string;
    let rest = m[2] as string;
    let labels: Record<string, string> = {};
    if (rest.startsWith('{')) ({ labels, rest } = parseLabels(rest, line));
    const parts = rest.split(' ');
    if (parts[0] !== '' || parts.length < 2 || parts.length > 3)
      throw new Error(`expected " value [timestamp]": ${line}`);
    const value = parseValue(parts[1] as string, line);
    if (parts[2] !== undefined && !/^-?\d+$/.test(parts[2])) throw new Error(`bad timestamp: ${line}`);
    const family = familyOf(name);
    enter(family, line);
    const type = types.get(family);
    if (type === 'counter' && !(value >= 0)) throw new Error(`negative counter: ${line}`);
    if (type === 'histogram' && name === family) throw new Error(`bare histogram sample: ${line}`);
    if (type === 'histogram' && name.endsWith('_bucket') && !('le' in labels))
      throw new Error(`bucket without le: ${line}`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) throw new Error(`duplicate series: ${line}`);
    seen.add(key);
    samples.push({ name, labels, value });
  }
  for (const [family, type] of types) {
    if (type !== 'histogram') continue;
    const series = new Map<string, { buckets: [number, number][]; count?: number }>();
    const keyOf = (l: Record<string, string>) =>
      JSON.stringify(
        Object.entries(l)
          .filter(([k]) => k !== 'le')
          .sort(),
      );
    for (const s of samples.filter((x) => familyOf(x.name) === family)) {
      const entry = series.get(keyOf(s.labels)) ?? { buckets: [] };
      series.set(keyOf(s.labels), entry);
      if (s.name.endsWith('_bucket')) entry.buckets.push([parseValue(s.labels.le as string, 'le'), s.value]);
      if (s.name.endsWith('_count')) entry.count = s.value;
    }
    for (const [k, { buckets, count }] of series) {
      const ordered = [...buckets].sort((a, b) => a[0] - b[0]);
      if (ordered.at(-1)?.[0] !== Infinity) throw new Error(`${family}${k} has no +Inf bucket`);
      ordered.forEach(([, c], i) => {
        if (i > 0 && c < (ordered[i - 1] as [number, number])[1])
          throw new Error(`${family}${k}: buckets are not cumulative`);
      });
      if (ordered.at(-1)?.[1] !== count) throw new Error(`${family}${k}: +Inf bucket differs from _count`);
    }
  }
  return samples;
}

/** The value of the one sample with exactly these labels; undefined when there is none. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const want = JSON.stringify(Object.entries(labels).sort());
  return samples.find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want)
    ?.value;
}

describe('the exposition checker itself', () => {
  it('accepts valid text and refuses the usual mistakes', () => {
    const ok = [
      '# HELP h_seconds Latency "quoted" \\\\ and \\n.',
      '# TYPE h_seconds histogram',
      'h_seconds_bucket{route="/a\\"b",le="0.1"} 1',
      'h_seconds_bucket{route="/a\\"b",le="+Inf"} 2',
      'h_seconds_sum{route="/a\\"b"} 0.3',
      'h_seconds_count{route="/a\\"b"} 2',
      '',
    ].join('\n');
    expect(value(checkExposition(ok), 'h_seconds_count', { route: '/a"b' })).toBe(2);
    const bad = [
      '# TYPE c counter\n# TYPE c counter\n',
      '# TYPE c counter\nc{a="x} 1\n',
      '# TYPE c counter\nc{a="\\t"} 1\n',
      '# TYPE c counter\nc one\n',
      '# TYPE c counter\nc 1\nc 2\n',
      '# TYPE c counter\nc 1\n# TYPE d gauge\nd 1\nc{x="1"} 1\n',
      '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\n',
      '# TYPE h histogram\nh_bucket{le="1"} 1\nh_count 1\n',
      '# TYPE c counter\nc 1',
      '# HELP c bad \\t escape\n# TYPE c counter\n',
      '# TYPE c counter\nc{__x="1",x="2",x="3"} 1\n',
    ];
    for (const text of bad) expect(() => checkExposition(text), text).toThrow();
  });
});

describe('metrics', () => {
  let server: ServeHandle;
  let reg: RegistryClient;
  const dataDir = mkdtempSync(join(tmpdir(), 'opencloud-metrics-'));

  beforeAll(async () => {
    // No scheduled collection: the runs counted are the test's.
    server = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir], {
      env: { OPENCLOUD_GC_INTERVAL: '0' },
    });
    reg = new RegistryClient(server.url);
  });
  afterAll(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
  });

  it('counts requests by route template and status, bytes, state, collection and daemons', async () => {
    const repo = 'metrics/app';
    // A config blob and an orphan pushed monolithically; the layer through a session: PATCH
    // with a streamed (chunked) body, then the completing PUT with the last bytes.
    const config = Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
    );
    const orphan = 'nothing references this';
    const configDigest = await reg.pushBlob(repo, config);
    await reg.pushBlob(repo, orphan);
    const start = await reg.req('POST', `/v2/${repo}/blobs/uploads/`);
    expect(start.status).toBe(202);
    const location = start.headers.get('location') as string;
    const streamed = await fetch(server.url + location, {
      method: 'PATCH',
      body: new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode('layer '));
          c.enqueue(new TextEncoder().encode('bytes, '));
          c.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(202);
    const layer = 'layer bytes, streamed';
    const layerDigest = sha256(layer);
    const done = await reg.req('PUT', `${location}?digest=${layerDigest}`, { body: 'streamed' });
    expect(done.status).toBe(201);
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: configDigest,
        size: config.length,
      },
      layers: [
        { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length },
      ],
    });
    const put = await reg.pushManifest(repo, 'v1', manifest, 'application/vnd.oci.image.manifest.v1+json');
    expect(put.status).toBe(201);

    const get = await reg.req('GET', `/v2/${repo}/blobs/${layerDigest}`); // hijacked, sent from the file
    expect(await get.text()).toBe(layer);
    expect((await reg.req('HEAD', `/v2/${repo}/blobs/${layerDigest}`)).status).toBe(200);
    expect((await reg.req('GET', `/v2/${repo}/manifests/missing`)).status).toBe(404);
    expect((await reg.req('GET', `/v2/${repo}/tags/list`)).status).toBe(200);
    expect((await reg.req('GET', '/v2/_catalog')).status).toBe(200);
    expect((await reg.req('GET', '/v2/')).status).toBe(200);

    const gc = (body: object) =>
      fetch(`${server.url}/api/v1/registry/gc`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await gc({ dryRun: true, gracePeriod: 0 })).status).toBe(200);
    const real = await gc({ gracePeriod: 0 });
    expect(real.status).toBe(200);
    const report = (await real.json()) as { bytesReclaimed: number; blobs: { digest: string }[] };
    expect(report.blobs.map((b) => b.digest)).toEqual([sha256(orphan)]);
    expect(report.bytesReclaimed).toBe(Buffer.byteLength(orphan));

    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await res.text();
    const s = checkExposition(text);
    const requests = (route: string, method: string, status: string) =>
      value(s, 'opencloud_http_requests_total', { route, method, status });

    expect(requests('/v2/{name}/blobs/uploads/', 'POST', '201')).toBe(2);
    expect(requests('/v2/{name}/blobs/uploads/', 'POST', '202')).toBe(1);
    expect(requests('/v2/{name}/blobs/uploads/{id}', 'PATCH', '202')).toBe(1);
    expect(requests('/v2/{name}/blobs/uploads/{id}', 'PUT', '201')).toBe(1);
    expect(requests('/v2/{name}/manifests/{reference}', 'PUT', '201')).toBe(1);
    expect(requests('/v2/{name}/manifests/{reference}', 'GET', '404')).toBe(1);
    expect(requests('/v2/{name}/blobs/{digest}', 'GET', '200')).toBe(1);
    expect(requests('/v2/{name}/blobs/{digest}', 'HEAD', '200')).toBe(1);
    expect(requests('/v2/{name}/tags/list', 'GET', '200')).toBe(1);
    expect(requests('/v2/_catalog', 'GET', '200')).toBe(1);
    expect(requests('/v2/', 'GET', '200')).toBe(1);
    expect(requests('/api/v1/registry/gc', 'POST', '200')).toBe(2);
    // This scrape is counted once its response is finished, so not in its own output.
    expect(requests('/metrics', 'GET', '200')).toBeUndefined();
    expect(text).not.toContain(repo); // names, digests and session ids never become labels
    expect(
      value(s, 'opencloud_http_request_duration_seconds_count', {
        route: '/v2/{name}/blobs/uploads/',
        method: 'POST',
        status: '201',
      }),
    ).toBe(2);

    const bytesIn = (route: string, method: string) =>
      value(s, 'opencloud_http_request_bytes_total', { route, method });
    const bytesOut = (route: string, method: string) =>
      value(s, 'opencloud_http_response_bytes_total', { route, method });
    expect(bytesIn('/v2/{name}/blobs/uploads/', 'POST')).toBe(config.length + Buffer.byteLength(orphan));
    expect(bytesIn('/v2/{name}/blobs/uploads/{id}', 'PATCH')).toBe('layer bytes, '.length); // chunked
    expect(bytesIn('/v2/{name}/blobs/uploads/{id}', 'PUT')).toBe('streamed'.length);
    expect(bytesIn('/v2/{name}/manifests/{reference}', 'PUT')).toBe(Buffer.byteLength(manifest));
    expect(bytesOut('/v2/{name}/blobs/{digest}', 'GET')).toBe(layer.length);
    expect(bytesOut('/v2/{name}/blobs/{digest}', 'HEAD')).toBe(0);
    expect(bytesOut('/v2/', 'GET')).toBe(2);

    expect(value(s, 'opencloud_registry_repositories')).toBe(1);
    expect(value(s, 'opencloud_registry_manifests')).toBe(1);
    expect(value(s, 'opencloud_registry_tags')).toBe(1);
    // A manifest's bytes are stored as a blob too.
    expect(value(s, 'opencloud_registry_blobs')).toBe(3);
    expect(value(s, 'opencloud_registry_blob_bytes')).toBe(
      config.length + layer.length + Buffer.byteLength(manifest),
    );
    expect(value(s, 'opencloud_registry_upload_sessions')).toBe(0);

    expect(value(s, 'opencloud_gc_runs_total', { outcome: 'success' })).toBe(1);
    expect(value(s, 'opencloud_gc_runs_total', { outcome: 'dry_run' })).toBe(1);
    expect(value(s, 'opencloud_gc_runs_total', { outcome: 'failure' })).toBe(0);
    expect(value(s, 'opencloud_gc_duration_seconds_count')).toBe(2);
    expect(value(s, 'opencloud_gc_reclaimed_bytes_total')).toBe(Buffer.byteLength(orphan));
    expect(value(s, 'opencloud_builds_total', { outcome: 'succeeded' })).toBe(0);

    if (!missing('containerd')) expect(text).toContain('opencloud_daemon_up{daemon="containerd"} 1\n');
    expect(value(s, 'opencloud_daemon_up', { daemon: 'buildkit' })).toBe(missing('buildkit') ? 0 : 1);
    expect(s.find((x) => x.name === 'opencloud_build_info')?.labels).toMatchObject({
      node: process.versions.node,
      buildkit: expect.stringMatching(/^v\d/) as unknown as string,
    });
    expect(value(s, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(value(s, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(value(s, 'nodejs_eventloop_lag_max_seconds')).toBeGreaterThanOrEqual(0);
    expect(value(s, 'opencloud_uptime_seconds')).toBeGreaterThan(0);

    // The next scrape shows the previous one.
    const again = checkExposition(await (await fetch(`${server.url}/metrics`)).text());
    expect(
      value(again, 'opencloud_http_requests_total', { route: '/metrics', method: 'GET', status: '200' }),
    ).toBe(1);
  });

  it('counts install runs by action and outcome', async () => {
    const installerRuns = async (outcome: string) =>
      value(
        checkExposition(await (await fetch(`${server.url}/metrics`)).text()),
        'opencloud_installer_runs_total',
        {
          action: 'plan',
          outcome,
        },
      ) ?? 0;
    expect((await installerRuns('ok')) + (await installerRuns('failed'))).toBe(0);
    const start = await fetch(`${server.url}/api/v1/services/container-registry/plan`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(start.status).toBe(202);
    let counted = 0;
    for (const deadline = Date.now() + 60_000; counted === 0 && Date.now() < deadline;) {
      await new Promise((r) => setTimeout(r, 200));
      counted = (await installerRuns('ok')) + (await installerRuns('failed'));
    }
    // A plan reads the host only; whether it ends ok or failed depends on this machine, not on us.
    expect(counted).toBe(1);
    expect(await installerRuns('error')).toBe(0);
  }, 90_000);

  it('puts x-request-id on every response: the one sent, or a generated one', async () => {
    const echoed = await fetch(`${server.url}/api/v1/no-such-thing`, {
      headers: { 'x-request-id': 'trace-42' },
    });
    expect(echoed.status).toBe(404);
    expect(echoed.headers.get('x-request-id')).toBe('trace-42');
    const body = (await echoed.json()) as { error: Record<string, unknown> };
    expect(body.error.code).toBe('NOT_FOUND'); // the id is in the header only (envelope.ts)
    const generated = await fetch(`${server.url}/healthz`);
    expect(generated.headers.get('x-request-id')).toMatch(/\S/);
    const registryError = await reg.req('GET', '/v2/metrics/app/blobs/sha256:nope');
    expect(registryError.status).toBe(400);
    expect(registryError.headers.get('x-request-id')).toMatch(/\S/);
    const digest = await reg.pushBlob('metrics/ids', 'id me');
    const download = await reg.req('GET', `/v2/metrics/ids/blobs/${digest}`); // hijacked reply
    expect(download.headers.get('x-request-id')).toMatch(/\S/);
    await download.arrayBuffer();
  });

  const noBuilder = missing('buildkit', 'containerd');
  it.skipIf(noBuilder)(
    'counts builds by outcome with their queue wait and duration',
    async () => {
      const build = async (dockerfile: string) => {
        const res = await fetch(`${server.url}/api/v1/builds`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ repository: 'metrics/built', dockerfile, files: { 'a.txt': 'a' } }),
        });
        expect(res.status).toBe(202);
        const { id } = (await res.json()) as { id: string };
        for (let i = 0; i < 600; i++) {
          const b = (await (await fetch(`${server.url}/api/v1/builds/${id}`)).json()) as { state: string };
          if (!['queued', 'running'].includes(b.state)) return b.state;
          await new Promise((r) => setTimeout(r, 200));
        }
        throw new Error(`build ${id} did not finish`);
      };
      expect(await build('FROM scratch\nCOPY a.txt /a.txt\n')).toBe('succeeded');
      expect(await build('FROM scratch\nCOPY missing.txt /x\n')).toBe('failed');
      const s = checkExposition(await (await fetch(`${server.url}/metrics`)).text());
      expect(value(s, 'opencloud_builds_total', { outcome: 'succeeded' })).toBe(1);
      expect(value(s, 'opencloud_builds_total', { outcome: 'failed' })).toBe(1);
      expect(value(s, 'opencloud_builds_total', { outcome: 'canceled' })).toBe(0);
      expect(value(s, 'opencloud_build_queue_wait_seconds_count')).toBe(2);
      expect(value(s, 'opencloud_build_duration_seconds_count')).toBe(2);
      expect(value(s, 'opencloud_build_duration_seconds_sum')).toBeGreaterThan(0);
    },
    120_000,
  );
});

describe('metrics with authentication on', () => {
  let server: ServeHandle;
  const dataDir = mkdtempSync(join(tmpdir(), 'opencloud-metrics-auth-'));
  const pw: Record<string, string> = {};
  let token = '';
  let metricsPort = 0;
  const basic = (user: string) => `Basic ${Buffer.from(`${user}:${pw[user]}`).toString('base64')}`;
  const scrape = (authorization?: string) =>
    fetch(`${server.url}/metrics`, { headers: authorization ? { authorization } : {} });

  beforeAll(async () => {
    for (const [name, admin] of [
      ['root', true],
      ['dev', false],
    ] as const) {
      const r = await runCli([
        'users',
        'add',
        name,
        '--generate',
        '--data-dir',
        dataDir,
        ...(admin ? ['--admin'] : []),
      ]);
      expect(r.code, r.stderr).toBe(0);
      pw[name] = /password: (\S+)/.exec(r.stdout)?.[1] as string;
    }
    const t = await runCli([
      'users',
      'token',
      'create',
      'dev',
      'prometheus',
      '--scope',
      'none/*:pull',
      '--data-dir',
      dataDir,
    ]);
    expect(t.code, t.stderr).toBe(0);
    token = /(oc_\S+)/.exec(t.stdout)?.[1] as string;
    metricsPort = await freePort();
    server = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir], {
      env: { OPENCLOUD_METRICS_LISTEN: `127.0.0.1:${metricsPort}` },
    });
  });
  afterAll(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
  });

  it('needs an admin or an API token', async () => {
    const anonymous = await scrape();
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Basic realm="opencloud"');
    expect((await scrape('Basic ' + Buffer.from('root:wrong').toString('base64'))).status).toBe(401);
    const nonAdmin = await scrape(basic('dev'));
    expect(nonAdmin.status).toBe(403);
    expect(((await nonAdmin.json()) as { error: { code: string } }).error.code).toBe('FORBIDDEN');
    const admin = await scrape(basic('root'));
    expect(admin.status).toBe(200);
    checkExposition(await admin.text());
    const bearer = await scrape(`Bearer ${token}`);
    expect(bearer.status).toBe(200);
    const s = checkExposition(await bearer.text());
    expect(
      value(s, 'opencloud_http_requests_total', { route: '/metrics', method: 'GET', status: '401' }),
    ).toBe(2);
    expect(
      value(s, 'opencloud_http_requests_total', { route: '/metrics', method: 'GET', status: '403' }),
    ).toBe(1);
    expect((await scrape(`Basic ${Buffer.from(`dev:${token}`).toString('base64')}`)).status).toBe(200);
  });

  it('metrics.listen serves /metrics alone, without credentials, on its own address', async () => {
    const side = `http://127.0.0.1:${metricsPort}`;
    const res = await fetch(`${side}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const s = checkExposition(await res.text());
    expect(value(s, 'opencloud_registry_repositories')).toBe(0);
    expect((await fetch(`${side}/v2/`)).status).toBe(404);
    expect((await fetch(`${side}/api/v1/users`)).status).toBe(404);
    expect((await fetch(`${side}/metrics`, { method: 'POST' })).status).toBe(404);
    expect((await scrape()).status).toBe(401); // the main address still wants credentials
  });
});
