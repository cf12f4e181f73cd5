// The checks behind `opencloud doctor` and GET /api/v1/doctor: each one really exercises what
// it names (a write in the data dir, a gRPC call to each daemon) and says how to fix a failure.
import type { Config } from '../config/schema.js';
import { BUILDKIT_VERSION } from '../paths.js';
import { BuildkitClient } from '../runtime/buildkit.js';
import { ContainerdClient } from '../runtime/containerd.js';
import { SocketError } from '../runtime/socket.js';
import { probeDataDir } from './data-dir.js';
import { explainDaemonFault } from './messages.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  name: string;
  status: CheckStatus;
  /** What was found (a version, a path) or what went wrong. */
  message: string;
  /** A concrete next step; present on warn and fail. */
  fix?: string;
  /** Machine-readable facts (versions, workers). */
  details?: Record<string, unknown>;
}

export const MIN_NODE = [20, 19] as const;

export function checkNode(version = process.versions.node): CheckResult {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const good = major > MIN_NODE[0] || (major === MIN_NODE[0] && minor >= MIN_NODE[1]);
  return good
    ? { name: 'node', status: 'ok', message: `v${version}` }
    : {
        name: 'node',
        status: 'fail',
        message: `v${version} is too old; OpenCloud needs Node.js >= ${MIN_NODE.join('.')}`,
        fix: 'install Node.js 20.19 or newer (Debian: the nodejs package from a current release or NodeSource)',
      };
}

export async function checkDataDir(dir: string): Promise<CheckResult> {
  try {
    await probeDataDir(dir);
    return { name: 'data-dir', status: 'ok', message: `${dir} is writable` };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    return {
      name: 'data-dir',
      status: 'fail',
      message: `${dir} is not writable (${code}: ${(err as Error).message})`,
      fix: `choose another with --data-dir or OPENCLOUD_DATA_DIR, or make ${dir} writable by uid ${process.getuid?.() ?? '?'}`,
    };
  }
}

function daemonFailure(name: string, daemon: 'buildkit' | 'containerd', err: unknown): CheckResult {
  if (!(err instanceof SocketError)) throw err;
  const { message, fix } = explainDaemonFault(daemon, err);
  return { name, status: 'fail', message, fix, details: { fault: err.fault, socket: err.path } };
}

export async function checkContainerd(socket: string, timeoutMs = 3000): Promise<CheckResult> {
  const client = new ContainerdClient(socket);
  try {
    const v = await client.getVersion(timeoutMs);
    return {
      name: 'containerd',
      status: 'ok',
      message: `${v.version} at ${socket}`,
      details: { version: v.version, revision: v.revision, socket },
    };
  } catch (err) {
    return daemonFailure('containerd', 'containerd', err);
  } finally {
    client.close();
  }
}

export async function checkBuildkit(socket: string, timeoutMs = 3000): Promise<CheckResult> {
  const client = new BuildkitClient(socket);
  try {
    const [version, workers] = await Promise.all([
      client.getVersion(timeoutMs),
      client.listWorkers(timeoutMs),
    ]);
    const details = { version: version.version, socket, workers };
    const names = workers.map((w) => `${w.id} (${w.executor})`).join(', ') || 'none';
    const base = `${version.version} at ${socket}, workers: ${names}`;
    if (!workers.some((w) => w.executor === 'containerd')) {
      return {
        name: 'buildkit',
        status: 'fail',
        message: `${base}; no containerd worker (buildkitd probably started before containerd's socket existed)`,
        fix: 'restart buildkitd after containerd is up (`systemctl restart buildkit`); the buildkit unit must order After=containerd.service',
        details,
      };
    }
    if (version.version !== BUILDKIT_VERSION) {
      return {
        name: 'buildkit',
        status: 'warn',
        message: `${base}; expected ${BUILDKIT_VERSION}`,
        fix: 'run `opencloud services enable container-registry` to install the pinned release',
        details,
      };
    }
    return { name: 'buildkit', status: 'ok', message: base, details };
  } catch (err) {
    return daemonFailure('buildkit', 'buildkit', err);
  } finally {
    client.close();
  }
}

export async function runDoctor(config: Config): Promise<CheckResult[]> {
  const [dataDir, containerd, buildkit] = await Promise.all([
    checkDataDir(config.dataDir),
    checkContainerd(config.containerd.socket),
    checkBuildkit(config.buildkit.socket),
  ]);
  return [checkNode(), dataDir, containerd, buildkit];
}
