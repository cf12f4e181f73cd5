import { describe, expect, it } from 'vitest';
import {
  Counter,
  escapeHelp,
  escapeLabelValue,
  formatValue,
  Histogram,
  MetricRegistry,
} from './exposition.js';

describe('escaping and values', () => {
  it('escapes backslash, double quote and line feed in label values', () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
    expect(escapeLabelValue('plain/{name}')).toBe('plain/{name}');
  });

  it('escapes backslash and line feed in HELP, not quotes', () => {
    expect(escapeHelp('say "hi"\\\nnext')).toBe('say "hi"\\\\\\nnext');
  });

  it('writes infinities and NaN the Prometheus way', () => {
    expect(formatValue(Infinity)).toBe('+Inf');
    expect(formatValue(-Infinity)).toBe('-Inf');
    expect(formatValue(NaN)).toBe('NaN');
    expect(formatValue(0.005)).toBe('0.005');
    expect(formatValue(42)).toBe('42');
  });

  it('renders escaped label values in samples', () => {
    const r = new MetricRegistry();
    r.counter('t_total', 'help', ['path']).inc({ path: 'a"b\\c\nd' }, 2);
    expect(r.render()).toContain('t_total{path="a\\"b\\\\c\\nd"} 2\n');
  });
});

describe('families', () => {
  it('writes HELP and TYPE once per family, before its samples, even with many series', () => {
    const r = new MetricRegistry();
    const c = r.counter('req_total', 'Requests.', ['method']);
    c.inc({ method: 'GET' });
    c.inc({ method: 'PUT' }, 3);
    c.inc({ method: 'GET' });
    r.gauge('up', 'Up.').set(undefined, 1);
    expect(r.render()).toBe(
      [
        '# HELP req_total Requests.',
        '# TYPE req_total counter',
        'req_total{method="GET"} 2',
        'req_total{method="PUT"} 3',
        '# HELP up Up.',
        '# TYPE up gauge',
        'up 1',
        '',
      ].join('\n'),
    );
  });

  it('renders a family without series as HELP and TYPE only', () => {
    const r = new MetricRegistry();
    r.counter('none_total', 'Nothing yet.', ['x']);
    expect(r.render()).toBe('# HELP none_total Nothing yet.\n# TYPE none_total counter\n');
  });

  it('refuses wrong labels, bad names, duplicates and decreasing counters', () => {
    const r = new MetricRegistry();
    const c = r.counter('a_total', 'A.', ['x']);
    expect(() => c.inc({ y: '1' })).toThrow(/takes labels \[x\]/);
    expect(() => c.inc({})).toThrow();
    expect(() => c.inc({ x: '1' }, -1)).toThrow(/only goes up/);
    expect(() => r.counter('a_total', 'again')).toThrow(/twice/);
    expect(() => new Counter('1bad', 'x')).toThrow(/metric name/);
    expect(() => new Counter('ok', 'x', ['__reserved'])).toThrow(/label name/);
    expect(() => new Histogram('h', 'x', [1], ['le'])).toThrow(/"le"/);
    expect(() => new Histogram('h', 'x', [2, 1])).toThrow(/increasing/);
  });

  it('keeps label values in the declared order whatever order they are given in', () => {
    const r = new MetricRegistry();
    const c = r.counter('o_total', 'O.', ['b', 'a']);
    c.inc({ a: '1', b: '2' });
    c.inc({ b: '2', a: '1' });
    expect(r.render()).toContain('o_total{b="2",a="1"} 2\n');
  });
});

describe('histograms', () => {
  it('writes cumulative buckets, +Inf equal to the count, the sum and the count', () => {
    const r = new MetricRegistry();
    const h = r.histogram('lat_seconds', 'Latency.', [0.1, 0.5, 1], ['route']);
    for (const v of [0.05, 0.1, 0.3, 0.7, 2, 5]) h.observe({ route: '/x' }, v);
    expect(r.render()).toBe(
      [
        '# HELP lat_seconds Latency.',
        '# TYPE lat_seconds histogram',
        'lat_seconds_bucket{route="/x",le="0.1"} 2',
        'lat_seconds_bucket{route="/x",le="0.5"} 3',
        'lat_seconds_bucket{route="/x",le="1"} 4',
        'lat_seconds_bucket{route="/x",le="+Inf"} 6',
        'lat_seconds_sum{route="/x"} 8.15',
        'lat_seconds_count{route="/x"} 6',
        '',
      ].join('\n'),
    );
  });

  it('counts a value equal to a bound in that bucket (le is inclusive) and ignores NaN', () => {
    const r = new MetricRegistry();
    const h = r.histogram('h', 'H.', [1, 2]);
    h.observe(undefined, 1);
    h.observe(undefined, NaN);
    const out = r.render();
    expect(out).toContain('h_bucket{le="1"} 1\n');
    expect(out).toContain('h_bucket{le="2"} 1\n');
    expect(out).toContain('h_bucket{le="+Inf"} 1\n');
    expect(out).toContain('h_count 1\n');
  });

  it('exposes a touched histogram with zero observations', () => {
    const r = new MetricRegistry();
    r.histogram('z', 'Z.', [1]).touch();
    expect(r.render()).toContain('z_bucket{le="1"} 0\nz_bucket{le="+Inf"} 0\nz_sum 0\nz_count 0\n');
  });
});

describe('scrape', () => {
  it('runs collectors before rendering and survives a failing one', async () => {
    const r = new MetricRegistry();
    const g = r.gauge('g', 'G.');
    r.collect(async () => g.set(undefined, 7));
    r.collect(() => {
      throw new Error('boom');
    });
    const errors: unknown[] = [];
    const out = await r.scrape((e) => errors.push(e));
    expect(out).toContain('g 7\n');
    expect(errors).toHaveLength(1);
  });
});
