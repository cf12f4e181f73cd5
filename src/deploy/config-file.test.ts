import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { merged, renderNew } from './config-file.js';

const settings = { listen: '127.0.0.1:5000', dataDir: '/var/lib/opencloud' };

describe('the installed config file', () => {
  it('is written with the listen address, data dir and log level', () => {
    expect(parse(renderNew(settings))).toEqual({
      listen: '127.0.0.1:5000',
      dataDir: '/var/lib/opencloud',
      logLevel: 'info',
    });
  });

  it('comes back byte for byte when it already has every key', () => {
    const text = renderNew(settings);
    expect(merged(text, settings, new Set())).toBe(text);
  });

  it('keeps what an administrator set, comments included, and adds only missing keys', () => {
    const mine = '# mine\nlisten: 0.0.0.0:443 # public\ngc:\n  interval: 1h\n';
    const out = merged(mine, settings, new Set());
    expect(out.startsWith(mine)).toBe(true);
    expect(parse(out)).toEqual({
      listen: '0.0.0.0:443',
      gc: { interval: '1h' },
      dataDir: '/var/lib/opencloud',
      logLevel: 'info',
    });
  });

  it('takes a value given on the command line over the file', () => {
    const out = merged(renderNew(settings), { ...settings, listen: '0.0.0.0:5000' }, new Set(['listen']));
    expect(parse(out).listen).toBe('0.0.0.0:5000');
    expect(out).toContain('# address of the registry');
  });

  it('refuses a file that is not a mapping, or not YAML', () => {
    expect(() => merged('- a\n- b\n', settings, new Set())).toThrow(/mapping/);
    expect(() => merged('listen: [unclosed\n', settings, new Set())).toThrow(/not valid YAML/);
  });
});
