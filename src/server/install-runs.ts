// Install runs started by this server, and following a run's events: a live run from memory
// (subscribe first, then replay, so nothing falls between), a stored one from the ledger (polled
// while another process, the CLI, is still writing it).
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { FastifyBaseLogger } from 'fastify';
import type { RunResult } from '../installer/engine.js';
import { InstallerBusyError } from '../installer/lock.js';
import type { InstallOptions } from '../installer/options.js';
import type { InstallerEvent } from '../installer/types.js';
import type { Ledger } from '../ledger/records.js';
import { HttpError } from './envelope.js';
import type { SseStream } from './sse.js';

export type Action = 'plan' | 'enable' | 'disable';

export interface Sequenced {
  seq: number;
  event: InstallerEvent;
}

/** A run this process started: its events so far, and a bus ('event', 'end') for the rest. */
export interface LiveRun {
  id: string;
  action: Action;
  history: Sequenced[];
  bus: EventEmitter;
  ended: boolean;
  result: Promise<RunResult>;
}

/** Runs started here. One enable/disable at a time in-process; the lock file covers the CLI. */
export class Runs {
  private readonly live = new Map<string, LiveRun>();
  private current: LiveRun | undefined;

  constructor(
    private readonly ledger: Ledger,
    private readonly log: FastifyBaseLogger,
    private readonly lockPath: string | undefined,
  ) {}

  get(id: string): LiveRun | undefined {
    return this.live.get(id);
  }

  /** Starts a run; resolves once it is in the ledger and has emitted its first event. */
  async start(action: Action, opts: InstallOptions & { purge: boolean }): Promise<LiveRun> {
    const holder = this.current;
    if (holder && action !== 'plan') {
      throw new HttpError(
        409,
        'INSTALL_RUNNING',
        `install run ${holder.id} (${holder.action}) is in progress; it ends with a recap`,
        { runId: holder.id },
      );
    }
    const id = randomUUID();
    const history: Sequenced[] = [];
    const bus = new EventEmitter().setMaxListeners(0);
    let started: () => void = () => undefined;
    const first = new Promise<void>((resolve) => (started = resolve));
    const emit = (event: InstallerEvent, seq: number) => {
      const s = { seq, event };
      history.push(s);
      try {
        bus.emit('event', s);
      } catch (err) {
        this.log.warn({ err, runId: id }, 'an event listener failed');
      }
      started();
    };
    const result = import('../installer/container-registry.js')
      .then(({ runService }) =>
        runService(action, opts, this.ledger, { emit, runId: id, lockPath: this.lockPath }),
      )
      .finally(() => {
        run.ended = true;
        this.live.delete(id);
        if (this.current === run) this.current = undefined;
        bus.emit('end');
      });
    const run: LiveRun = { id, action, history, bus, ended: false, result };
    this.live.set(id, run);
    if (action !== 'plan') this.current = run;
    result.then(
      (r) => this.log.info({ runId: id, action, recap: r.recap }, 'install run finished'),
      (err: Error) => {
        if (!(err instanceof InstallerBusyError))
          this.log.error({ err, runId: id, action }, 'install run failed');
      },
    );
    try {
      await Promise.race([first, run.result]);
    } catch (err) {
      if (err instanceof InstallerBusyError) throw new HttpError(409, 'INSTALL_RUNNING', err.message);
      throw err;
    }
    this.log.info({ runId: id, action }, 'install run started');
    return run;
  }

  /** Waits for the runs in progress (on shutdown: an interrupted run would not roll back). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.live.values()].map((r) => r.result));
  }
}

const message = (s: Sequenced) => ({ id: s.seq, event: s.event.type, data: s.event });

/** Live run: subscribe first, then replay what it emitted so far, skipping seqs already sent. */
export function followLive(stream: SseStream, run: LiveRun, after: number): void {
  let last = after;
  const send = (s: Sequenced) => {
    if (s.seq <= last) return;
    last = s.seq;
    stream.send(message(s));
  };
  // The stream ends at 'end' (after the recap): by then the run is final in the ledger too.
  const end = () => stream.close();
  run.bus.on('event', send);
  run.bus.once('end', end);
  stream.onClose(() => {
    run.bus.off('event', send);
    run.bus.off('end', end);
  });
  for (const s of run.history) send(s);
  if (run.ended) stream.close();
}

/** A run in the ledger only: replay it; one still running elsewhere (the CLI) is polled. */
export async function followStored(
  stream: SseStream,
  ledger: Ledger,
  id: string,
  after: number,
): Promise<void> {
  let last = after;
  while (!stream.closed) {
    // Status before events: a run is finished only after all its events were written.
    const finished = (await ledger.run(id))?.status !== 'running';
    for (const s of await ledger.events(id, last)) {
      last = s.seq;
      stream.send(message(s));
    }
    if (finished) break;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  stream.close();
}
