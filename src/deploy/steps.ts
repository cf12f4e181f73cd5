// `opencloud install` as installer steps: OpenCloud itself as a systemd service running as the
// unprivileged `opencloud` user, with access to the BuildKit socket through the buildkit group and
// one narrow privileged path (sudo, exactly the helper) for host changes.
import { managedFile } from '../installer/host/managed-file.js';
import { parseListen } from '../config/schema.js';
import type { Step } from '../installer/types.js';
import { launcher, opencloudUnit } from './files.js';
import { LAUNCHER, SERVICE_USER, UNIT_PATH } from './paths.js';
import type { TreeManifest } from './program-tree.js';
import type { DeployOptions } from './options.js';
import { account, buildkitAccess, dataDir, preflight, sudoPackage } from './steps-host.js';
import { configFile, program, sudoers } from './steps-files.js';
import { service, socketAccess } from './steps-service.js';

export type { DeployOptions } from './options.js';

const PHASE = 'Install: OpenCloud as a system service';

export function installSteps(o: DeployOptions): Step[] {
  const manifest: { value?: TreeManifest } = {};
  // Where the readiness check reaches the server: a wildcard address through loopback.
  const parsed = parseListen(o.listen);
  if (!parsed.ok) throw new Error(`listen ${o.listen} is not ${parsed.allowed}`);
  const { host, port } = parsed.value;
  const wildcard = host === '0.0.0.0' || host === '::';
  const reach = `${wildcard ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host}:${port}`;
  const unit = managedFile({
    id: 'unit',
    title: `${UNIT_PATH} (runs as ${SERVICE_USER}, restarts on failure)`,
    path: UNIT_PATH,
    content: opencloudUnit({ node: o.node, dataDir: o.dataDir }),
    mode: 0o644,
    role: 'unit',
  });
  const bin = managedFile({
    id: 'launcher',
    title: `${LAUNCHER} (the opencloud command)`,
    path: LAUNCHER,
    content: launcher(o.node),
    mode: 0o755,
    role: 'binary',
  });
  return [
    preflight(o, manifest),
    sudoPackage(o),
    account(o),
    buildkitAccess(),
    dataDir(o),
    configFile(o),
    program(o, manifest),
    bin,
    unit,
    sudoers(),
    service(o, reach),
    socketAccess(),
  ].map((s) => ({ ...s, phase: PHASE }));
}
