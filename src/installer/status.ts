// `services status` and `services doctor`: what the ledger records, what answers right now, and
// (doctor) whether the host drifted from what was installed — a read-only plan that would change
// something means a file, unit, binary or daemon is no longer as enabling left it.
import type { Ledger, ServiceRecord } from '../ledger/records.js';
import { BUILDKIT_SOCKET, CONTAINERD_SOCKET } from './components/buildkit-pins.js';
import { localTarball } from './components/buildkit-source.js';
import { containerdAnswers } from './components/containerd.js';
import { enableSteps, SERVICE } from './container-registry.js';
import { runSteps } from './engine.js';
import { unitState } from './host/systemd.js';
import type { InstallOptions } from './options.js';
import { BuildkitClient } from '../runtime/buildkit.js';
import { join } from 'node:path';

export interface StatusReport {
  service: string;
  state: ServiceRecord['state'];
  init: InstallOptions['init'];
  facts: Record<string, unknown>;
  lastRunId: string | null;
  containerd: { answers: boolean; detail: string; unit?: string };
  buildkit: { answers: boolean; detail: string; unit?: string };
  drift?: { step: string; changes: string[] }[];
  healthy: boolean;
}

async function buildkitLive(): Promise<string> {
  const c = new BuildkitClient(BUILDKIT_SOCKET);
  try {
    const v = await c.getVersion(2000);
    const workers = await c.listWorkers(2000);
    return `${v.version}, workers: ${workers.map((w) => w.executor).join(', ') || 'none'}`;
  } finally {
    c.close();
  }
}

const settle = (p: Promise<string>) =>
  p.then(
    (detail) => ({ answers: true, detail }),
    (err: Error) => ({ answers: false, detail: err.message }),
  );

export async function serviceStatus(
  opts: InstallOptions,
  ledger: Ledger,
  doctor: boolean,
): Promise<StatusReport> {
  const rec = await ledger.service(SERVICE);
  const report: StatusReport = {
    service: SERVICE,
    state: rec?.state ?? 'disabled',
    init: opts.init,
    facts: rec?.facts ?? {},
    lastRunId: rec?.lastRunId ?? null,
    containerd: await settle(containerdAnswers().then((v) => `${v} on ${CONTAINERD_SOCKET}`)),
    buildkit: await settle(buildkitLive()),
    healthy: true,
  };
  if (opts.init === 'systemd') {
    for (const [key, unit] of [
      ['containerd', 'containerd.service'],
      ['buildkit', 'buildkit.service'],
    ] as const) {
      const s = await unitState(unit);
      report[key].unit =
        `${unit}: ${s.active}/${s.sub}, ${s.fileState || 'not installed'}, restarts ${s.restarts}`;
    }
  }
  report.healthy = report.state !== 'enabled' || (report.containerd.answers && report.buildkit.answers);
  if (doctor && report.state === 'enabled') {
    const planned = { ...opts, ...(rec?.options ?? {}), init: opts.init };
    const tarball = localTarball(planned);
    const plan = await runSteps(await enableSteps(planned, ledger, tarball), {
      mode: 'plan',
      emit: () => undefined,
      backupDir: join(opts.dataDir, 'installer', 'backups'),
    }).finally(() => tarball?.close());
    report.drift = plan.steps
      .filter((s) => s.status === 'changed' || s.status === 'failed')
      .map((s) => ({
        step: s.title,
        changes:
          s.status === 'failed'
            ? [`check failed: ${s.reason}`]
            : s.changes.map((c) => `${c.action} ${c.kind} ${c.target}`),
      }));
    if (report.drift.length > 0) report.healthy = false;
  }
  return report;
}

export function formatStatus(r: StatusReport): string {
  // A daemon that does not answer is a failure only when the service is enabled.
  const enabled = r.state === 'enabled';
  const mark = (ok: boolean) => (ok ? 'ok  ' : enabled ? 'FAIL' : '-   ');
  const lines = [
    `${r.service}: ${r.state} (init: ${r.init}${r.lastRunId ? `, last run ${r.lastRunId}` : ''})`,
    `${mark(r.containerd.answers)}  containerd  ${r.containerd.detail}`,
    ...(r.containerd.unit ? [`      ${r.containerd.unit}`] : []),
    `${mark(r.buildkit.answers)}  buildkit    ${r.buildkit.detail}`,
    ...(r.buildkit.unit ? [`      ${r.buildkit.unit}`] : []),
  ];
  for (const [k, v] of Object.entries(r.facts))
    lines.push(`      ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  if (r.drift) {
    lines.push(
      r.drift.length === 0 ? 'no drift: the host is as enabling left it' : 'drift from what was installed:',
    );
    for (const d of r.drift) for (const c of d.changes) lines.push(`  ${d.step}: ${c}`);
  }
  lines.push(
    !enabled && r.healthy
      ? `not enabled: nothing is expected to run (\`opencloud services enable ${r.service}\` installs and starts it)`
      : r.healthy
        ? 'healthy'
        : 'unhealthy',
  );
  return lines.join('\n') + '\n';
}
