// Users and groups as the host's name service sees them (getent: /etc/passwd and /etc/group, or
// whatever NSS is configured), for the installer's plans and checks.
import { exec } from './exec.js';

export async function groupId(name: string): Promise<number | undefined> {
  const r = await exec('getent', ['group', name]);
  return r.code === 0 ? Number(r.stdout.split(':')[2]) : undefined;
}

/** The users the group database lists as members of `name` (empty when the group does not exist). */
export async function groupMembers(name: string): Promise<string[]> {
  const r = await exec('getent', ['group', name]);
  if (r.code !== 0) return [];
  const members = r.stdout.trim().split(':')[3] ?? '';
  return members ? members.split(',') : [];
}

export interface UserInfo {
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

export async function userInfo(name: string): Promise<UserInfo | undefined> {
  const r = await exec('getent', ['passwd', name]);
  if (r.code !== 0) return undefined;
  const f = r.stdout.trim().split(':');
  return { uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '', shell: f[6] ?? '' };
}
