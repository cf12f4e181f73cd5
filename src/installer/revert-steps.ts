// Undoing a service's recorded artifacts as installer steps, newest first: what `services disable`
// and `opencloud uninstall` run, so they get the same plan, events and recap as an install.
import { describeArtifact, revert, type Artifact } from './artifacts.js';
import type { PlannedChange, Step } from './types.js';

export function revertSteps(artifacts: Artifact[], phase: string, reverted: Artifact[]): Step[] {
  return [...artifacts].reverse().map((a, i) => ({
    id: `revert-${i + 1}`,
    title: describeArtifact(a),
    phase,
    plan: async () => [
      {
        kind: kindOf(a),
        target: targetOf(a),
        action: a.kind === 'service' || a.kind === 'process' ? 'stop' : 'remove',
      },
    ],
    async apply() {
      await revert(a);
      reverted.push(a);
    },
  }));
}

function kindOf(a: Artifact): PlannedChange['kind'] {
  if (a.kind === 'file') return a.role === 'config' ? 'file' : a.role;
  return a.kind === 'process' ? 'service' : a.kind;
}

function targetOf(a: Artifact): string {
  switch (a.kind) {
    case 'file':
    case 'directory':
    case 'tree':
      return a.path;
    case 'package':
      return a.names.join(' ');
    case 'group':
    case 'process':
    case 'user':
      return a.name;
    case 'membership':
      return `${a.user} in ${a.group}`;
    case 'service':
      return a.unit;
  }
}
