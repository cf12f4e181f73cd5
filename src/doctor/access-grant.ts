// The kernel's permission rule for one file and one identity, and the small helpers around it.
import type { FileStat, Grant, Identity } from './access-types.js';

export const EXPECTED_MODE = 0o660;
export const RW = 0o6;
export const SEARCH = 0o1;

export const octal = (mode: number) => '0' + (mode & 0o7777).toString(8).padStart(3, '0');

function rwx(bits: number): string {
  return `${bits & 4 ? 'r' : '-'}${bits & 2 ? 'w' : '-'}${bits & 1 ? 'x' : '-'}`;
}

/**
 * The kernel's rule for a permission check: root passes; the owner gets the owner bits only
 * (even if the group bits would allow more); a member of the file's group (primary or
 * supplementary) gets the group bits; anyone else the other bits. ACLs and LSMs are not
 * modelled: the real connect (probe) catches those.
 */
export function grantFor(id: Identity, st: FileStat, want: number): Grant {
  if (id.uid === 0) return { allowed: true, via: 'root', bits: 'rwx' };
  let via: Grant['via'];
  let bits: number;
  if (id.uid === st.uid) {
    via = 'owner';
    bits = (st.mode >> 6) & 7;
  } else if (id.gid === st.gid || id.groups.includes(st.gid)) {
    via = 'group';
    bits = (st.mode >> 3) & 7;
  } else {
    via = 'other';
    bits = st.mode & 7;
  }
  return { allowed: (bits & want) === want, via, bits: rwx(bits) };
}

export const hasGroup = (id: Identity, gid: number) => id.gid === gid || id.groups.includes(gid);

export function allGids(id: Identity): number[] {
  return [...new Set([id.gid, ...id.groups])];
}
