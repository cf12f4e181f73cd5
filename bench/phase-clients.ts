// Real-client phase: a BENCH_CLIENT_LAYERS-layer image (an OCI layout written here, new random
// content every run) pushed with skopeo and with crane into a fresh repository on each registry,
// then pulled back into an empty directory by the same tool; each command timed from spawn to exit.
// A tool that is not installed is skipped with the reason in the table.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, rmSync } from 'node:fs';
import { join } from 'node:path';
import { cfg, MB } from './config.js';
import { fmt, say } from './format.js';
import { cpuMeter } from './measure.js';
import { add, note, row, type MetricRow, type MetricSection } from './metrics.js';
import { writeManyLayerLayout } from './oci-layout.js';
import { eachServer, type Server } from './servers.js';
import { settle } from './settle.js';

type Tool = 'skopeo' | 'crane';

function missing(tool: Tool): string {
  const bin = cfg[tool];
  if (!bin) return `no ${tool} (BENCH_${tool.toUpperCase()} is empty)`;
  try {
    accessSync(bin, constants.X_OK);
    return '';
  } catch {
    return `${bin} is not executable`;
  }
}

function commands(tool: Tool, layoutDir: string, tag: string, ref: string, pullDir: string) {
  if (tool === 'skopeo') {
    const base = ['copy', '--quiet', '--insecure-policy'];
    return {
      push: [...base, '--dest-tls-verify=false', `oci:${layoutDir}:${tag}`, `docker://${ref}`],
      pull: [...base, '--src-tls-verify=false', `docker://${ref}`, `oci:${pullDir}:${tag}`],
    };
  }
  return {
    push: ['push', '--insecure', layoutDir, ref],
    pull: ['pull', '--insecure', '--format', 'oci', ref, pullDir],
  };
}

function runTool(tool: Tool, args: string[]): void {
  const out = spawnSync(cfg[tool], args, { timeout: 300_000, stdio: ['ignore', 'ignore', 'pipe'] });
  if (out.status !== 0) {
    throw new Error(
      `${tool} ${args[0]} failed (${out.status ?? out.signal}): ${out.stderr?.toString().trim().slice(-300)}`,
    );
  }
}

export async function measureClients(servers: Server[]): Promise<MetricSection[]> {
  const layerBytes = cfg.clientLayerKiB * 1024;
  const sections: MetricSection[] = [];
  const tools: Tool[] = ['skopeo', 'crane'];
  const rows = new Map<Tool, { push: MetricRow; pull: MetricRow; pushCpu: MetricRow; pullCpu: MetricRow }>();
  for (const tool of tools) {
    const title = `${tool}: push then pull a ${cfg.clientLayers}-layer image (${cfg.clientLayerKiB} KiB per layer, uncompressed)`;
    const why = missing(tool);
    if (why) {
      say(`clients: skipping ${tool}: ${why}`);
      sections.push({ title, rows: [], skipped: why });
      continue;
    }
    const r = {
      push: row('push: wall time', 's', 'lower'),
      pushCpu: row('push: server CPU', 's', 'lower'),
      pull: row('pull: wall time', 's', 'lower'),
      pullCpu: row('pull: server CPU', 's', 'lower'),
    };
    rows.set(tool, r);
    sections.push({ title, rows: [r.push, r.pushCpu, r.pull, r.pullCpu] });
  }
  if (!rows.size) return sections;

  const broken = new Set<string>();
  for (let run = 1; run <= cfg.runs; run++) {
    const layout = writeManyLayerLayout(join(cfg.work, `layout-${run}`), cfg.clientLayers, layerBytes);
    for (const [tool, r] of rows) {
      await eachServer(servers, run, async (s) => {
        if (broken.has(`${tool}/${s.key}`)) return;
        const ref = `${s.url.host}/bench/${tool}-${run}:latest`;
        const pullDir = join(cfg.work, `pull-${tool}-${s.key}-${run}`);
        const cmd = commands(tool, layout.dir, layout.tag, ref, pullDir);
        try {
          for (const op of ['push', 'pull'] as const) {
            await settle(op === 'push' ? layout.bytes : 0);
            const meter = cpuMeter(s.pid);
            const t0 = performance.now();
            runTool(tool, cmd[op]);
            const seconds = (performance.now() - t0) / 1000;
            add(r[op], s.key, seconds);
            add(op === 'push' ? r.pushCpu : r.pullCpu, s.key, meter().serverCpuS);
            say(
              `${tool} ${op} ${s.label} run ${run}: ${fmt(seconds)} s (${fmt(layout.bytes / MB / seconds, 0)} MB/s)`,
            );
          }
        } catch (err) {
          broken.add(`${tool}/${s.key}`);
          for (const x of Object.values(r)) note(x, s.key, `n/a: ${(err as Error).message.slice(0, 60)}`);
          say(`${tool} ${s.label}: ${(err as Error).message}`);
        } finally {
          rmSync(pullDir, { recursive: true, force: true });
        }
      });
    }
    rmSync(layout.dir, { recursive: true, force: true });
  }
  return sections;
}
