// The program tree an install copies: what it lists from a checkout, and that the copy keeps the
// files' contents, modes and times (bin/opencloud.js picks dist/bundle/ by comparing times).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { installTree, sourceManifest } from './program-tree.js';

const dir = mkdtempSync(join(tmpdir(), 'opencloud-tree-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function checkout(root: string): void {
  const file = (path: string, text: string, mode = 0o644) => {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text, { mode });
  };
  file('package.json', '{"name":"opencloud","version":"0.0.0"}');
  file('package-lock.json', '{"packages":{}}');
  file('bin/opencloud.js', '#!/usr/bin/env node\n', 0o755);
  file('dist/cli/main.js', 'export const run = () => 0;\n');
  file('dist/bundle/main.js', 'export const run = () => 0;\n');
  file('proto/x.proto', 'syntax = "proto3";\n');
  // The bundle built after dist/, as `npm run build` leaves them.
  utimesSync(
    join(root, 'dist/cli/main.js'),
    new Date('2026-01-01T00:00:00Z'),
    new Date('2026-01-01T00:00:00Z'),
  );
  utimesSync(
    join(root, 'dist/bundle/main.js'),
    new Date('2026-01-01T00:00:05Z'),
    new Date('2026-01-01T00:00:05Z'),
  );
}

describe('installTree', () => {
  it('copies every listed file with its content, mode and modification time', async () => {
    const root = join(dir, 'checkout');
    checkout(root);
    const manifest = await sourceManifest(root);
    expect(manifest.entries.map((e) => e.path)).toEqual([
      'bin/opencloud.js',
      'dist/bundle/main.js',
      'dist/cli/main.js',
      'package.json',
      'proto/x.proto',
    ]);
    const dest = join(dir, 'program');
    expect(await installTree(root, dest, manifest)).toBeUndefined();
    for (const e of manifest.entries) {
      const [a, b] = [statSync(join(root, e.path)), statSync(join(dest, e.path))];
      expect(readFileSync(join(dest, e.path), 'utf8')).toBe(readFileSync(join(root, e.path), 'utf8'));
      expect(Math.abs(b.mtimeMs - a.mtimeMs)).toBeLessThan(1); // utimes keeps microseconds
      expect(b.mode & 0o777).toBe(e.exec ? 0o755 : 0o644);
    }
    expect(statSync(join(dest, 'dist/bundle/main.js')).mtimeMs).toBeGreaterThan(
      statSync(join(dest, 'dist/cli/main.js')).mtimeMs,
    );
  });
});
