// The facts doctor's access section works on (a server process, its identity, the sockets) and
// the report it makes of them. Types only; the decision is in access.ts.
import type { CheckResult } from './checks.js';

/** What `stat` says about a file, as far as access goes. `mode` holds the permission bits. */
export interface FileStat {
  uid: number;
  gid: number;
  mode: number;
}

/** Effective ids as the kernel uses them for file access: uid, primary gid, supplementary gids. */
export interface Identity {
  uid: number;
  gid: number;
  groups: number[];
}

export type ProbeOutcome = 'ok' | 'permission' | 'refused' | 'missing' | 'timeout' | 'error';

/** A real `connect()` to a socket made by a child process holding a given identity. */
export interface Probe {
  /** Whose identity: the running process's exact ids, or what a (re)start would get. */
  as: 'running' | 'restart';
  identity: Identity;
  outcome: ProbeOutcome;
  /** The errno or error text the child reported. */
  detail: string;
  /** The command that made the check, to re-run by hand. */
  command: string;
}

export interface SocketFacts {
  role: 'buildkit' | 'containerd';
  path: string;
  /** lstat of the socket; undefined when it does not exist (or could not be inspected). */
  stat?: FileStat & { isSocket: boolean };
  /** Why it could not be inspected, when that was not "it does not exist". */
  statError?: string;
  /** The directory holding it: connecting also needs search (x) permission there. */
  dir?: FileStat & { path: string };
  probes: Probe[];
}

export interface ServerProcess {
  /** How it was found: opencloud.service's MainPID, or a `node … opencloud… serve` in /proc. */
  source: 'systemd' | 'proc';
  pid: number;
  cmdline: string;
  /** From /proc/<pid>/status (effective Uid/Gid, Groups): what the process itself holds. */
  identity: Identity;
}

export interface AccessInput {
  /** The service account (SERVICE_USER) and unit (UNIT) from src/deploy/paths.ts. */
  serviceUser: string;
  unit: string;
  /** systemd is PID 1 (/run/systemd/system exists). */
  systemd: boolean;
  /** opencloud.service's ActiveState, when systemd knows the unit. */
  unitState?: string;
  /** The running server, if one was found; further matches in `otherPids`. */
  server?: ServerProcess;
  otherPids: number[];
  /** Servers seen in another PID namespace (a container on this host): named, not judged. */
  foreignPids: number[];
  /** The server's user from /etc/passwd: the running process's uid, else the service user. */
  user?: { name: string; uid: number; gid: number };
  /** The user's groups now: primary gid, /etc/group memberships, and the unit's SupplementaryGroups=. */
  groupsNow?: number[];
  /** gid → name, from /etc/group. */
  groupNames: Record<number, string>;
  /** The group the BuildKit socket must have (`buildkit`) and its gid, undefined if it does not exist. */
  requiredGroup: { name: string; gid?: number };
  sockets: SocketFacts[];
  /** Why no real connect was made as the server's identity, if none was. */
  probeSkipped?: string;
}

export interface Grant {
  allowed: boolean;
  /** Which permission class decided: root bypasses, else owner, group or other bits. */
  via: 'root' | 'owner' | 'group' | 'other';
  /** The bits of that class, as `rw-`. */
  bits: string;
}

export interface SocketReport {
  role: SocketFacts['role'];
  path: string;
  exists: boolean;
  isSocket?: boolean;
  owner?: string;
  group?: string;
  /** Octal permission bits, e.g. "0660". */
  mode?: string;
  statError?: string;
  dir?: { path: string; owner: string; group: string; mode: string; search?: Grant };
  /** Whether the server's identity may read+write the socket by the permission bits. */
  grant?: Grant;
  probes: Probe[];
}

export interface AccessReport {
  serviceUser: string;
  unit: string;
  systemd: boolean;
  unitState?: string;
  server: {
    running: boolean;
    source?: ServerProcess['source'];
    pid?: number;
    cmdline?: string;
    otherPids: number[];
    /** Servers in another PID namespace (containers on this host), not judged here. */
    foreignPids: number[];
    uid?: number;
    user?: string;
    gid?: number;
    group?: string;
    /** Supplementary groups as the running process sees them (names where /etc/group has one). */
    groups?: string[];
  };
  /** Whose access was judged: the running process, the service user (none runs), or nobody. */
  subject: 'running' | 'service-user' | 'none';
  user?: {
    name: string;
    uid: number;
    /** What a (re)started server gets now: primary group, /etc/group, SupplementaryGroups=. */
    groupsNow: string[];
    /** Groups the user has now that the running process lacks: added after it started. */
    addedSinceStart: string[];
    removedSinceStart: string[];
  };
  requiredGroup: { name: string; gid?: number };
  sockets: SocketReport[];
  probeSkipped?: string;
  findings: CheckResult[];
}
