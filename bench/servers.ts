// The registries under test (ours, Distribution 2.8.2, Distribution v3.1.1): started side by side on
// free loopback ports with fresh data dirs under the work dir (ours with its embedded defaults, the
// Distributions with a private config each), waited for, stopped, and never left running after the
// benchmark; and the interleaving of the runs.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cfg, profileDir, type ServerKey } from './config.js';
import { say } from './format.js';
import { exchange } from './http-client.js';
import { ownPids } from './settle.js';

export interface Server {
  key: ServerKey;
  label: string;
  version: string;
  url: URL;
  pid: number;
  child: ChildProcess;
  exited: Promise<void>;
  agent: http.Agent;
  logFile: string;
  dataDir: string;
  /** performance.now() just before the spawn (the start-up phase times from here). */
  spawnedAt: number;
}

const children = new Set<ChildProcess>();

/** Table column headings. */
export const SERVER_LABEL: Record<ServerKey, string> = {
  ours: 'ours',
  distribution: 'Distribution 2.8',
  distribution3: 'Distribution 3.1',
};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function launch(
  key: ServerKey,
  label: string,
  version: string,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  port: number,
  dataDir: string,
  instance: string,
): Server {
  const logFile = join(cfg.work, `${instance}.log`);
  const fd = openSync(logFile, 'a');
  const spawnedAt = performance.now();
  const child = spawn(command, args, { cwd: cfg.work, env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  children.add(child);
  if (child.pid !== undefined) {
    ownPids.add(child.pid);
    // run.sh reads this if the benchmark itself dies without cleaning up (e.g. SIGKILL).
    appendFileSync(join(cfg.work, 'server.pids'), `${child.pid}\n`);
  }
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      children.delete(child);
      if (child.pid !== undefined) ownPids.delete(child.pid);
      resolve();
    }),
  );
  if (child.pid === undefined) throw new Error(`${label}: could not start ${command}`);
  return {
    key,
    label,
    version,
    url: new URL(`http://127.0.0.1:${port}`),
    pid: child.pid,
    child,
    exited,
    agent: new http.Agent({ keepAlive: true, maxSockets: cfg.concurrency }),
    logFile,
    dataDir,
    spawnedAt,
  };
}

/** This process's environment without the variables that configure the server under test. */
export function envWithout(prefix: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith(prefix)) env[k] = v;
  return env;
}

export async function startOurs(instance = 'ours', settings: Record<string, string> = {}): Promise<Server> {
  const port = await freePort();
  const dataDir = join(cfg.work, `${instance}-data`);
  mkdirSync(dataDir, { recursive: true });
  // No OPENCLOUD_* from outside and no config file: the embedded defaults, as a user gets them,
  // plus the settings the caller names (the S3 + PostgreSQL node of bench/scale-out.ts).
  const env = envWithout('OPENCLOUD_');
  env.OPENCLOUD_LOG_LEVEL = cfg.logLevel;
  Object.assign(env, settings);
  const flags = [...cfg.oursNodeFlags];
  if (cfg.profile) {
    mkdirSync(profileDir, { recursive: true });
    flags.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`);
  }
  const pkg = JSON.parse(readFileSync(new URL('../package.json', `file://${cfg.opencloudBin}`), 'utf8')) as {
    version: string;
  };
  const args = [...flags, cfg.opencloudBin, 'serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir];
  return launch(
    'ours',
    SERVER_LABEL.ours,
    `opencloud ${pkg.version}, node ${process.version}`,
    process.execPath,
    args,
    env,
    port,
    dataDir,
    instance,
  );
}

/**
 * Distribution 2.8.2 (`distribution`, Debian's docker-registry) or v3.1.1 (`distribution3`, built by
 * run.sh). The same private config for both: the packaged default (inmemory blob descriptor cache,
 * delete enabled) minus htpasswd auth, on our own port and root directory, access logs on as by
 * default. v3 reads the same `version: 0.1` format; its OpenTelemetry tracing is turned off through
 * the standard OTEL_* variables so it does not try to reach a collector.
 */
export async function startDistribution(
  key: 'distribution' | 'distribution3' = 'distribution',
  instance: string = key,
  /** The storage driver's lines of the config (indented under `storage:`); the filesystem by default. */
  driver?: string[],
): Promise<Server> {
  const bin = key === 'distribution' ? cfg.distributionBin : cfg.distribution3Bin;
  if (!bin) throw new Error(`${SERVER_LABEL[key]}: no binary (${cfg.distribution3Why})`);
  const port = await freePort();
  const dataDir = join(cfg.work, `${instance}-data`);
  mkdirSync(dataDir, { recursive: true });
  const config = join(cfg.work, `${instance}.yml`);
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      `  level: ${cfg.logLevel}`,
      '  accesslog:',
      `    disabled: ${cfg.logLevel !== 'info'}`,
      'storage:',
      '  cache:',
      '    blobdescriptor: inmemory',
      ...(driver ?? ['  filesystem:', `    rootdirectory: ${dataDir}`]),
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  const out = spawnSync(bin, ['--version'], { timeout: 10_000 }).stdout?.toString() ?? '';
  const version = out.trim().split(/\s+/).slice(1).join(' ') || 'unknown';
  const env = envWithout('REGISTRY_');
  if (key === 'distribution3') {
    env.OTEL_TRACES_EXPORTER = 'none';
    env.OTEL_SDK_DISABLED = 'true';
  }
  return launch(key, SERVER_LABEL[key], version, bin, ['serve', config], env, port, dataDir, instance);
}

/** A fresh instance of the server `key` (a new port; `instance` names its data dir and log). */
export function startServer(key: ServerKey, instance: string = key): Promise<Server> {
  return key === 'ours' ? startOurs(instance) : startDistribution(key, instance);
}

export async function waitReady(server: Server): Promise<void> {
  const deadline = Date.now() + 30_000;
  let last = '';
  while (Date.now() < deadline) {
    if (server.child.exitCode !== null) break;
    try {
      const r = await exchange(server, 'GET', '/v2/', { timeoutMs: 2_000 });
      if (r.status === 200) return;
      last = `HTTP ${r.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`${server.label} did not answer /v2/ (${last}); see ${server.logFile}`);
}

export async function stopServer(server: Server): Promise<void> {
  server.agent.destroy();
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  server.child.kill('SIGTERM');
  const stopped = await Promise.race([server.exited.then(() => true), sleep(20_000).then(() => false)]);
  if (!stopped) {
    say(`${server.label} ignored SIGTERM for 20 s: SIGKILL`);
    server.child.kill('SIGKILL');
    await Promise.race([server.exited, sleep(5_000)]);
  }
}

/** Whatever happens, no registry outlives the benchmark: called once, before any is started. */
export function stopRegistriesOnExit(): void {
  process.on('exit', () => {
    for (const c of children) c.kill('SIGKILL');
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      say(`${sig}: stopping the registries`);
      process.exit(130);
    });
  }
}

/**
 * Runs `fn` for each server, rotating which goes first from one run to the next (with two servers
 * that alternates; with three each takes every place in turn).
 */
export async function eachServer(
  servers: Server[],
  run: number,
  fn: (s: Server) => Promise<void>,
): Promise<void> {
  const k = (run - 1) % Math.max(1, servers.length);
  const order = [...servers.slice(k), ...servers.slice(0, k)];
  for (const s of order) await fn(s);
}
