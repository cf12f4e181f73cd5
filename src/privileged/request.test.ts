// The privileged helper's request validation: what it accepts (with the HTTP API's defaults) and
// everything it refuses, each with the reason and what the audit entry can still name.
import { describe, expect, it } from 'vitest';
import { PINNED_SHA256 } from '../installer/components/buildkit-pins.js';
import { emptyDocument } from '../ledger/document.js';
import { MAX_REQUEST_BYTES } from './protocol.js';
import { parseRequest, requestOptions, untrustedChecksum, type ParsedRequest } from './request.js';

const RUN_ID = '0b6f7c1e-8d2a-4c55-9a3e-2f4b6d8e0a1c';
const base = {
  op: 'services.enable',
  service: 'container-registry',
  runId: RUN_ID,
  actor: 'admin',
  address: '127.0.0.1',
  options: {},
};
const parse = (v: unknown) => parseRequest(typeof v === 'string' ? v : JSON.stringify(v));

function accepted(p: ParsedRequest) {
  if (!p.ok) throw new Error(`refused: ${p.reason}`);
  return p.request;
}
function refused(p: ParsedRequest) {
  if (p.ok) throw new Error(`accepted: ${JSON.stringify(p.request)}`);
  return p;
}

describe('service requests', () => {
  it('accepts the three ops with the API defaults filled in', () => {
    for (const op of ['services.plan', 'services.enable', 'services.disable']) {
      const r = accepted(parse({ ...base, op }));
      expect(r).toEqual({
        ...base,
        op,
        options: { source: 'release', init: 'auto', purge: false, readyTimeout: 60, lockTimeout: 120 },
      });
    }
  });

  it('accepts every option the HTTP API has', () => {
    const options = {
      source: 'tarball',
      tarball: '/srv/buildkit.tgz',
      sha256: (PINNED_SHA256.amd64 as string).toUpperCase(),
      mirror: 'https://mirror.example/buildkit',
      init: 'systemd',
      purge: true,
      readyTimeout: 30,
      lockTimeout: 600,
    };
    const r = accepted(parse({ ...base, op: 'services.disable', options }));
    expect(r).toMatchObject({ options: { ...options, sha256: PINNED_SHA256.amd64 } });
  });

  it('takes a shell-looking tarball path as just a path (it only ever becomes one argv element)', () => {
    const r = accepted(parse({ ...base, options: { source: 'tarball', tarball: '/x; rm -rf /' } }));
    expect(r).toMatchObject({ options: { tarball: '/x; rm -rf /' } });
  });

  it('round-trips the server options', () => {
    const opts = requestOptions({
      source: 'go',
      init: 'direct',
      readyTimeout: 5,
      lockTimeout: 7,
      dataDir: '/var/lib/opencloud',
      registryHosts: ['127.0.0.1:5000'],
      purge: true,
    });
    expect(accepted(parse({ ...base, options: opts }))).toMatchObject({ options: opts });
  });

  const refusals: [string, unknown, RegExp][] = [
    ['an unknown op', { ...base, op: 'exec' }, /^op must be one of services\.plan/],
    ['a shell command as op', { ...base, op: 'services.enable; id' }, /^op must be one of/],
    ['another service', { ...base, service: 'ssh' }, /^service must be one of container-registry/],
    ['an extra top-level key', { ...base, command: '/bin/sh' }, /^command is not a known key/],
    ['an unknown option', { ...base, options: { args: ['--foo'] } }, /^options\.args is not a known key/],
    ['a missing runId', { ...base, runId: undefined }, /^runId must be a lowercase UUID/],
    ['a runId with a path in it', { ...base, runId: '../../etc/passwd' }, /^runId must be a lowercase UUID/],
    ['an address that is no IP', { ...base, address: 'evil.example' }, /^address must be an IP address/],
    ['a missing actor', { ...base, actor: '' }, /^actor must be a non-empty string/],
    ['an actor with a newline', { ...base, actor: 'a\nb' }, /^actor must not contain control characters/],
    ['missing options', { ...base, options: undefined }, /^options is required/],
    ['options as an array', { ...base, options: [] }, /^options must be an object/],
    ['a relative tarball', { ...base, options: { source: 'tarball', tarball: 'x.tgz' } }, /absolute path/],
    ['a tarball as a number', { ...base, options: { tarball: 5 } }, /^options\.tarball must be a non-empty/],
    ['tarball source without one', { ...base, options: { source: 'tarball' } }, /tarball is required/],
    ['an unknown source', { ...base, options: { source: 'curl|sh' } }, /^options\.source must be one of/],
    ['a checksum that is not hex', { ...base, options: { sha256: 'z'.repeat(64) } }, /64 hex digits/],
    ['a file: mirror', { ...base, options: { mirror: 'file:///etc/shadow' } }, /http:\/\/ or https:\/\//],
    ['purge as a string', { ...base, options: { purge: 'yes' } }, /^options\.purge must be true or false/],
    ['a zero timeout', { ...base, options: { readyTimeout: 0 } }, /readyTimeout must be a number/],
    ['a timeout of days', { ...base, options: { lockTimeout: 86400 } }, /at most 3600/],
    ['a timeout as a string', { ...base, options: { lockTimeout: '60' } }, /lockTimeout must be a number/],
    ['a JSON array', [base], /must be a JSON object/],
    ['a JSON string', 'services.enable', /not JSON/],
    ['two requests', JSON.stringify(base) + JSON.stringify(base), /not JSON/],
    ['nothing', '', /no request on stdin/],
  ];
  for (const [what, input, reason] of refusals) {
    it(`refuses ${what}`, () => expect(refused(parse(input)).reason).toMatch(reason));
  }

  it('keeps the actor, address and op it could read for the audit entry', () => {
    const r = refused(parse({ ...base, service: 'ssh', actor: 'mallory' }));
    expect(r).toMatchObject({ actor: 'mallory', address: '127.0.0.1', op: 'services.enable' });
    expect(refused(parse('{"nope'))).toMatchObject({ actor: 'unknown', address: undefined, op: undefined });
  });

  it('refuses a request over 1 MiB', () => {
    const big = JSON.stringify({ ...base, actor: 'x'.repeat(MAX_REQUEST_BYTES) });
    expect(refused(parse(big)).reason).toMatch(/larger than 1048576 bytes/);
  });
});

describe('checksums a request may name', () => {
  const pinned = Object.values(PINNED_SHA256)[0] as string;
  const custom = 'a'.repeat(64);
  const request = (sha256: string) => accepted(parse({ ...base, options: { sha256 } }));

  it('the pinned release ones, and those the root-owned config trusts', () => {
    expect(untrustedChecksum(request(pinned), [])).toBeUndefined();
    expect(untrustedChecksum(request(custom.toUpperCase()), [custom])).toBeUndefined();
  });

  it('no other: that would let the caller choose the binary root runs', () => {
    expect(untrustedChecksum(request(custom), [])).toMatch(
      /^sha256 a{64} is neither a pinned BuildKit release checksum nor listed in installer\.trustedSha256/,
    );
    const apply = accepted(
      parse({
        op: 'ledger.apply',
        runId: RUN_ID,
        actor: 'admin',
        address: '::1',
        document: {
          ...emptyDocument(new Date('2025-01-01T00:00:00Z')),
          services: [
            {
              name: 'container-registry',
              state: 'enabled',
              options: {
                source: 'release',
                init: 'systemd',
                readyTimeout: 60,
                lockTimeout: 120,
                sha256: custom,
              },
              facts: {},
              artifacts: [],
            },
          ],
        },
      }),
    );
    expect(untrustedChecksum(apply, [])).toMatch(/neither a pinned/);
    expect(untrustedChecksum(apply, [custom])).toBeUndefined();
  });
});

describe('ledger.apply requests', () => {
  const apply = { op: 'ledger.apply', runId: RUN_ID, actor: 'admin', address: '::1' };
  const options = { source: 'release', init: 'systemd', readyTimeout: 60, lockTimeout: 120 };
  const doc = (o: object = options) => ({
    ...emptyDocument(new Date('2025-01-01T00:00:00Z')),
    services: [{ name: 'container-registry', state: 'enabled', options: o, facts: {}, artifacts: [] }],
  });

  it('accepts a valid document', () => {
    const r = accepted(parse({ ...apply, document: doc() }));
    expect(r).toMatchObject({ op: 'ledger.apply', document: { services: [{ state: 'enabled' }] } });
  });

  it('refuses an invalid document with the validator’s reasons', () => {
    const r = refused(parse({ ...apply, document: { ...doc(), kind: 'other' } }));
    expect(r.reason).toMatch(/^document is not a valid ledger document: kind must be "opencloud-ledger"/);
  });

  it('refuses a document with a relative tarball', () => {
    const tarball = { ...options, source: 'tarball', tarball: 'rel.tgz' };
    expect(refused(parse({ ...apply, document: doc(tarball) })).reason).toMatch(/absolute path/);
  });

  it('refuses options and other extra keys on an apply', () => {
    expect(refused(parse({ ...apply, document: doc(), options: {} })).reason).toMatch(
      /^options is not a known key/,
    );
    expect(refused(parse({ ...apply })).reason).toMatch(/^document is required|document is not a valid/);
  });
});
