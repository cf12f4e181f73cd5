// The machine the benchmark ran on, for the results JSON and the first progress line: node, kernel,
// CPUs, memory, the work dir's disk and file system, wrk's version, the load at start.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { cfg, MB } from './config.js';

export function hostInfo() {
  const cpu = os.cpus();
  const disk = spawnSync('findmnt', ['-no', 'SOURCE,FSTYPE', '-T', cfg.work]).stdout?.toString().trim();
  const wrkVersion = cfg.wrk
    ? (spawnSync(cfg.wrk, ['--version']).stdout?.toString().split('\n')[0] ?? '')
    : '';
  return {
    node: process.version,
    kernel: os.release(),
    cpu: cpu[0]?.model ?? 'unknown',
    cpus: cpu.length,
    memMB: Math.round(os.totalmem() / MB),
    workDir: cfg.work,
    disk,
    wrk: wrkVersion.trim(),
    loadavgAtStart: os.loadavg(),
  };
}
