// Install steps around the running service: start/enable/restart with a readiness deadline, the
// checks that it runs as the service user with the buildkit group.
import { existsSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { readFile } from 'node:fs/promises';
import { BUILDKIT_GROUP } from '../installer/components/buildkit-pins.js';
import { waitUntilReady } from '../installer/components/readiness.js';
import { groupId } from '../installer/host/accounts.js';
import { exec } from '../installer/host/exec.js';
import { journalTail, systemctl, unitState } from '../installer/host/systemd.js';
import { StepError, type PlannedChange, type Step } from '../installer/types.js';
import { loadConfig } from '../config/load.js';
import { CONFIG_FILE, SERVICE_USER, UNIT } from './paths.js';
import type { DeployOptions } from './options.js';
import { serviceUser } from './steps-host.js';

/** Steps whose change means the running server must be restarted. */
const RESTART_ON = ['program', 'config-file', 'unit', 'membership'];

export function service(o: DeployOptions, listen: string): Step {
  return {
    id: 'service',
    title: `${UNIT} enabled and running as ${SERVICE_USER}`,
    async plan(run) {
      const s = await unitState(UNIT);
      const changes: PlannedChange[] = [];
      if (s.fileState !== 'enabled') changes.push({ kind: 'service', target: UNIT, action: 'enable' });
      if (s.active !== 'active') changes.push({ kind: 'service', target: UNIT, action: 'start' });
      else if (RESTART_ON.some((id) => run.changed.has(id)))
        changes.push({
          kind: 'service',
          target: UNIT,
          action: 'restart',
          detail: 'its program, unit, config or groups changed',
        });
      return changes;
    },
    async apply(ctx, planned, run) {
      if (run.changed.has('unit')) await systemctl('daemon-reload');
      const enable = planned.some((c) => c.action === 'enable');
      const start = planned.some((c) => c.action === 'start');
      if (enable) await systemctl('enable', UNIT);
      if (start) await systemctl('start', UNIT);
      if (planned.some((c) => c.action === 'restart')) await systemctl('restart', UNIT);
      ctx.record({ kind: 'service', unit: UNIT, enabled: enable, started: start });
    },
    async verify(ctx) {
      const url = `${servesHttps() ? 'https' : 'http'}://${listen}/readyz`;
      await waitUntilReady({
        what: `${UNIT} at ${url}`,
        timeoutSec: o.readyTimeout,
        probe: async () => {
          const res = await getReadyz(url);
          if (res.status !== 200) throw new Error(`GET /readyz answered ${res.status}: ${res.text}`);
        },
        fatal: async () => {
          const s = await unitState(UNIT);
          if (s.active === 'failed') return `the unit failed (${s.sub})`;
          return s.sub === 'auto-restart'
            ? `the server exited and systemd is restarting it (${s.restarts} restarts)`
            : undefined;
        },
        evidence: () => journalTail(UNIT),
      });
      ctx.log(`${url} answers 200`);
      await checkProcess(ctx.log);
    },
  };
}

/** Whether the installed config turns HTTPS on (tls.cert set; the server checks the rest). */
function servesHttps(): boolean {
  try {
    return loadConfig({ configFile: CONFIG_FILE, env: {} }).config.tls.cert !== undefined;
  } catch {
    return false;
  }
}

/** GET on the local listen address. Under TLS the certificate names the public host, not this
 *  address, and the probe sends nothing secret: it does not verify the certificate. */
function getReadyz(url: string): Promise<{ status: number; text: string }> {
  const get = url.startsWith('https:') ? httpsGet : httpGet;
  return new Promise((resolve, reject) => {
    const req = get(url, { rejectUnauthorized: false, timeout: 2000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within 2 s`)));
    req.on('error', reject);
  });
}

/** The running server is the service user, and the kernel gave it the buildkit group. */
async function checkProcess(log: (m: string) => void): Promise<void> {
  const { mainPid } = await unitState(UNIT);
  const status = await readFile(`/proc/${mainPid}/status`, 'utf8');
  const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
  const groups = (/^Groups:\s*(.*)$/m.exec(status)?.[1] ?? '')
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
  const u = await serviceUser();
  const gid = await groupId(BUILDKIT_GROUP);
  if (uid !== u.uid)
    throw new StepError(`${UNIT} (pid ${mainPid}) runs as uid ${uid}, not ${SERVICE_USER} (${u.uid})`);
  if (gid === undefined || !groups.includes(gid))
    throw new StepError(
      `${UNIT} (pid ${mainPid}) is not in group ${BUILDKIT_GROUP} (its groups: ${groups.join(' ') || 'none'})`,
      `fix: usermod -aG ${BUILDKIT_GROUP} ${SERVICE_USER} && systemctl restart ${UNIT}`,
    );
  log(`pid ${mainPid} runs as ${SERVICE_USER} with group ${BUILDKIT_GROUP} (gid ${gid})`);
}

/** A connection to the BuildKit socket as the service user, when BuildKit is installed. */
export function socketAccess(): Step {
  return {
    id: 'buildkit-access',
    title: `${SERVICE_USER} can connect to the BuildKit socket`,
    checkOnly: true,
    plan: async () => [],
    apply: async () => 'unchanged',
    async verify(ctx) {
      const socket = '/run/buildkit/buildkitd.sock';
      if (!existsSync(socket)) {
        ctx.log(
          `${socket} is not there yet: \`opencloud services enable container-registry\` (or the API) installs BuildKit`,
        );
        return;
      }
      const script = `require('net').createConnection(${JSON.stringify(socket)}).on('connect',()=>process.exit(0)).on('error',(e)=>{console.error(e.code||e.message);process.exit(1)})`;
      const r = await exec('runuser', ['-u', SERVICE_USER, '--', process.execPath, '-e', script]);
      if (r.code !== 0)
        throw new StepError(`${SERVICE_USER} cannot connect to ${socket}: ${r.stderr.trim()}`);
      ctx.log(`${SERVICE_USER} connects to ${socket}`);
    },
  };
}
