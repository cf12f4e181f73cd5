// Install runs started by this server, and following a run's events: a live run from memory
// (subscribe first, then replay, so nothing falls between), a stored one from the ledger (polled
// while another process, the CLI, is still writing it). A run is carried out by a Runner: the
// installer in this process (a server running as root), or the privileged helper through sudo
// (privileged-runner.ts); both emit the same numbered events and resolve to the same RunResult.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { FastifyBaseLogger } from 'fastify';
import type { RunResult } from '../installer/engine.js';
import type { InstallerOutcome } from '../metrics/metrics.js';
import { InstallerBusyError } from '../installer/lock.js';
import type { InstallOptions } from '../installer/options.js';
import type { InstallerEvent } from '../installer/types.js';
import type { Ledger } from '../ledger/records.js';
import { PolicyRefusal, type RequestedRun } from '../installer/request-policy.js';
import { HttpError } from './envelope.js';
import type { SseStream } from './sse.js';

export type Action = 'plan' | 'enable' | 'disable';

/** Where a server running as root reads the checksums it trusts, as its refusals name it. */
const IN_PROCESS_TRUSTED_IN = "installer.trustedSha256 of this server's configuration";

/** What a run in this process, asked for through the API, is held to (request-policy.ts). */
function inProcessRequest(opts: InstallOptions): RequestedRun {
  return { trustedSha256: opts.trustedSha256 ?? [], trustedIn: IN_PROCESS_TRUSTED_IN };
}

/** A refusal of the request policy as the API answers it; anything else unchanged. */
function policyHttpError(err: unknown): unknown {
  return err instanceof PolicyRefusal ? new HttpError(err.status, err.code, err.message) : err;
}

export interface Sequenced {
  seq: number;
  event: InstallerEvent;
}

/** What a runner is given: where its numbered events go, and the run's id (the ledger's). */
export interface RunnerHooks {
  emit: (event: InstallerEvent, seq: number) => void;
  runId: string;
}

/** Carries out one install run; writes it to the ledger under hooks.runId. */
export type Runner = (
  action: Action,
  opts: InstallOptions & { purge: boolean },
  hooks: RunnerHooks,
) => Promise<RunResult>;

/** A run this process started: its events so far, and a bus ('event', 'end') for the rest. */
export interface LiveRun {
  id: string;
  action: Action;
  history: Sequenced[];
  bus: EventEmitter;
  ended: boolean;
  result: Promise<RunResult>;
}

/** How a run ended: with a result (ok, failed), or without one (busy: the lock; error: refused or broken). */
export interface FinishedRun {
  id: string;
  action: Action;
  outcome: InstallerOutcome;
  result?: RunResult;
  /** Who asked for it. */
  actor: string | undefined;
}

/** An enable or disable run that ended with a result. */
export type EndedRun = FinishedRun & { action: 'enable' | 'disable'; result: RunResult };

/** Runs started here. One enable/disable at a time in-process; the lock file covers the CLI. */
export class Runs {
  private readonly live = new Map<string, LiveRun>();
  private current: LiveRun | undefined;

  constructor(
    private readonly ledger: Ledger,
    private readonly log: FastifyBaseLogger,
    private readonly lockPath: string | undefined,
    /** Told how every run ended, plans included (metrics, webhooks' service.changed). */
    private readonly onFinished?: (run: FinishedRun) => void,
  ) {}

  get(id: string): LiveRun | undefined {
    return this.live.get(id);
  }

  /**
   * The installer in this process, writing to this server's ledger. Its runs are asked for over
   * the API: held to the request policy as the privileged helper's are (privileged-runner.ts).
   */
  readonly inProcess: Runner = (action, opts, hooks) =>
    import('../installer/container-registry.js')
      .then(({ runService }) =>
        runService(action, opts, this.ledger, {
          ...hooks,
          lockPath: this.lockPath,
          requested: inProcessRequest(opts),
        }),
      )
      .catch((err: unknown) => {
        throw policyHttpError(err);
      });

  /** Starts a run; resolves once it is in the ledger and has emitted its first event. */
  async start(
    action: Action,
    opts: InstallOptions & { purge: boolean },
    runner: Runner = this.inProcess,
    actor?: string,
  ): Promise<LiveRun> {
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
    const result = runner(action, opts, { emit, runId: id }).finally(() => {
      run.ended = true;
      this.live.delete(id);
      if (this.current === run) this.current = undefined;
      bus.emit('end');
    });
    const run: LiveRun = { id, action, history, bus, ended: false, result };
    this.live.set(id, run);
    if (action !== 'plan') this.current = run;
    result.then(
      (r) => {
        this.log.info({ runId: id, action, recap: r.recap }, 'install run finished');
        this.onFinished?.({ id, action, outcome: r.recap.failed > 0 ? 'failed' : 'ok', result: r, actor });
      },
      (err: Error) => {
        this.onFinished?.({
          id,
          action,
          outcome: err instanceof InstallerBusyError ? 'busy' : 'error',
          actor,
        });
        if (err instanceof InstallerBusyError) return;
        // Refused before it started (the privileged helper, sudo): the request's answer says why.
        if (err instanceof HttpError && err.statusCode < 500)
          this.log.warn({ err, runId: id, action }, 'install run refused');
        else this.log.error({ err, runId: id, action }, 'install run failed');
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
