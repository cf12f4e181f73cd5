// Accept-Encoding as the UI's file server reads it: weights, refusals and the wildcard.
import { describe, expect, it } from 'vitest';
import { acceptedEncodings } from './static-ui.js';

describe('acceptedEncodings', () => {
  it.each([
    [undefined, []],
    ['', []],
    ['identity', []],
    ['gzip', ['gzip']],
    ['gzip, deflate, br', ['br', 'gzip']],
    ['gzip, deflate, br, zstd', ['br', 'gzip']],
    ['br;q=0.5, gzip', ['gzip', 'br']],
    ['br;q=0, gzip', ['gzip']],
    ['BR, GZip;q=0.1', ['br', 'gzip']],
    ['*', ['br', 'gzip']],
    ['*;q=0.2, br;q=0', ['gzip']],
    ['gzip;q=0', []],
    ['gzip;q=nonsense', []],
    ['gzip;q=7', ['gzip']],
    [' gzip ; q=0.5 , br ;q=0.4', ['gzip', 'br']],
  ])('%j → %j', (header, expected) => {
    expect(acceptedEncodings(header)).toEqual(expected);
  });
});
