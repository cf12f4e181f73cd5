// The decision behind doctor's access section: given who the server runs as (its uid and groups
// as the running process sees them, and what /etc/group says the user's groups are now) and how
// the daemon sockets look, say whether the server may connect, why not, and the exact command
// that fixes it. Pure: access-host.ts gathers the facts, so every case here is unit-tested.
//
// Why the two views of the groups: a process gets its supplementary groups once, when it starts.
// `usermod -aG buildkit opencloud` changes /etc/group, not the running server, which keeps
// getting EACCES until it is restarted. Comparing both views names that case exactly.
import type { CheckResult } from './checks.js';
import { ENABLE_COMMAND, notSocketFix } from './messages.js';
import { EXPECTED_MODE, RW, SEARCH, allGids, grantFor, hasGroup, octal } from './access-grant.js';
import type { AccessInput, AccessReport, Identity, SocketFacts, SocketReport } from './access-types.js';

export * from './access-types.js';
export { grantFor, octal } from './access-grant.js';
export { describeAccess } from './access-describe.js';

export function assessAccess(input: AccessInput): AccessReport {
  const name = (gid: number) => input.groupNames[gid] ?? String(gid);
  const findings: CheckResult[] = [];
  const add = (code: string, status: CheckResult['status'], message: string, fix?: string) =>
    findings.push({ name: 'access', status, message, ...(fix ? { fix } : {}), details: { code } });

  const { server, user, serviceUser } = input;
  const userName = user?.name ?? (server ? `uid ${server.identity.uid}` : serviceUser);
  const restart =
    server?.source === 'proc'
      ? `restart the server (pid ${server.pid}: ${server.cmdline})`
      : `systemctl restart ${input.unit.replace(/\.service$/, '')}`;

  // Who is judged: the running process exactly as it is; otherwise what the service user would
  // get when the unit starts; otherwise nobody (a checkout with no server running).
  const future: Identity | undefined =
    user && input.groupsNow ? { uid: user.uid, gid: user.gid, groups: input.groupsNow } : undefined;
  const subject: AccessReport['subject'] = server ? 'running' : future ? 'service-user' : 'none';
  const id = server?.identity ?? future;

  const report: AccessReport = {
    serviceUser,
    unit: input.unit,
    systemd: input.systemd,
    ...(input.unitState ? { unitState: input.unitState } : {}),
    server: server
      ? {
          running: true,
          source: server.source,
          pid: server.pid,
          cmdline: server.cmdline,
          otherPids: input.otherPids,
          foreignPids: input.foreignPids,
          uid: server.identity.uid,
          ...(user ? { user: user.name } : {}),
          gid: server.identity.gid,
          group: name(server.identity.gid),
          groups: server.identity.groups.map(name),
        }
      : { running: false, otherPids: [], foreignPids: input.foreignPids },
    subject,
    requiredGroup: input.requiredGroup,
    sockets: [],
    ...(input.probeSkipped ? { probeSkipped: input.probeSkipped } : {}),
    findings,
  };

  if (user && input.groupsNow) {
    const now = allGids({ uid: user.uid, gid: user.gid, groups: input.groupsNow });
    const then = server ? allGids(server.identity) : now;
    report.user = {
      name: user.name,
      uid: user.uid,
      groupsNow: now.map(name),
      addedSinceStart: now.filter((g) => !then.includes(g)).map(name),
      removedSinceStart: then.filter((g) => !now.includes(g)).map(name),
    };
  }

  // Who the server is, before the sockets.
  if (!server) {
    if (future) {
      add(
        'not-running',
        'warn',
        `no OpenCloud server is running${input.unitState ? ` (${input.unit} is ${input.unitState})` : ''}; judging what user ${userName} would get when it starts`,
        input.systemd
          ? `systemctl start ${input.unit.replace(/\.service$/, '')}`
          : 'start it: `opencloud serve`',
      );
    } else {
      add(
        'no-server',
        'ok',
        `no OpenCloud server is running and there is no \`${serviceUser}\` user: nothing to judge as the server (the buildkit check above connects as you)`,
      );
    }
  } else if (server.identity.uid === 0) {
    add(
      'root',
      'warn',
      `the server (pid ${server.pid}) runs as root: every socket is open to it, but it should run unprivileged as ${serviceUser}`,
      `install it as a service with \`opencloud install\`, which runs it as ${serviceUser} with access through the ${input.requiredGroup.name} group`,
    );
  }
  if (input.otherPids.length > 0) {
    add(
      'several-servers',
      'warn',
      `more servers match (pids ${input.otherPids.join(', ')}); judged pid ${server?.pid}`,
      'stop the ones you do not mean to run',
    );
  }

  for (const sock of input.sockets) {
    report.sockets.push(
      sock.role === 'buildkit'
        ? assessBuildkit(input, sock, id, future, userName, restart, name, add, findings)
        : assessOther(sock, id, userName, name, add),
    );
  }
  return report;
}

type Add = (code: string, status: CheckResult['status'], message: string, fix?: string) => void;

function baseReport(sock: SocketFacts, id: Identity | undefined, name: (g: number) => string): SocketReport {
  const r: SocketReport = { role: sock.role, path: sock.path, exists: !!sock.stat, probes: sock.probes };
  if (sock.statError) r.statError = sock.statError;
  if (sock.stat) {
    r.isSocket = sock.stat.isSocket;
    r.owner = sock.stat.uid === 0 ? 'root' : String(sock.stat.uid);
    r.group = name(sock.stat.gid);
    r.mode = octal(sock.stat.mode);
    if (id) r.grant = grantFor(id, sock.stat, RW);
  }
  if (sock.dir) {
    r.dir = {
      path: sock.dir.path,
      owner: sock.dir.uid === 0 ? 'root' : String(sock.dir.uid),
      group: name(sock.dir.gid),
      mode: octal(sock.dir.mode),
      ...(id ? { search: grantFor(id, sock.dir, SEARCH) } : {}),
    };
  }
  return r;
}

function describeId(who: string, id: Identity, name: (g: number) => string): string {
  const groups = id.groups.length ? id.groups.map(name).join(',') : 'none';
  return `${who} (uid ${id.uid}, gid ${name(id.gid)}, groups ${groups})`;
}

const UNIT_FIX =
  `buildkitd sets the socket's group and mode itself at every start, from \`--group buildkit\` in buildkit.service: re-run \`${ENABLE_COMMAND}\` ` +
  '(it rewrites the unit and restarts buildkit); never chgrp/chmod the socket by hand: /run is tmpfs and the socket is recreated at every start';

function assessBuildkit(
  input: AccessInput,
  sock: SocketFacts,
  id: Identity | undefined,
  future: Identity | undefined,
  userName: string,
  restart: string,
  name: (g: number) => string,
  add: Add,
  found: CheckResult[],
): SocketReport {
  const before = found.length;
  const r = baseReport(sock, id, name);
  const { path, stat } = sock;
  const group = input.requiredGroup;
  const who = id ? describeId(userName, id, name) : userName;

  if (!stat) {
    if (sock.statError) {
      add(
        'socket-unreadable',
        'warn',
        `cannot inspect ${path}: ${sock.statError}`,
        'run `opencloud doctor` as root to see the socket',
      );
    } else {
      add(
        'socket-missing',
        'fail',
        `${path} does not exist: buildkitd is not running (or listens elsewhere)`,
        `\`${ENABLE_COMMAND}\` installs and starts it; if it is installed, ` +
          (input.systemd
            ? '`systemctl status buildkit` and `journalctl -u buildkit -n 50` say why it stopped'
            : '/var/log/opencloud/buildkitd.log says why it stopped (no systemd: direct mode)'),
      );
    }
    return r;
  }
  if (!stat.isSocket) {
    add('not-socket', 'fail', `${path} exists but is not a socket`, notSocketFix('buildkit', path));
    return r;
  }

  const grant = r.grant;
  // Reaching the socket takes read+write on it and search on its directory.
  const reachable = !!grant?.allowed && (r.dir?.search?.allowed ?? true);
  const denied = !!grant && !reachable;
  // A deviation from 0660 root:buildkit fails when it is what keeps the server out.
  const shapeStatus = denied ? 'fail' : 'warn';
  const needsGroup = !!id && id.uid !== 0 && id.uid !== stat.uid;

  if (group.gid === undefined) {
    add(
      'group-missing',
      'fail',
      `the ${group.name} group does not exist on this host, so nobody but root can be given access to ${path}`,
      `run \`${ENABLE_COMMAND}\` (it creates the group and restarts buildkitd with \`--group ${group.name}\`), then \`usermod -aG ${group.name} ${userName} && ${restart}\``,
    );
  } else if (stat.gid !== group.gid) {
    add(
      'socket-group',
      shapeStatus,
      `${path} has group ${name(stat.gid)}, not ${group.name} (gid ${group.gid})`,
      UNIT_FIX,
    );
  }
  const mode = stat.mode & 0o777;
  if (mode !== EXPECTED_MODE) {
    const open = mode & 0o007;
    const why = open
      ? 'open to every local user (BuildKit access is root-equivalent)'
      : (mode & 0o060) !== 0o060
        ? `its group may not read+write it`
        : 'unexpected';
    add(
      'socket-mode',
      denied && (mode & 0o060) !== 0o060 ? 'fail' : 'warn',
      `${path} has mode ${octal(mode)}, not 0660: ${why}`,
      UNIT_FIX,
    );
  }
  if (stat.uid !== 0) {
    add('socket-owner', 'warn', `${path} is owned by uid ${stat.uid}, not root`, UNIT_FIX);
  }

  // The directory is buildkitd's (0770/0750 root:buildkit): when membership would let the server
  // through, the membership finding below is the cause, not the directory.
  const withGroup = id && group.gid !== undefined ? { ...id, groups: [...id.groups, group.gid] } : id;
  if (id && withGroup && sock.dir && r.dir?.search && !grantFor(withGroup, sock.dir, SEARCH).allowed) {
    add(
      'dir-search',
      'fail',
      `${r.dir.path} (${r.dir.owner}:${r.dir.group} ${r.dir.mode}) does not let ${who} reach the socket inside`,
      `buildkitd creates ${r.dir.path} when it is missing: \`systemctl stop buildkit && rm -rf ${r.dir.path} && systemctl start buildkit\` (a reboot does the same)`,
    );
  }

  // The server's membership in the socket's group: needed unless it is root or the owner.
  if (needsGroup && id && group.gid !== undefined && !hasGroup(id, group.gid)) {
    // Not needed right now if the socket is open to all; needed once its mode is fixed.
    const status = denied ? 'fail' : 'warn';
    if (input.server && future && hasGroup(future, group.gid)) {
      add(
        'added-after-start',
        status,
        `${userName} is in ${group.name} now, but the server (pid ${input.server?.pid}) started before that: its groups are ${id.groups.map(name).join(',') || 'none'}; group membership never reaches a running process`,
        restart,
      );
    } else {
      add(
        'not-in-group',
        status,
        `${userName} is not in the ${group.name} group${future ? ` (its groups: ${allGids(future).map(name).join(',')})` : ''}`,
        `usermod -aG ${group.name} ${userName} && ${restart}`,
      );
    }
  }
  // The running process holds the group, but /etc/group no longer gives it: lost at restart.
  if (
    needsGroup &&
    input.server &&
    future &&
    group.gid !== undefined &&
    hasGroup(id, group.gid) &&
    !hasGroup(future, group.gid)
  ) {
    add(
      'lost-at-restart',
      'warn',
      `the server (pid ${input.server.pid}) still holds ${group.name}, but ${userName} is no longer in it: it loses access to ${path} at its next restart`,
      `usermod -aG ${group.name} ${userName}`,
    );
  }

  if (grant && reachable) {
    add(
      'granted',
      'ok',
      `${who} may read+write ${path} (${grant.via}${grant.via === 'root' ? '' : ` bits ${grant.bits}`})`,
    );
  } else if (grant && !found.slice(before).some((f) => f.status === 'fail')) {
    // Denied with no cause named above (the owner itself lacking bits): say it plainly.
    add(
      'denied',
      'fail',
      `${who} may not read+write ${path} (${r.owner}:${r.group} ${r.mode}, ${grant.via} bits ${grant.bits})`,
      UNIT_FIX,
    );
  }

  probeFindings(sock, r, userName, name, add, reachable, !!input.server);
  return r;
}

function probeFindings(
  sock: SocketFacts,
  r: SocketReport,
  userName: string,
  name: (g: number) => string,
  add: Add,
  reachable: boolean,
  running: boolean,
): void {
  for (const p of sock.probes) {
    // With a server running, the `restart` probe is a forecast: it warns, the running one decides.
    const status = p.as === 'restart' && running ? 'warn' : 'fail';
    const who = describeId(
      p.as === 'running'
        ? `${userName} as the running server`
        : running
          ? `${userName} as a restarted server would be`
          : `${userName} as the service would start`,
      p.identity,
      name,
    );
    const tail = `(checked with \`${p.command}\`)`;
    switch (p.outcome) {
      case 'ok':
        add(`probe-${p.as}-ok`, 'ok', `${who} connected to ${sock.path} ${tail}`);
        break;
      case 'permission': {
        // The bits say yes for the running process, yet the kernel said no: not a DAC matter.
        const bitsAllow = p.as === 'running' && reachable;
        add(
          `probe-${p.as}-denied`,
          status,
          `${who} got EACCES (permission denied) connecting to ${sock.path} ${tail}`,
          bitsAllow
            ? `the permission bits allow it, so something else refuses: an ACL (\`getfacl ${sock.path}\`), AppArmor/SELinux (\`journalctl -k | grep -i denied\`), or the unit's sandboxing`
            : 'apply the fixes above, then run `opencloud doctor` again',
        );
        break;
      }
      case 'refused':
        add(
          `probe-${p.as}-refused`,
          status,
          `nothing listens on ${sock.path} (a stale socket; ${p.detail}) ${tail}`,
          `systemctl restart ${r.role} (no systemd: \`${ENABLE_COMMAND}\`)`,
        );
        break;
      default:
        add(
          `probe-${p.as}-${p.outcome}`,
          'warn',
          `could not check ${sock.path} as ${who}: ${p.detail} ${tail}`,
          'run the command above by hand to see why',
        );
    }
  }
}

/** containerd and any other socket: no expected group, only whether the server may use it. */
function assessOther(
  sock: SocketFacts,
  id: Identity | undefined,
  userName: string,
  name: (g: number) => string,
  add: Add,
): SocketReport {
  const r = baseReport(sock, id, name);
  // A missing containerd socket is the containerd check's business; nothing to add here.
  if (!sock.stat || !sock.stat.isSocket || !id || !r.grant) return r;
  if (r.grant.allowed && (!r.dir?.search || r.dir.search.allowed)) {
    add(
      `${sock.role}-granted`,
      'ok',
      `${describeId(userName, id, name)} may read+write ${sock.path} (${r.grant.via}${r.grant.via === 'root' ? '' : ` bits ${r.grant.bits}`})`,
    );
  } else {
    const how =
      sock.stat.gid === 0
        ? `${sock.role}'s socket is root-only (${r.owner}:${r.group} ${r.mode}); to list its images, give the socket a group in containerd's config (\`[grpc] gid\`) and add ${userName} to it`
        : `usermod -aG ${name(sock.stat.gid)} ${userName}, then restart the server`;
    add(
      `${sock.role}-denied`,
      'warn',
      `${describeId(userName, id, name)} may not use ${sock.path} (${r.owner}:${r.group} ${r.mode}): the UI's ${sock.role} image list and health stay unavailable; builds do not need it`,
      `only if you want those: ${how}`,
    );
  }
  for (const p of sock.probes) {
    if (p.outcome === 'permission' && r.grant.allowed) {
      add(
        `${sock.role}-probe-denied`,
        'warn',
        `${userName} got EACCES connecting to ${sock.path} although the permission bits allow it (checked with \`${p.command}\`)`,
        `look for an ACL (\`getfacl ${sock.path}\`) or AppArmor/SELinux denials (\`journalctl -k | grep -i denied\`)`,
      );
    }
  }
  return r;
}
