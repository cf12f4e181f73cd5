// A build's events folded into what the live view shows: its steps in the order BuildKit
// started them, each with its status, whether it was cached, its log text and transfer
// progress; the build's state; warnings and buildctl's own output.
import type { BuildEvent, BuildState } from '../api/types';

export interface StepView {
  id: string;
  name: string;
  status: 'started' | 'completed' | 'cached' | 'failed';
  cached: boolean;
  log: string;
  error?: string;
  progress?: { current: number; total: number };
}

export interface BuildProgress {
  steps: StepView[];
  state?: BuildState;
  message?: string;
  warnings: string[];
  output: string;
}

export const emptyProgress: BuildProgress = { steps: [], warnings: [], output: '' };

function updateStep(
  p: BuildProgress,
  id: string,
  name: string,
  fn: (s: StepView) => StepView,
): BuildProgress {
  const i = p.steps.findIndex((s) => s.id === id);
  const steps = p.steps.slice();
  if (i < 0) steps.push(fn({ id, name, status: 'started', cached: false, log: '' }));
  else steps[i] = fn(steps[i] as StepView);
  return { ...p, steps };
}

export function applyBuildEvent(p: BuildProgress, e: BuildEvent): BuildProgress {
  switch (e.type) {
    case 'state':
      return { ...p, state: e.state, message: e.message ?? p.message };
    case 'step':
      return updateStep(p, e.step, e.name, (s) => ({
        ...s,
        name: e.name || s.name,
        status: e.status,
        cached: s.cached || e.status === 'cached',
        ...(e.error ? { error: e.error } : {}),
      }));
    case 'log':
      return updateStep(p, e.step, e.name, (s) => ({ ...s, log: s.log + e.text }));
    case 'progress':
      return updateStep(p, e.step, '', (s) => ({ ...s, progress: { current: e.current, total: e.total } }));
    case 'warning':
      return { ...p, warnings: [...p.warnings, e.text] };
    case 'output':
      return { ...p, output: p.output + e.text + (e.text.endsWith('\n') ? '' : '\n') };
    default:
      return p;
  }
}
