// The build service: a queue with a concurrency limit, a timeout per build, cancel, and the
// events of builds in progress kept in memory (a late subscriber gets them from the start, then
// live ones). Finished builds are read back from their records.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContextLimits } from './context-limits.js';
import { checkDefinition, checkSecrets, type BuildDefinition } from './definition.js';
import { BuildFailure, runBuild } from './driver.js';
import { QueueLimit, type QueuePlace } from './queue-limit.js';
import { redactingEmitter, Redactor } from './redact.js';
import { NoWorkerError, type WorkerPool } from './workers.js';
import type { BuildEvent, BuildState } from './events.js';
import type { BuildRecords } from './records.js';
import type { Principal } from '../auth/store.js';

export interface BuildServiceOptions {
  concurrency: number;
  timeoutSec: number;
  /** Builds one user may have queued or running (build.maxQueuedPerUser). */
  maxQueuedPerUser: number;
  /** What a JSON context may hold (build.contextMaxBytes, build.contextMaxFiles). */
  contextLimits: ContextLimits;
  workers: WorkerPool;
  workDir: string;
  /** host:port of this registry as BuildKit reaches it (known once the server listens). */
  registryHost: () => string;
  /**
   * With authentication on: a credential for this registry that lets the build pull what its
   * requester may pull and push its target, valid while it runs, revoked after.
   */
  credential?: (
    requestedBy: Principal | undefined,
    repository: string,
  ) => Promise<BuildCredential | undefined>;
  /** A failure outside the build itself (its record could not be written). */
  onError: (err: Error, buildId: string) => void;
  /** Told of every build's end (metrics): seconds queued, and seconds run (undefined: never ran). */
  onFinished?: (
    outcome: 'succeeded' | 'failed' | 'canceled',
    waitS: number,
    durationS: number | undefined,
  ) => void;
  /** Told of every build's end once its final state is recorded (webhooks). */
  onRecorded?: (build: EndedBuild) => void;
}

/** A build as it ended, for those told of it. */
export interface EndedBuild {
  id: string;
  state: 'succeeded' | 'failed' | 'canceled';
  definition: BuildDefinition;
  images: string[];
  digest: string | null;
  error: string | null;
  requestedBy: Principal | undefined;
}

export interface BuildCredential {
  username: string;
  secret: string;
  revoke(): Promise<void>;
}

/** A build in this process: its events so far and a bus ('event', 'end') for the rest. */
export interface LiveBuild {
  id: string;
  events: BuildEvent[];
  bus: EventEmitter;
  controller: AbortController;
  done: Promise<void>;
  state: BuildState;
  /** The plain-text log so far. */
  log: string;
}

/** A build event as plain-text log lines: each step as it starts (or is cached), its output. */
export function logLines(e: BuildEvent): string {
  if (e.type === 'log') {
    return e.text
      .split('\n')
      .filter(Boolean)
      .map((l) => `[${e.name}] ${l}\n`)
      .join('');
  }
  if (e.type === 'step' && e.status !== 'completed') {
    const tail = e.status === 'cached' ? ' CACHED' : e.status === 'failed' ? ` ERROR: ${e.error ?? ''}` : '';
    return `=> ${e.name}${tail}\n`;
  }
  return e.type === 'output' ? `${e.text}\n` : '';
}

/** Whom a build is recorded and counted for: a user's name, or null without a signed-in user. */
const requesterOf = (p: Principal | undefined): string | null => (p?.kind === 'user' ? p.name : null);

export class BuildService {
  private readonly live = new Map<string, LiveBuild>();
  private readonly waiting: (() => void)[] = [];
  private running = 0;
  private readonly queue: QueueLimit;

  constructor(
    readonly records: BuildRecords,
    private readonly opts: BuildServiceOptions,
  ) {
    this.queue = new QueueLimit(records, opts.maxQueuedPerUser);
  }

  /**
   * A place in the queue of `requestedBy` held while an archive uploads (hand it to submit, or
   * release it); throws TooManyBuildsError when the user is at build.maxQueuedPerUser.
   */
  reserve(requestedBy: Principal | undefined): Promise<QueuePlace> {
    return this.queue.take(requesterOf(requestedBy));
  }

  /**
   * Call once at start: builds a previous process left unfinished are marked failed, and the
   * private directories it left behind (contexts, build dirs with their credentials) removed.
   */
  async recover(): Promise<number> {
    const left = await readdir(this.opts.workDir).catch(() => [] as string[]);
    for (const d of left.filter((n) => /^(build|context)-/.test(n))) {
      await rm(join(this.opts.workDir, d), { recursive: true, force: true });
    }
    return this.records.failInterrupted('the server restarted while this build was queued or running');
  }

  getLive(id: string): LiveBuild | undefined {
    return this.live.get(id);
  }

  /**
   * Validates and queues a build; resolves once it is recorded. Throws DefinitionError,
   * ContextTooLargeError or TooManyBuildsError (a `place` from reserve is used instead of a new one).
   */
  async submit(
    definition: BuildDefinition,
    requestedBy?: Principal,
    secrets: Record<string, string> = {},
    place?: QueuePlace,
  ): Promise<LiveBuild> {
    checkDefinition(definition, this.opts.contextLimits);
    checkSecrets(secrets);
    if (Object.keys(secrets).length > 0)
      definition = { ...definition, secretIds: Object.keys(secrets).sort() };
    const id = randomUUID();
    const host = this.opts.registryHost();
    const images = (definition.tags.length ? definition.tags : ['latest']).map(
      (t) => `${host}/${definition.repository}:${t}`,
    );
    const held = place ?? (await this.queue.take(requesterOf(requestedBy)));
    // The build starts while its record commits (an fsync): a cached build takes ~200 ms, and
    // waiting for two commits first was a fifth of that. The caller still gets it recorded.
    const recorded = this.records.insert(id, definition, images, requesterOf(requestedBy));
    void recorded.then(held.release, held.release); // from then on the record counts
    const build: LiveBuild = {
      id,
      events: [],
      bus: new EventEmitter().setMaxListeners(0),
      controller: new AbortController(),
      done: Promise.resolve(),
      state: 'queued',
      log: '',
    };
    this.live.set(id, build);
    this.emit(build, { type: 'state', state: 'queued' });
    build.done = this.execute(build, definition, images, recorded, requestedBy, secrets).catch((err: Error) =>
      this.opts.onError(err, id),
    );
    try {
      await recorded;
    } catch (err) {
      build.controller.abort('the build could not be recorded');
      throw err;
    }
    return build;
  }

  /** On shutdown: cancels every build in progress and waits for their records. */
  async shutdown(): Promise<void> {
    const all = [...this.live.values()];
    for (const b of all) b.controller.abort('the server is shutting down');
    await Promise.allSettled(all.map((b) => b.done));
  }

  /** Cancels a queued or running build; false when it is not in progress here. */
  cancel(id: string): boolean {
    const b = this.live.get(id);
    if (!b || b.controller.signal.aborted) return false;
    b.controller.abort('canceled by request');
    return true;
  }

  private emit(b: LiveBuild, e: BuildEvent): void {
    b.events.push(e);
    b.bus.emit('event', b.events.length - 1, e);
  }

  /** Waits for a free slot; false when the build was canceled while it waited. */
  private slot(signal: AbortSignal): Promise<boolean> {
    if (this.running < this.opts.concurrency) {
      this.running++;
      return Promise.resolve(true);
    }
    return new Promise<boolean>((resolve) => {
      const take = () => {
        signal.removeEventListener('abort', leave);
        resolve(true);
      };
      const leave = () => {
        this.waiting.splice(this.waiting.indexOf(take), 1);
        resolve(false);
      };
      this.waiting.push(take);
      signal.addEventListener('abort', leave, { once: true });
    });
  }

  /** Hands the slot straight to the next waiter (the count stays), or frees it. */
  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running--;
  }

  private async execute(
    b: LiveBuild,
    d: BuildDefinition,
    images: string[],
    recorded: Promise<void>,
    requestedBy: Principal | undefined,
    secrets: Record<string, string>,
  ): Promise<void> {
    const signal = b.controller.signal;
    // A step that prints a secret does not put it in the log, the events or the record.
    const redactor = new Redactor(Object.values(secrets));
    const record = (e: BuildEvent) => {
      b.log += logLines(e);
      this.emit(b, e);
    };
    const emit = redactor.active ? redactingEmitter(redactor, record) : record;
    let result: { state: BuildState; digest?: string; error?: string };
    let marked: Promise<void> = recorded;
    const queuedAt = performance.now();
    let worker: Awaited<ReturnType<WorkerPool['acquire']>> | undefined;
    const took = await this.slot(signal);
    const startedAt = performance.now();
    const ran = took && !signal.aborted;
    try {
      if (!took || signal.aborted) throw new BuildFailure('canceled by request');
      let placed;
      try {
        placed = await this.opts.workers.acquire();
      } catch (err) {
        if (err instanceof NoWorkerError) throw new BuildFailure(err.message);
        throw err;
      }
      worker = placed;
      marked = recorded.then(() => this.records.started(b.id, placed.endpoint.address));
      b.state = 'running';
      emit({ type: 'state', state: 'running', worker: placed.endpoint.address });
      const timer = setTimeout(
        () => b.controller.abort(`timed out after ${this.opts.timeoutSec} s`),
        this.opts.timeoutSec * 1000,
      );
      const credential = await this.opts.credential?.(requestedBy, d.repository);
      try {
        const digest = await runBuild(d, {
          endpoint: placed.endpoint,
          workDir: this.opts.workDir,
          images,
          registry: this.opts.registryHost(),
          signal,
          emit,
          secrets,
          ...(credential
            ? {
                registryAuth: {
                  host: this.opts.registryHost(),
                  username: credential.username,
                  secret: credential.secret,
                },
              }
            : {}),
        });
        result = { state: 'succeeded', digest };
      } finally {
        clearTimeout(timer);
        await credential?.revoke();
      }
    } catch (err) {
      let reason = signal.aborted ? String(signal.reason) : (err as Error).message;
      // A daemon that died under the build is named, and leaves the rotation (the pool checks it).
      const fault =
        worker && !signal.aborted ? await this.opts.workers.blame(worker.endpoint.address) : undefined;
      if (worker && fault)
        reason = `BuildKit worker ${worker.endpoint.address} failed during the build (${fault}); it is out of rotation until it answers again. ${reason}`;
      result = {
        state: signal.aborted && signal.reason === 'canceled by request' ? 'canceled' : 'failed',
        error: reason,
      };
    } finally {
      worker?.release();
      if (took) this.release();
    }
    if (result.state !== 'queued' && result.state !== 'running') {
      const ranS = ran ? (performance.now() - startedAt) / 1000 : undefined;
      this.opts.onFinished?.(result.state, (startedAt - queuedAt) / 1000, ranS);
    }
    await marked.catch(() => undefined); // "running" is written before the final state
    if (result.error && redactor.active) result.error = redactor.redact(result.error);
    b.state = result.state;
    emit({ type: 'state', state: result.state, ...(result.error ? { message: result.error } : {}) });
    await this.records.finished(b.id, { ...result, log: b.log, events: b.events });
    this.live.delete(b.id);
    b.bus.emit('end');
    if (result.state === 'succeeded' || result.state === 'failed' || result.state === 'canceled') {
      this.opts.onRecorded?.({
        id: b.id,
        state: result.state,
        definition: d,
        images,
        digest: result.digest ?? null,
        error: result.error ?? null,
        requestedBy,
      });
    }
  }
}
