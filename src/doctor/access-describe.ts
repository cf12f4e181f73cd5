// The facts of an access report as labelled lines for doctor's human output.
import type { AccessReport } from './access-types.js';

/** The facts of a report as labelled lines for the human output (findings are printed apart). */
export function describeAccess(r: AccessReport): Array<[label: string, text: string]> {
  const lines: Array<[string, string]> = [];
  const s = r.server;
  if (s.running) {
    const found = s.source === 'systemd' ? `${r.unit} MainPID` : 'found in /proc';
    lines.push(['server', `pid ${s.pid} (${found}): ${s.cmdline}`]);
    lines.push([
      '',
      `runs as ${s.user ?? '?'} (uid ${s.uid}), gid ${s.group}, groups ${s.groups?.join(',') || 'none'} — as the process sees them (/proc/${s.pid}/status)`,
    ]);
  } else {
    const why = r.systemd
      ? `${r.unit} is ${r.unitState ?? 'not installed'}`
      : 'no systemd as PID 1 (/run/systemd/system is absent)';
    lines.push(['server', `none running: ${why}, and no \`node … opencloud… serve\` process in /proc`]);
  }
  if (s.foreignPids.length > 0) {
    lines.push([
      '',
      `not judged: pids ${s.foreignPids.join(', ')} run a server in another PID namespace (a container); run doctor inside it`,
    ]);
  }
  if (r.user) {
    const diff = [
      r.user.addedSinceStart.length && `added since the server started: ${r.user.addedSinceStart.join(',')}`,
      r.user.removedSinceStart.length && `removed since it started: ${r.user.removedSinceStart.join(',')}`,
    ].filter(Boolean);
    lines.push([
      'user',
      `${r.user.name} (uid ${r.user.uid}) per /etc/group now: ${r.user.groupsNow.join(',')}${diff.length ? `; ${diff.join('; ')}` : ''}`,
    ]);
  } else if (!s.running) {
    lines.push(['user', `${r.serviceUser}: not in /etc/passwd (OpenCloud is not installed as a service)`]);
  }
  for (const k of r.sockets) {
    let text: string;
    if (!k.exists) text = `${k.path}: ${k.statError ?? 'missing'}`;
    else {
      text = `${k.path}: ${k.owner}:${k.group} ${k.mode}${k.isSocket ? '' : ' (not a socket)'}`;
      if (k.dir) text += `, in ${k.dir.path} ${k.dir.owner}:${k.dir.group} ${k.dir.mode}`;
      if (k.grant) {
        const who = r.subject === 'running' ? 'the server' : `${r.user?.name ?? r.serviceUser} once started`;
        const dirOk = k.dir?.search?.allowed ?? true;
        text += `; ${who} may read+write it: ${k.grant.allowed && dirOk ? 'yes' : 'no'} (${k.grant.via}${k.grant.via === 'root' ? '' : ` bits ${k.grant.bits}`}${dirOk ? '' : `; ${k.dir?.path} denies search`})`;
      }
    }
    lines.push([k.role, text]);
  }
  if (r.probeSkipped) lines.push(['connect', `not checked as the server: ${r.probeSkipped}`]);
  return lines;
}
