// The services API in-process, on its own state store and lock file: SSE framing and
// heartbeats, following a run another process (the CLI) is writing to the ledger, shutdown
// ending open streams, and the lock file of another run answered as 409.
import Fastify, { type FastifyInstance } from 'fastify';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.js';
import type { RunResult } from '../installer/engine.js';
import type { InstallerEvent } from '../installer/types.js';
import { Ledger } from '../ledger/records.js';
import { openSqliteState } from '../state/sqlite.js';
import type { StateStore } from '../state/store.js';
import { installErrorHandlers } from './envelope.js';
import { servicesApi } from './services-api.js';
import { formatSse } from './sse.js';

interface Harness {
  app: FastifyInstance;
  url: string;
  ledger: Ledger;
  lockPath: string;
}

const open: { app: FastifyInstance; state: StateStore }[] = [];
afterEach(async () => {
  for (const { app, state } of open.splice(0)) {
    await app.close();
    await state.close();
  }
});

async function harness(): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'opencloud-services-api-'));
  const state = await openSqliteState(dir);
  const { config } = loadConfig({ flags: { dataDir: dir, listen: '127.0.0.1:0' }, env: {} });
  const app = Fastify();
  installErrorHandlers(app);
  const lockPath = join(dir, 'installer.lock');
  await app.register(servicesApi, { config, state, lockPath, heartbeatMs: 50 });
  open.push({ app, state });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, url, ledger: new Ledger(state), lockPath };
}

const event = (type: InstallerEvent['type'], extra: Partial<InstallerEvent> = {}): InstallerEvent => ({
  type,
  runId: 'r1',
  time: new Date().toISOString(),
  ...extra,
});

/** Reads a response body as it arrives; `until` waits for the text to satisfy a test. */
function reader(res: Response) {
  let text = '';
  let ended = false;
  const done = (async () => {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>)
      text += Buffer.from(chunk).toString();
    ended = true;
  })();
  return {
    done,
    get text() {
      return text;
    },
    get ended() {
      return ended;
    },
    async until(test: (text: string) => boolean, ms = 5000) {
      const deadline = Date.now() + ms;
      while (!test(text)) {
        if (Date.now() > deadline) throw new Error(`timed out; got:\n${text}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  };
}

describe('formatSse', () => {
  it('writes id, event and one data line per line', () => {
    expect(formatSse({ id: 3, event: 'log', data: { a: 1 } })).toBe('id: 3\nevent: log\ndata: {"a":1}\n\n');
    expect(formatSse({ data: 'one\ntwo' })).toBe('data: one\ndata: two\n\n');
  });
});

describe('run events over SSE', () => {
  it('follows a run another process is writing to the ledger, with heartbeats, to its end', async () => {
    const h = await harness();
    await h.ledger.beginRun('r1', 'container-registry', 'plan', {});
    await h.ledger.appendEvent('r1', 0, event('run-start'));
    await h.ledger.appendEvent('r1', 1, event('step-start', { step: 'preflight' }));

    const res = await fetch(`${h.url}/api/v1/runs/r1/events`, { headers: { 'last-event-id': '0' } });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const body = reader(res);
    await body.until((t) => t.includes('id: 1\n') && t.includes(': ping\n\n'));
    expect(body.text).not.toContain('id: 0\n');

    await h.ledger.appendEvent(
      'r1',
      2,
      event('recap', { recap: { ok: 0, changed: 0, failed: 0, skipped: 0 } }),
    );
    const result = {
      runId: 'r1',
      mode: 'plan',
      steps: [],
      recap: { ok: 0, changed: 0, failed: 0, skipped: 0 },
    };
    await h.ledger.finishRun('container-registry', 'plan', result as unknown as RunResult, {});
    await body.done; // polled within a second, then closed
    expect(body.text).toContain('id: 2\nevent: recap\n');
  });

  it('ends open streams when the server closes', async () => {
    const h = await harness();
    await h.ledger.beginRun('r1', 'container-registry', 'plan', {});
    const body = reader(await fetch(`${h.url}/api/v1/runs/r1/events`));
    await body.until((t) => t.includes(': ping'));
    await h.app.close();
    await body.done;
    expect(body.ended).toBe(true);
  });
});

describe('the installer lock', () => {
  it.skipIf(process.getuid?.() !== 0)('held by another run: 409 INSTALL_RUNNING naming its pid', async () => {
    const h = await harness();
    writeFileSync(h.lockPath, `${process.pid}\n`); // a live pid: the lock is held
    const res = await fetch(`${h.url}/api/v1/services/container-registry/disable`, { method: 'POST' });
    expect(res.status).toBe(409);
    expect(await res.json()).toEqual({
      error: {
        code: 'INSTALL_RUNNING',
        message: `another install run (pid ${process.pid}) holds ${h.lockPath}`,
        requestId: expect.any(String),
      },
    });
    // It never started: no run in the ledger, and the service is not recorded.
    expect(await h.ledger.services()).toEqual([]);
  });
});
