// Build cache records in the API's shape, the du totals and the prune request's units.
import { describe, expect, it } from 'vitest';
import { cacheRecord, cacheUsage, pruneRequest, type RawUsageRecord } from './build-cache.js';
import { isoFromTimestamp } from './proto-time.js';

const raw = (over: Partial<RawUsageRecord>): RawUsageRecord => ({
  ID: 'r1',
  Mutable: false,
  InUse: false,
  Size: 100,
  CreatedAt: { seconds: 1_700_000_000, nanos: 500_000_000 },
  LastUsedAt: null,
  UsageCount: 1,
  Description: 'mount / from exec /bin/sh -c true',
  RecordType: 'regular',
  Shared: false,
  Parents: [],
  ...over,
});

describe('build cache', () => {
  it('maps a record, with ISO times and null for never used', () => {
    expect(cacheRecord(raw({ Parents: ['p1'] }))).toEqual({
      id: 'r1',
      mutable: false,
      inUse: false,
      size: 100,
      parents: ['p1'],
      createdAt: '2023-11-14T22:13:20.500Z',
      lastUsedAt: null,
      usageCount: 1,
      description: 'mount / from exec /bin/sh -c true',
      recordType: 'regular',
      shared: false,
    });
  });

  it('counts totals as buildctl du does: in-use is not reclaimable, negative sizes are nothing', () => {
    const u = cacheUsage(
      [
        raw({ ID: 'a', Size: 100 }),
        raw({ ID: 'b', Size: 50, InUse: true }),
        raw({ ID: 'c', Size: 30, Shared: true }),
        raw({ ID: 'd', Size: -1 }),
      ].map(cacheRecord),
    );
    expect(u).toMatchObject({ totalSize: 180, reclaimable: 130, shared: 30 });
    expect(u.records).toHaveLength(4);
  });

  it('sends keepDuration in nanoseconds', () => {
    expect(pruneRequest({ keepDuration: 7 * 86400 })).toEqual({
      filter: [],
      all: false,
      keepDuration: 604_800_000_000_000,
      keepBytes: 0,
    });
    expect(pruneRequest({ all: true, keepBytes: 1e12 })).toMatchObject({ all: true, keepBytes: 1e12 });
  });

  it("treats unset and Go's zero time as no time", () => {
    expect(isoFromTimestamp(null)).toBeNull();
    expect(isoFromTimestamp({ seconds: 0, nanos: 0 })).toBeNull();
    expect(isoFromTimestamp({ seconds: -62135596800, nanos: 0 })).toBeNull();
  });
});
