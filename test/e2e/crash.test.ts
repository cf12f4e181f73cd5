// Crash safety: the server is SIGKILLed again and again while clients push chunked blobs and
// manifests. After every restart: no blob is served whose bytes do not match its digest, no
// tagged manifest references a missing blob, every acknowledged push is there, and each
// interrupted upload either resumes to completion or is cleanly gone.
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startServe } from '../support/cli.js';
import { RegistryClient, sha256 } from '../support/registry-client.js';

const ROUNDS = 8;
const WORKERS = 4;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

interface Session {
  location: string;
  data: Buffer;
  /** Bytes the server acknowledged (202) so far. */
  acked: number;
}

interface Ledger {
  blobs: Map<string, { repo: string; data: Buffer }>; // acknowledged with 201
  attempted: Map<string, string>; // digest -> repo, pushed or not
  manifests: Map<string, { repo: string; tag: string; body: string }>; // acknowledged with 201
  sessions: Session[]; // interrupted chunked uploads
}

/** One client pushing until the server dies under it; acknowledged work is recorded. */
async function worker(reg: RegistryClient, id: number, round: number, ledger: Ledger): Promise<void> {
  const repo = `crash/w${id}`;
  try {
    for (let n = 0; n < 1000; n++) {
      const data = randomBytes(randomInt(64 * 1024, 768 * 1024));
      const digest = sha256(data);
      ledger.attempted.set(digest, repo);
      const start = await reg.req('POST', `/v2/${repo}/blobs/uploads/`);
      const session: Session = { location: start.headers.get('location') as string, data, acked: 0 };
      ledger.sessions.push(session);
      const cuts = [0, Math.floor(data.length / 3), Math.floor((2 * data.length) / 3), data.length];
      for (let c = 0; c < 3; c++) {
        const chunk = data.subarray(cuts[c], cuts[c + 1]);
        const res = await reg.req('PATCH', session.location, {
          body: chunk,
          headers: { 'content-range': `${cuts[c]}-${(cuts[c + 1] as number) - 1}` },
        });
        if (res.status !== 202) throw new Error(`PATCH ${res.status}`);
        session.acked = cuts[c + 1] as number;
      }
      const put = await reg.req('PUT', `${session.location}?digest=${digest}`);
      if (put.status !== 201) throw new Error(`PUT ${put.status}`);
      ledger.sessions.splice(ledger.sessions.indexOf(session), 1);
      ledger.blobs.set(digest, { repo, data });

      if (n % 2 === 1) {
        const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', n }));
        const configDigest = await reg.pushBlob(repo, config);
        ledger.blobs.set(configDigest, { repo, data: config });
        const body = JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: {
            mediaType: 'application/vnd.oci.image.config.v1+json',
            digest: configDigest,
            size: config.length,
          },
          layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: data.length }],
        });
        const tag = `r${round}-t${n}`;
        const res = await reg.pushManifest(repo, tag, body, OCI_MANIFEST);
        if (res.status !== 201) throw new Error(`manifest PUT ${res.status}`);
        ledger.manifests.set(sha256(body), { repo, tag, body });
      }
    }
  } catch {
    // The server was killed under us: whatever was not acknowledged may or may not be there.
  }
}

async function verify(reg: RegistryClient, ledger: Ledger): Promise<void> {
  // Every attempted blob is either absent or exactly right; every acknowledged one is there.
  for (const [digest, repo] of ledger.attempted) {
    const res = await reg.req('GET', `/v2/${repo}/blobs/${digest}`);
    if (res.status === 200) expect(sha256(Buffer.from(await res.arrayBuffer())), digest).toBe(digest);
    else {
      await res.arrayBuffer();
      expect(res.status, digest).toBe(404);
      expect(ledger.blobs.has(digest), `acknowledged blob ${digest} is missing`).toBe(false);
    }
  }
  // Every acknowledged manifest is served byte-exact under its tag and all it references is there.
  for (const [digest, m] of ledger.manifests) {
    const res = await reg.req('GET', `/v2/${m.repo}/manifests/${m.tag}`);
    expect(res.status, `${m.repo}:${m.tag}`).toBe(200);
    expect(await res.text()).toBe(m.body);
    expect(res.headers.get('docker-content-digest')).toBe(digest);
  }
  // No tagged manifest, acknowledged or not, references a blob the registry cannot serve.
  for (let w = 0; w < WORKERS; w++) {
    const list = await reg.req('GET', `/v2/crash/w${w}/tags/list`);
    if (list.status !== 200) continue;
    for (const tag of ((await list.json()) as { tags: string[] }).tags) {
      const m = (await (await reg.req('GET', `/v2/crash/w${w}/manifests/${tag}`)).json()) as {
        config: { digest: string };
        layers: { digest: string }[];
      };
      for (const d of [m.config.digest, ...m.layers.map((l) => l.digest)]) {
        const head = await reg.req('HEAD', `/v2/crash/w${w}/blobs/${d}`);
        expect(head.status, `crash/w${w}:${tag} references ${d}`).toBe(200);
      }
    }
  }
  // Interrupted uploads resume from where the server says they are, or are cleanly gone.
  for (const s of ledger.sessions.splice(0)) {
    const status = await reg.req('GET', s.location);
    if (status.status === 404) continue;
    expect(status.status).toBe(204);
    const end = Number((status.headers.get('range') as string).split('-')[1]);
    const have = end === 0 && s.acked === 0 ? 0 : end + 1;
    expect(have).toBeGreaterThanOrEqual(s.acked); // nothing acknowledged was lost
    expect(have).toBeLessThanOrEqual(s.data.length);
    const rest = s.data.subarray(have);
    const put = await reg.req('PUT', `${s.location}?digest=${sha256(s.data)}`, {
      body: rest,
      headers: rest.length ? { 'content-range': `${have}-${s.data.length - 1}` } : {},
    });
    expect(put.status, `resuming ${s.location} at ${have}`).toBe(201);
  }
}

describe('crash safety', () => {
  it(`survives ${ROUNDS} SIGKILLs during concurrent chunked uploads and manifest puts`, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'opencloud-crash-'));
    const ledger: Ledger = { blobs: new Map(), attempted: new Map(), manifests: new Map(), sessions: [] };
    let resumed = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const server = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir], {
        env: { OPENCLOUD_LOG_LEVEL: 'info', OPENCLOUD_GC_INTERVAL: '0' },
      });
      const reg = new RegistryClient(server.url);
      resumed += ledger.sessions.length;
      await verify(reg, ledger); // what the previous crash left
      const workers = Array.from({ length: WORKERS }, (_, w) => worker(reg, w, round, ledger));
      await new Promise((r) => setTimeout(r, randomInt(300, 1200)));
      server.child.kill('SIGKILL');
      await server.exited;
      await Promise.all(workers);
    }
    const server = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir]);
    try {
      await verify(new RegistryClient(server.url), ledger);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    console.log(
      `crash: ${ROUNDS} kills, ${ledger.blobs.size} blobs and ${ledger.manifests.size} manifests acknowledged, ` +
        `${ledger.attempted.size} blobs attempted, ${resumed} interrupted uploads checked`,
    );
    expect(ledger.blobs.size).toBeGreaterThan(ROUNDS);
    expect(ledger.manifests.size).toBeGreaterThan(0);
    rmSync(dataDir, { recursive: true, force: true }); // ~100 MB; kept when the test fails, for a look
  });
});
