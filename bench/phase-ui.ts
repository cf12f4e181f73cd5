// UI phase (ours only: the peers have no UI): the dashboard's first screen in Chromium on
// loopback, signed in, as a user opening the registry's page. A fresh instance gets its first user
// (an admin) and a session through the API; then BENCH_UI_RUNS times a new browser context (an
// empty cache, as on a first visit) opens `/` with the session cookie. Reported: the browser's own
// first-contentful-paint time, and when the registry summary (the dashboard's data from the API)
// is on screen, both from the start of the navigation. Needs Debian's chromium (run.sh installs it
// for this phase); skipped without it.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Browser, BrowserType } from 'playwright-core';
import { cfg } from './config.js';
import { fmt, say } from './format.js';
import { exchange, expectStatus } from './http-client.js';
import { add, row, type MetricSection } from './metrics.js';
import { startServer, stopServer, waitReady, type Server } from './servers.js';
import { settle } from './settle.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--no-first-run',
];
const USER = 'bench';
const PASSWORD = 'bench-password-1234';

async function sessionCookie(server: Server): Promise<string> {
  const json = (body: object) => ({
    body: Buffer.from(JSON.stringify(body)),
    headers: { 'content-type': 'application/json' },
  });
  const made = await exchange(
    server,
    'POST',
    '/api/v1/users',
    json({ name: USER, password: PASSWORD, admin: true }),
  );
  expectStatus(made, 201, `${server.label} POST /api/v1/users`);
  const session = await exchange(
    server,
    'POST',
    '/api/v1/session',
    json({ username: USER, password: PASSWORD }),
  );
  expectStatus(session, 200, `${server.label} POST /api/v1/session`);
  const cookie = [session.headers['set-cookie'] ?? []].flat()[0] ?? '';
  const value = /^oc_session=([^;]+)/.exec(cookie)?.[1];
  if (!value) throw new Error(`${server.label}: no session cookie in ${cookie}`);
  return decodeURIComponent(value);
}

interface FirstScreen {
  paintMs: number;
  summaryMs: number;
}

async function openDashboard(browser: Browser, server: Server, session: string): Promise<FirstScreen> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    await context.addCookies([{ name: 'oc_session', value: session, url: server.url.origin }]);
    const page = await context.newPage();
    await page.goto(`${server.url.origin}/`, { waitUntil: 'commit' });
    await page.getByTestId('registry-summary').waitFor({ timeout: 30_000 });
    const summaryMs = await page.evaluate<number>('performance.now()');
    const paintMs = await page.evaluate<number>(`new Promise((resolve) => {
      const entry = () => performance.getEntriesByName('first-contentful-paint')[0];
      const seen = entry();
      if (seen) return resolve(seen.startTime);
      new PerformanceObserver(() => entry() && resolve(entry().startTime)).observe({ type: 'paint', buffered: true });
    })`);
    return { paintMs, summaryMs };
  } finally {
    await context.close();
  }
}

export async function measureUi(servers: Server[]): Promise<MetricSection> {
  const title = `web UI, the dashboard signed in, first visit in Chromium on loopback (${cfg.uiRuns} visits)`;
  if (!servers.some((s) => s.key === 'ours'))
    return { title, rows: [], skipped: 'our server is not measured' };
  if (!existsSync(CHROMIUM))
    return { title, rows: [], skipped: `${CHROMIUM} absent (apt-get install chromium)` };
  const paint = row('navigation to first contentful paint', 's', 'lower', 3);
  const summary = row('navigation to the registry summary on screen', 's', 'lower', 3);
  for (const r of [paint, summary]) r.notes = { distribution: 'no UI', distribution3: 'no UI' };
  // The benchmark runs compiled in a temporary directory: the package comes from the checkout.
  const { chromium } = createRequire(cfg.opencloudBin)('playwright-core') as { chromium: BrowserType };
  const server = await startServer('ours', 'ours-ui');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
  try {
    await waitReady(server);
    const session = await sessionCookie(server);
    // One visit first: Chromium's own start-up (its first page, font and GPU-less raster set-up)
    // is not the page's.
    await openDashboard(browser, server, session);
    for (let run = 1; run <= cfg.uiRuns; run++) {
      await settle();
      const r = await openDashboard(browser, server, session);
      add(paint, 'ours', r.paintMs / 1000);
      add(summary, 'ours', r.summaryMs / 1000);
      say(
        `ui run ${run}: first contentful paint ${fmt(r.paintMs / 1000, 3)} s, summary ${fmt(r.summaryMs / 1000, 3)} s`,
      );
    }
  } finally {
    await browser.close();
    await stopServer(server);
  }
  return { title, rows: [paint, summary] };
}
