// CPU and memory readings from /proc: where the CPU went during a measurement (the server, this
// client with wrk, the rest of the machine), a server's VmRSS/VmHWM, and a timed transfer with both.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { MB } from './config.js';
import { fmt } from './format.js';
import type { Server } from './servers.js';

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim()) || 100;

/** CPU seconds (user + system) of a process; for 'self' also of its waited-for children (wrk). */
export function cpuSeconds(pid: number | 'self'): number {
  const { user, sys } = cpuSplit(pid);
  return user + sys;
}

/** User and system CPU seconds of a process (for 'self' with its waited-for children, e.g. wrk). */
function cpuSplit(pid: number | 'self'): { user: number; sys: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    // After the command name: f[11] utime, f[12] stime, f[13] cutime, f[14] cstime (proc(5)).
    const children = pid === 'self';
    return {
      user: ((f[11] ?? 0) + (children ? (f[13] ?? 0) : 0)) / CLK_TCK,
      sys: ((f[12] ?? 0) + (children ? (f[14] ?? 0) : 0)) / CLK_TCK,
    };
  } catch {
    return { user: NaN, sys: NaN };
  }
}

/** Busy CPU seconds of the whole machine (every CPU), from /proc/stat. */
export function hostBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / CLK_TCK;
}

export function procStatusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** A server's VmRSS or VmHWM in MB (10^6 bytes). */
export function procStatusMB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  return (procStatusKiB(pid, field) * 1024) / MB;
}

/** Where the CPU went during a measurement: the server, this client (and wrk), everything else. */
export interface CpuUse {
  serverCpuS: number;
  /** The server's CPU in the kernel (syscalls: socket reads, file writes, page cache). */
  serverSysS: number;
  clientCpuS: number;
  /** Busy CPU of other processes on the machine (noise): seconds, and as % of all CPUs. */
  otherCpuS: number;
  otherCpuPct: number;
}

export function cpuMeter(pid: number): () => CpuUse {
  const t0 = performance.now();
  const server0 = cpuSplit(pid);
  const self0 = cpuSeconds('self');
  const host0 = hostBusySeconds();
  return () => {
    const wall = (performance.now() - t0) / 1000;
    const server1 = cpuSplit(pid);
    const serverSysS = server1.sys - server0.sys;
    const serverCpuS = server1.user - server0.user + serverSysS;
    const clientCpuS = cpuSeconds('self') - self0;
    const otherCpuS = Math.max(0, hostBusySeconds() - host0 - serverCpuS - clientCpuS);
    return {
      serverCpuS,
      serverSysS,
      clientCpuS,
      otherCpuS,
      otherCpuPct: (100 * otherCpuS) / (wall * os.cpus().length),
    };
  };
}

/** One timed upload or download of the big blob. */
export interface TimedRun extends CpuUse {
  run: number;
  seconds: number;
  mbPerS: number;
}

/** Timed runs by upload form or download mode, then by server. */
export type TimedResults = Record<string, Record<string, TimedRun[]>>;

export async function timed(
  server: Server,
  run: number,
  bytes: number,
  fn: () => Promise<void>,
): Promise<TimedRun> {
  const meter = cpuMeter(server.pid);
  const t0 = performance.now();
  await fn();
  const seconds = (performance.now() - t0) / 1000;
  return { run, seconds, mbPerS: bytes / MB / seconds, ...meter() };
}

/** The progress line of a timed upload or download. */
export const describeTimed = (r: TimedRun) =>
  `${fmt(r.seconds)} s, ${fmt(r.mbPerS, 0)} MB/s, server CPU ${fmt(r.serverCpuS)} s (sys ${fmt(r.serverSysS)})`;
