// Upload phase: the big blob pushed in the three forms of the OCI upload flow (one POST, POST + PUT,
// POST + PATCH + PUT), timed from the first request to the last response and checked with HEAD.
// The blobs pushed as POST + PUT are what the download phase pulls; the rss phase pushes that way.
import { randomFillSync } from 'node:crypto';
import { makeBlob, sha256, type Blob } from './blob-content.js';
import { cfg, stamp } from './config.js';
import { say } from './format.js';
import { exchange, expectStatus, locationPath, withDigest } from './http-client.js';
import { describeTimed, timed, type TimedResults } from './measure.js';
import { eachServer, type Server } from './servers.js';
import { settle, syncDisks } from './settle.js';

export type Form = 'post' | 'post-put' | 'patch';
export const FORMS: Form[] = ['post', 'post-put', 'patch'];
export const FORM_LABEL: Record<Form, string> = {
  post: 'POST ?digest= (one request)',
  'post-put': 'POST + PUT ?digest= (monolithic)',
  patch: 'POST + PATCH + PUT (streamed)',
};

export async function upload(
  server: Server,
  form: Form,
  repo: string,
  blob: Blob,
  timeoutMs: number,
): Promise<void> {
  const start = `/v2/${repo}/blobs/uploads/`;
  if (form === 'post') {
    const r = await exchange(server, 'POST', withDigest(start, blob.digest), { body: blob, timeoutMs });
    expectStatus(r, 201, `${server.label} POST ?digest=`);
    return;
  }
  const started = await exchange(server, 'POST', start);
  expectStatus(started, 202, `${server.label} POST (start upload)`);
  let loc = locationPath(server, started);
  if (form === 'patch') {
    const patched = await exchange(server, 'PATCH', loc, { body: blob, timeoutMs });
    expectStatus(patched, 202, `${server.label} PATCH`);
    loc = locationPath(server, patched);
    const done = await exchange(server, 'PUT', withDigest(loc, blob.digest));
    expectStatus(done, 201, `${server.label} PUT (complete)`);
    return;
  }
  const done = await exchange(server, 'PUT', withDigest(loc, blob.digest), { body: blob, timeoutMs });
  expectStatus(done, 201, `${server.label} PUT ?digest= with the blob`);
}

/** Whether the registry takes a whole blob in the POST (OCI 1.1 single-request monolithic upload). */
async function supportsSinglePost(server: Server): Promise<boolean> {
  const body = randomFillSync(Buffer.alloc(64));
  const r = await exchange(server, 'POST', withDigest('/v2/bench/probe/blobs/uploads/', sha256(body)), {
    body,
  });
  if (r.status === 201) return true;
  // Distribution 2.8 ignores the digest and opens a session (202): cancel it.
  if (r.status === 202 && r.headers.location) await exchange(server, 'DELETE', locationPath(server, r));
  return false;
}

async function verifyStored(server: Server, repo: string, blob: Blob): Promise<void> {
  const r = await exchange(server, 'HEAD', `/v2/${repo}/blobs/${blob.digest}`);
  expectStatus(r, 200, `${server.label} HEAD after upload`);
  if (Number(r.headers['content-length']) !== blob.size) {
    throw new Error(`${server.label}: stored size ${r.headers['content-length']}, sent ${blob.size}`);
  }
}

export interface UploadResults {
  uploads: TimedResults;
  /** Per server: whether it took the whole blob in the POST (Distribution 2.8.2 does not). */
  singlePost: Record<string, boolean>;
  /** Per server: the blobs pushed as POST + PUT, for the download phase. */
  uploaded: Map<string, Blob[]>;
}

/**
 * BENCH_RUNS rounds of every form on every server (only POST + PUT when the upload phase itself is
 * not wanted and the blobs are only there for the download phase).
 */
export async function measureUploads(servers: Server[], size: number): Promise<UploadResults> {
  const uploads: TimedResults = {};
  const singlePost: Record<string, boolean> = {};
  const uploaded = new Map<string, Blob[]>(); // per server: blobs to download later
  for (const s of servers) singlePost[s.key] = await supportsSinglePost(s);
  const forms = cfg.phases.includes('upload') ? FORMS : (['post-put'] as Form[]);
  for (let run = 1; run <= cfg.runs; run++) {
    for (const form of forms) {
      await eachServer(servers, run, async (s) => {
        if (form === 'post' && !singlePost[s.key]) return;
        const blob = makeBlob(size, `${s.key}/${form}/${run}/${stamp}`);
        await settle(size);
        const r = await timed(s, run, size, () => upload(s, form, 'bench/upload', blob, 600_000));
        await verifyStored(s, 'bench/upload', blob);
        ((uploads[form] ??= {})[s.key] ??= []).push(r);
        if (form === 'post-put') uploaded.set(s.key, [...(uploaded.get(s.key) ?? []), blob]);
        say(`upload ${form} ${s.label} run ${run}: ${describeTimed(r)}`);
      });
    }
  }
  syncDisks();
  return { uploads, singlePost, uploaded };
}
