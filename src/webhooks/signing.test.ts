import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateSecret, sign, verify } from './signing.js';
import { retryDelayMs } from './backoff.js';
import { toCloudEvent } from './cloudevent.js';
import { EventBus, type OpenCloudEvent } from './events.js';

describe('webhook signatures', () => {
  const body = '{"specversion":"1.0","id":"x","data":{"tag":"1"}}';

  it('is sha256=<hex> of HMAC-SHA256 over the exact body', () => {
    const hex = createHmac('sha256', 'a-secret-of-16+chars').update(body).digest('hex');
    expect(sign('a-secret-of-16+chars', body)).toBe(`sha256=${hex}`);
    // A known vector (RFC 4231 test case 2): key "Jefe".
    expect(sign('Jefe', 'what do ya want for nothing?')).toBe(
      'sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });

  it('verifies the same bytes under the same secret and nothing else', () => {
    const secret = generateSecret();
    const header = sign(secret, body);
    expect(verify(secret, body, header)).toBe(true);
    expect(verify(secret, Buffer.from(body), header)).toBe(true);
    expect(verify(secret, body.replace('"1"', '"2"'), header)).toBe(false);
    expect(verify(`${secret}x`, body, header)).toBe(false);
    expect(verify(secret, body, header.slice(0, -1))).toBe(false);
    expect(verify(secret, body, undefined)).toBe(false);
    // Re-serialised JSON is other bytes: a receiver must verify the raw body.
    expect(verify(secret, JSON.stringify(JSON.parse(body), null, 1), header)).toBe(false);
  });

  it('generates distinct 43-character base64url secrets', () => {
    const a = generateSecret();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(generateSecret()).not.toBe(a);
  });
});

describe('retry backoff', () => {
  it('doubles from the base delay and stops after the last attempt', () => {
    const delays = [1, 2, 3, 4, 5, 6].map((n) => retryDelayMs(n, 1000, 6));
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16000, undefined]);
    expect(retryDelayMs(1, 50, 3)).toBe(50);
    expect(retryDelayMs(2, 50, 3)).toBe(100);
    expect(retryDelayMs(3, 50, 3)).toBeUndefined();
    expect(retryDelayMs(1, 1000, 1)).toBeUndefined();
  });

  it('never waits more than an hour', () => {
    expect(retryDelayMs(19, 3_600_000, 20)).toBe(3_600_000);
    expect(retryDelayMs(15, 1000, 20)).toBe(3_600_000);
  });
});

describe('events as CloudEvents', () => {
  it('stamps each event with an id and time and maps it to the structured JSON format', () => {
    const seen: OpenCloudEvent[] = [];
    const bus = new EventBus();
    bus.on((e) => seen.push(e));
    bus.on(() => {
      throw new Error('a failing listener');
    });
    const e = bus.emit({
      name: 'push',
      subject: 'demo/app:1',
      data: {
        repository: 'demo/app',
        tag: '1',
        tags: ['1'],
        digest: 'sha256:abc',
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: null,
        size: 10,
        actor: 'alice',
      },
    });
    expect(seen).toEqual([e]);
    const ce = toCloudEvent(e, 'http://registry.example:5000');
    expect(ce).toEqual({
      specversion: '1.0',
      id: e.id,
      source: 'http://registry.example:5000',
      type: 'io.opencloud.registry.push',
      time: e.time,
      subject: 'demo/app:1',
      datacontenttype: 'application/json',
      data: e.data,
    });
    expect(e.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Date(e.time).toISOString()).toBe(e.time);
  });
});
