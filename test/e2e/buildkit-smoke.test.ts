// The build runtime the later build service relies on, proved end to end: buildctl drives the
// test buildkitd (containerd worker) to build FROM our busybox base image with a RUN step; the
// result lands in containerd's "buildkit" namespace and containerd runs it.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { buildWithBase } from '../support/buildctl.js';
import { missing, titled } from '../support/env.js';

const run = promisify(execFile);
const reason = missing('containerd', 'buildkit');

describe.skipIf(reason)(titled('BuildKit with the containerd worker', reason), () => {
  it('builds a multi-stage Dockerfile with ARG before FROM and RUN, and containerd runs the image', async () => {
    const ctx = mkdtempSync(join(tmpdir(), 'opencloud-smoke-'));
    const marker = `built-${Date.now()}`;
    writeFileSync(join(ctx, 'greeting.txt'), 'hello from the context\n');
    writeFileSync(
      join(ctx, 'Dockerfile'),
      [
        'ARG BASE=busybox',
        'FROM ${BASE} AS stage1',
        `RUN echo ${marker} > /marker && echo "run step output"`,
        'FROM busybox',
        'COPY --from=stage1 /marker /marker',
        'COPY greeting.txt /greeting.txt',
        'CMD ["cat", "/marker"]',
      ].join('\n'),
    );
    const ref = `docker.io/opencloud-test/smoke:${marker}`;
    const { stderr } = await buildWithBase(ctx, `type=image,name=${ref},unpack=true`, [
      '--progress',
      'plain',
    ]);
    expect(stderr).toContain('run step output');

    const { stdout: images } = await run('ctr', ['-n', 'buildkit', 'images', 'ls', '-q']);
    expect(images.split('\n')).toContain(ref);
    const { stdout: out } = await run('ctr', ['-n', 'buildkit', 'run', '--rm', ref, `smoke-${process.pid}`]);
    expect(out.trim()).toBe(marker);
    await run('ctr', ['-n', 'buildkit', 'images', 'rm', ref]);
  });
});
