import { describe, expect, it } from 'vitest';
import {
  assessAccess,
  describeAccess,
  grantFor,
  type AccessInput,
  type Identity,
  type Probe,
  type SocketFacts,
} from './access.js';

const OC = 998; // opencloud's uid and primary gid
const BK = 995; // buildkit
const SOCK = '/run/buildkit/buildkitd.sock';
const names = { 0: 'root', [OC]: 'opencloud', [BK]: 'buildkit' };

function buildkitSocket(
  over: Partial<NonNullable<SocketFacts['stat']>> = {},
  probes: Probe[] = [],
): SocketFacts {
  return {
    role: 'buildkit',
    path: SOCK,
    stat: { uid: 0, gid: BK, mode: 0o660, isSocket: true, ...over },
    dir: { path: '/run/buildkit', uid: 0, gid: BK, mode: 0o750 },
    probes,
  };
}

/** opencloud.service running as opencloud with `running` groups; /etc/group says `now`. */
function input(
  running: number[] | undefined,
  now: number[] | undefined,
  sock = buildkitSocket(),
): AccessInput {
  return {
    serviceUser: 'opencloud',
    unit: 'opencloud.service',
    systemd: true,
    unitState: running ? 'active' : 'inactive',
    ...(running
      ? {
          server: {
            source: 'systemd' as const,
            pid: 4242,
            cmdline: 'node /usr/lib/opencloud/bin/opencloud.js serve',
            identity: { uid: OC, gid: OC, groups: running },
          },
        }
      : {}),
    otherPids: [],
    foreignPids: [],
    ...(now ? { user: { name: 'opencloud', uid: OC, gid: OC }, groupsNow: now } : {}),
    groupNames: names,
    requiredGroup: { name: 'buildkit', gid: BK },
    sockets: [sock],
  };
}

const codes = (r: ReturnType<typeof assessAccess>) =>
  r.findings.map((f) => `${f.status}:${String(f.details?.code)}`);
const finding = (r: ReturnType<typeof assessAccess>, code: string) =>
  r.findings.find((f) => f.details?.code === code);

describe('grantFor: the kernel permission rule', () => {
  const st = { uid: 0, gid: BK, mode: 0o660 };
  it('root always, group members by the group bits, others by the other bits', () => {
    expect(grantFor({ uid: 0, gid: 0, groups: [] }, { ...st, mode: 0o000 }, 0o6)).toMatchObject({
      allowed: true,
      via: 'root',
    });
    expect(grantFor({ uid: OC, gid: OC, groups: [OC, BK] }, st, 0o6)).toEqual({
      allowed: true,
      via: 'group',
      bits: 'rw-',
    });
    expect(grantFor({ uid: OC, gid: BK, groups: [] }, st, 0o6).allowed).toBe(true); // primary gid counts
    expect(grantFor({ uid: OC, gid: OC, groups: [OC] }, st, 0o6)).toEqual({
      allowed: false,
      via: 'other',
      bits: '---',
    });
  });
  it('gives the owner only the owner bits, even when the group bits would allow', () => {
    expect(grantFor({ uid: OC, gid: OC, groups: [BK] }, { uid: OC, gid: BK, mode: 0o060 }, 0o6)).toEqual({
      allowed: false,
      via: 'owner',
      bits: '---',
    });
  });
  it('needs both read and write', () => {
    expect(grantFor({ uid: OC, gid: OC, groups: [BK] }, { ...st, mode: 0o640 }, 0o6).allowed).toBe(false);
  });
});

describe('assessAccess', () => {
  it('ok: the running server holds buildkit and the socket is 0660 root:buildkit', () => {
    const r = assessAccess(input([OC, BK], [OC, BK]));
    expect(codes(r)).toEqual(['ok:granted']);
    expect(r.subject).toBe('running');
    expect(r.server).toMatchObject({
      running: true,
      pid: 4242,
      user: 'opencloud',
      groups: ['opencloud', 'buildkit'],
    });
    expect(r.sockets[0]).toMatchObject({
      owner: 'root',
      group: 'buildkit',
      mode: '0660',
      grant: { allowed: true },
    });
  });

  it('user not in the buildkit group: usermod, then restart', () => {
    const r = assessAccess(input([OC], [OC]));
    expect(codes(r)).toEqual(['fail:not-in-group']);
    expect(finding(r, 'not-in-group')?.fix).toBe(
      'usermod -aG buildkit opencloud && systemctl restart opencloud',
    );
    expect(r.sockets[0]?.grant).toEqual({ allowed: false, via: 'other', bits: '---' });
  });

  it('membership added after the process started: restart only', () => {
    const r = assessAccess(input([OC], [OC, BK]));
    expect(codes(r)).toEqual(['fail:added-after-start']);
    const f = finding(r, 'added-after-start');
    expect(f?.fix).toBe('systemctl restart opencloud');
    expect(f?.message).toContain('pid 4242');
    expect(r.user?.addedSinceStart).toEqual(['buildkit']);
    expect(r.user?.removedSinceStart).toEqual([]);
  });

  it('wrong socket group: points at buildkitd --group in the unit, never chmod', () => {
    const r = assessAccess(input([OC, BK], [OC, BK], buildkitSocket({ gid: 0 })));
    expect(codes(r)).toEqual(['fail:socket-group']);
    const fix = finding(r, 'socket-group')?.fix ?? '';
    expect(fix).toContain('`--group buildkit` in buildkit.service');
    expect(fix).toContain('opencloud services enable container-registry');
    expect(fix).toContain('never chgrp/chmod');
    expect(finding(r, 'socket-group')?.message).toContain('has group root, not buildkit');
  });

  it('wrong mode: 0600 keeps the group out (fail); 0666 lets everyone in (warn)', () => {
    const closed = assessAccess(input([OC, BK], [OC, BK], buildkitSocket({ mode: 0o600 })));
    expect(codes(closed)).toEqual(['fail:socket-mode']);
    expect(finding(closed, 'socket-mode')?.message).toContain('mode 0600, not 0660');

    const openSock = buildkitSocket({ mode: 0o666 });
    openSock.dir = { path: '/run/buildkit', uid: 0, gid: 0, mode: 0o755 };
    const open = assessAccess(input([OC], [OC], openSock));
    expect(codes(open)).toEqual(['warn:socket-mode', 'warn:not-in-group', 'ok:granted']);
    expect(finding(open, 'socket-mode')?.message).toContain('open to every local user');
  });

  it('running as root: access by root, but a warning to run unprivileged', () => {
    const inp = input([0], [0], buildkitSocket({ gid: BK }));
    inp.server = { ...inp.server!, identity: { uid: 0, gid: 0, groups: [0] } };
    inp.user = { name: 'root', uid: 0, gid: 0 };
    const r = assessAccess(inp);
    expect(codes(r)).toEqual(['warn:root', 'ok:granted']);
    expect(r.sockets[0]?.grant?.via).toBe('root');
    expect(finding(r, 'root')?.fix).toContain('opencloud install');
  });

  it('no server and no service user (a checkout): says so, judges nobody', () => {
    const r = assessAccess(input(undefined, undefined));
    expect(r.subject).toBe('none');
    expect(codes(r)).toEqual(['ok:no-server']);
    expect(r.sockets[0]?.grant).toBeUndefined();
    expect(describeAccess(r)[0]?.[1]).toContain('none running');
    const contained = assessAccess({ ...input(undefined, undefined), foreignPids: [77] });
    expect(contained.server.foreignPids).toEqual([77]);
    expect(describeAccess(contained)[1]?.[1]).toContain('pids 77 run a server in another PID namespace');
  });

  it('no server but the service user exists: judges what it would get at start', () => {
    const r = assessAccess(input(undefined, [OC]));
    expect(r.subject).toBe('service-user');
    expect(codes(r)).toEqual(['warn:not-running', 'fail:not-in-group']);
    expect(finding(r, 'not-running')?.message).toContain('opencloud.service is inactive');
  });

  it('a missing socket: enable container-registry, or look at the unit', () => {
    const sock: SocketFacts = { role: 'buildkit', path: SOCK, probes: [] };
    const r = assessAccess(input([OC, BK], [OC, BK], sock));
    expect(codes(r)).toEqual(['fail:socket-missing']);
    expect(finding(r, 'socket-missing')?.fix).toContain('opencloud services enable container-registry');
    expect(finding(r, 'socket-missing')?.fix).toContain('systemctl status buildkit');
    const direct = assessAccess({ ...input(undefined, undefined, sock), systemd: false });
    expect(finding(direct, 'socket-missing')?.fix).toContain('/var/log/opencloud/buildkitd.log');
  });

  it('the buildkit group does not exist at all', () => {
    const inp = input([OC], [OC], buildkitSocket({ gid: 0 }));
    inp.requiredGroup = { name: 'buildkit' };
    const r = assessAccess(inp);
    expect(codes(r)).toContain('fail:group-missing');
  });

  it('a directory on the way that the server may not search', () => {
    const sock = buildkitSocket();
    sock.dir = { path: '/run/buildkit', uid: 0, gid: 0, mode: 0o700 };
    const r = assessAccess(input([OC, BK], [OC, BK], sock));
    expect(codes(r)).toEqual(['fail:dir-search']);
    expect(finding(r, 'dir-search')?.fix).toContain('rm -rf /run/buildkit');
  });

  it('membership removed after start: works now, lost at restart', () => {
    const r = assessAccess(input([OC, BK], [OC]));
    expect(codes(r)).toEqual(['warn:lost-at-restart', 'ok:granted']);
    expect(r.user?.removedSinceStart).toEqual(['buildkit']);
  });

  it('a server found in /proc is restarted by hand, not through systemctl', () => {
    const inp = input([OC], [OC]);
    inp.server = { ...inp.server!, source: 'proc' };
    const fix = finding(assessAccess(inp), 'not-in-group')?.fix ?? '';
    expect(fix).toMatch(/^usermod -aG buildkit opencloud && restart the server \(pid 4242/);
  });

  it('reports EACCES from the real connect, and blames ACLs/LSMs when the bits allow it', () => {
    const id: Identity = { uid: OC, gid: OC, groups: [OC, BK] };
    const probe: Probe = {
      as: 'running',
      identity: id,
      outcome: 'permission',
      detail: 'EACCES',
      command: 'setpriv …',
    };
    const r = assessAccess(input([OC, BK], [OC, BK], buildkitSocket({}, [probe])));
    expect(codes(r)).toEqual(['ok:granted', 'fail:probe-running-denied']);
    const f = finding(r, 'probe-running-denied');
    expect(f?.message).toContain('EACCES (permission denied)');
    expect(f?.fix).toContain('getfacl');

    const ok = assessAccess(input([OC, BK], [OC, BK], buildkitSocket({}, [{ ...probe, outcome: 'ok' }])));
    expect(codes(ok)).toEqual(['ok:granted', 'ok:probe-running-ok']);
  });

  it('containerd: a root-only socket is a warning, not a failure', () => {
    const inp = input([OC, BK], [OC, BK]);
    inp.sockets.push({
      role: 'containerd',
      path: '/run/containerd/containerd.sock',
      stat: { uid: 0, gid: 0, mode: 0o660, isSocket: true },
      probes: [],
    });
    expect(codes(assessAccess(inp))).toEqual(['ok:granted', 'warn:containerd-denied']);
  });
});

describe('assessAccess: the socket directory', () => {
  it('blames membership, not the directory, when the directory is root:buildkit 0750', () => {
    const sock = buildkitSocket({ mode: 0o666 });
    const r = assessAccess(input([OC], [OC], sock));
    // The socket is open to all, but its directory is not: membership is what is missing.
    expect(codes(r)).toEqual(['warn:socket-mode', 'fail:not-in-group']);
    expect(r.sockets[0]?.dir?.search?.allowed).toBe(false);
  });
});

describe('assessAccess: real connects', () => {
  it('a restart forecast only warns while the running server still gets in', () => {
    const probe = (as: Probe['as'], outcome: Probe['outcome'], groups: number[]): Probe => ({
      as,
      identity: { uid: OC, gid: OC, groups },
      outcome,
      detail: outcome === 'ok' ? 'ok' : 'EACCES',
      command: 'setpriv …',
    });
    const sock = buildkitSocket({}, [probe('running', 'ok', [OC, BK]), probe('restart', 'permission', [OC])]);
    const r = assessAccess(input([OC, BK], [OC], sock));
    expect(codes(r)).toEqual([
      'warn:lost-at-restart',
      'ok:granted',
      'ok:probe-running-ok',
      'warn:probe-restart-denied',
    ]);
    // With no server running, what the service would start with is the verdict.
    const idle = assessAccess(
      input(undefined, [OC], buildkitSocket({}, [probe('restart', 'permission', [OC])])),
    );
    expect(codes(idle)).toContain('fail:probe-restart-denied');
  });
});
