// A build on a server from a local context directory: the directory packed as it is read (tar,
// gzip, .dockerignore honoured, never held whole in memory) and streamed as the body of the
// archive form of POST /api/v1/builds; then the build's events followed to its end (a dropped
// stream is resumed where it stopped, with Last-Event-ID), and its record read for the outcome.
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { tarStream } from '../archive/tar-writer.js';
import type { BuildEvent, BuildState } from '../build/events.js';
import { OpenCloudError } from '../errors.js';
import { BuildLog } from './build-log.js';
import { contextMembers } from './context-files.js';
import { serverRequest, type ServerTarget } from './server-api.js';
import { readEvents } from './sse-reader.js';

export interface RemoteBuild {
  contextDir: string;
  /** The Dockerfile's path inside the context, '/'-separated. */
  dockerfile: string;
  repository: string;
  tags: string[];
  buildArgs: Record<string, string>;
  target?: string;
  platforms: string[];
  noCache: boolean;
}

export interface BuildOutcome {
  id: string;
  state: BuildState;
  images: string[];
  digest: string | null;
  error: string | null;
  failedStep?: { name: string; error?: string };
}

/** The archive form's query string (repeatable parameters repeated). */
function query(b: RemoteBuild): string {
  const q = new URLSearchParams({ repository: b.repository, dockerfile: b.dockerfile });
  for (const t of b.tags) q.append('tag', t);
  for (const [k, v] of Object.entries(b.buildArgs)) q.append('buildArg', `${k}=${v}`);
  if (b.target) q.set('target', b.target);
  for (const p of b.platforms) q.append('platform', p);
  if (b.noCache) q.set('noCache', 'true');
  return q.toString();
}

const FINAL: BuildState[] = ['succeeded', 'failed', 'canceled'];
const RESUMES = 5;

export async function runRemoteBuild(
  target: ServerTarget,
  b: RemoteBuild,
  write: (line: string) => void,
): Promise<BuildOutcome> {
  const members = contextMembers(b.contextDir, {
    dockerfile: b.dockerfile,
    onSkipped: (path, why) => write(`skipped ${path}: ${why}`),
  });
  const body = Readable.from(tarStream(members)).pipe(createGzip());
  const submitted = await serverRequest(target, `/api/v1/builds?${query(b)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/gzip' },
    body: Readable.toWeb(body) as ReadableStream,
    duplex: 'half',
  });
  const { id } = (await submitted.json()) as { id: string };
  write(`build ${id} submitted to ${target.url}`);

  const log = new BuildLog(write);
  let lastId: string | undefined;
  let finished = false;
  for (let attempt = 0; !finished && attempt <= RESUMES; attempt++) {
    const res = await serverRequest(target, `/api/v1/builds/${encodeURIComponent(id)}/events`, {
      headers: { accept: 'text/event-stream', ...(lastId === undefined ? {} : { 'last-event-id': lastId }) },
    });
    try {
      for await (const e of readEvents(res.body as unknown as AsyncIterable<Uint8Array>)) {
        lastId = e.id ?? lastId;
        const event = JSON.parse(e.data) as BuildEvent;
        log.show(event);
        if (event.type === 'state' && FINAL.includes(event.state)) finished = true;
      }
    } catch (err) {
      if (attempt === RESUMES) throw err;
      write(`the event stream broke (${(err as Error).message}); resuming`);
    }
  }
  const record = (await (
    await serverRequest(target, `/api/v1/builds/${encodeURIComponent(id)}`)
  ).json()) as Omit<BuildOutcome, 'failedStep'>;
  if (!FINAL.includes(record.state))
    throw new OpenCloudError(`build ${id} is still ${record.state}, but its event stream ended`, {
      hint: `follow it with GET ${target.url}/api/v1/builds/${id}/events`,
    });
  return { ...record, ...(log.failedStep ? { failedStep: log.failedStep } : {}) };
}
