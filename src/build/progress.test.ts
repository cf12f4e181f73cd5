import { describe, expect, it } from 'vitest';
import type { BuildEvent } from './events.js';
import { ProgressReader } from './progress.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const V = 'sha256:aa';

describe('rawjson progress', () => {
  it('merges vertexes by digest, decodes logs, and keeps a failing step with its last lines', () => {
    const events: BuildEvent[] = [];
    const r = new ProgressReader((e) => events.push(e));
    r.line(JSON.stringify({ vertexes: [{ digest: V, name: '[2/2] RUN make' }] }));
    r.line(JSON.stringify({ vertexes: [{ digest: V, name: '[2/2] RUN make', started: 't1' }] }));
    r.line(JSON.stringify({ vertexes: [{ digest: V, name: '[2/2] RUN make', started: 't1' }] }));
    r.line(JSON.stringify({ logs: [{ vertex: V, stream: 1, data: b64('one\n'), timestamp: 't' }] }));
    r.line(JSON.stringify({ logs: [{ vertex: V, stream: 2, data: b64('boom\n'), timestamp: 't' }] }));
    r.line(JSON.stringify({ statuses: [{ id: 'x', vertex: V, current: 5, total: 10 }] }));
    r.line(
      JSON.stringify({
        vertexes: [
          { digest: V, name: '[2/2] RUN make', started: 't1', completed: 't2', error: 'exit code: 2' },
        ],
      }),
    );
    r.line('error: failed to solve: process "/bin/sh -c make" did not complete successfully: exit code: 2');
    expect(events.filter((e) => e.type === 'step').map((e) => e.type === 'step' && e.status)).toEqual([
      'started',
      'failed',
    ]);
    expect(events.filter((e) => e.type === 'log')).toEqual([
      { type: 'log', step: V, name: '[2/2] RUN make', stream: 'stdout', text: 'one\n', time: 't' },
      { type: 'log', step: V, name: '[2/2] RUN make', stream: 'stderr', text: 'boom\n', time: 't' },
    ]);
    expect(events).toContainEqual({ type: 'progress', step: V, id: 'x', current: 5, total: 10, done: false });
    expect(r.failed).toEqual({ name: '[2/2] RUN make', error: 'exit code: 2', tail: ['one', 'boom'] });
    expect(r.output).toEqual([
      'error: failed to solve: process "/bin/sh -c make" did not complete successfully: exit code: 2',
    ]);
  });

  it('reports cached steps once', () => {
    const events: BuildEvent[] = [];
    const r = new ProgressReader((e) => events.push(e));
    for (let i = 0; i < 3; i++)
      r.line(JSON.stringify({ vertexes: [{ digest: V, name: 'x', cached: true, completed: 't' }] }));
    expect(events).toEqual([{ type: 'step', step: V, name: 'x', status: 'cached' }]);
  });

  it('decodes a character cut between two chunks and keeps whole lines in the tail', () => {
    const events: BuildEvent[] = [];
    const r = new ProgressReader((e) => events.push(e));
    const bytes = Buffer.from('naïve half-');
    const cut = bytes.indexOf(0xc3) + 1; // inside the two bytes of "ï"
    const send = (data: Buffer) =>
      r.line(JSON.stringify({ logs: [{ vertex: V, stream: 1, data: data.toString('base64') }] }));
    send(bytes.subarray(0, cut));
    send(Buffer.concat([bytes.subarray(cut), Buffer.from('line\nlast')]));
    r.line(JSON.stringify({ vertexes: [{ digest: V, name: 'x', started: 't', error: 'exit code: 1' }] }));
    const text = events.map((e) => (e.type === 'log' ? e.text : '')).join('');
    expect(text).toBe('naïve half-line\nlast');
    expect(text).not.toContain('\ufffd');
    expect(r.failed?.tail).toEqual(['naïve half-line', 'last']);
  });
});
