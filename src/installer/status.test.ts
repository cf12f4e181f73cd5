// How `services status` reads to a person: daemons that do not answer are failures only when the
// service is enabled, and a disabled service says so instead of "healthy".
import { describe, expect, it } from 'vitest';
import { formatStatus, type StatusReport } from './status.js';

const report = (state: string, answers: boolean): StatusReport =>
  ({
    service: 'container-registry',
    state,
    init: 'direct',
    facts: {},
    lastRunId: null,
    containerd: { answers, detail: answers ? 'v1.6.20 on /run/containerd/containerd.sock' : 'missing' },
    buildkit: { answers, detail: answers ? 'v0.16.0' : 'missing' },
    healthy: state !== 'enabled' || answers,
  }) as StatusReport;

describe('formatStatus', () => {
  it('a disabled service: daemons not marked as failures, and no claim of health', () => {
    const text = formatStatus(report('disabled', false));
    expect(text).toContain('-     containerd  missing');
    expect(text).not.toContain('FAIL');
    expect(text).not.toMatch(/^healthy$/m);
    expect(text).toContain('not enabled: nothing is expected to run');
  });

  it('an enabled service: a daemon that does not answer fails it', () => {
    expect(formatStatus(report('enabled', false))).toMatch(
      /FAIL {2}buildkit {4}missing[\s\S]*\nunhealthy\n$/,
    );
    expect(formatStatus(report('enabled', true))).toMatch(/ok {4}containerd[\s\S]*\nhealthy\n$/);
  });
});
