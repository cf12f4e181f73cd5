// The web UI in a real browser (Debian's chromium through playwright-core) against the built
// server: the dashboard, a pushed repository down to its layers, a build submitted through the
// form with its log arriving live, the services page with a read-only Plan run, and the sign-in
// form once a user exists (a web session: an HttpOnly cookie and a CSRF token). Enable and
// Disable are never clicked: they would change this host.
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureBaseImage } from '../support/base-image.js';
import { browserMissing, launchBrowser } from '../support/browser.js';
import { ROOT, runCli, startServe, type ServeHandle } from '../support/cli.js';
import { missing, testEnv, titled } from '../support/env.js';

const exec = promisify(execFile);
const noBrowser = browserMissing();
const noSkopeo = missing('skopeo');
const noBuilder = missing('buildkit', 'containerd', 'skopeo');

let browser: Browser | undefined;
const pageErrors: string[] = [];

async function openPage(url: string): Promise<Page> {
  const page = await (browser as Browser).newPage();
  page.on('pageerror', (err) => pageErrors.push(`${url}: ${err.message}`));
  await page.goto(url);
  return page;
}

async function stop(server: ServeHandle | undefined): Promise<void> {
  server?.child.kill('SIGTERM');
  await server?.exited;
}

beforeAll(async () => {
  if (noBrowser) return;
  // The server serves dist/web: build it as a user's `npm ci` would.
  await exec('npm', ['run', '-s', 'build'], { cwd: ROOT });
  browser = await launchBrowser();
}, 180_000);

afterAll(async () => {
  await browser?.close();
});

afterEach(() => {
  expect(pageErrors.splice(0), 'errors thrown in the page').toEqual([]);
});

describe.skipIf(noBrowser)(titled('the web UI in a browser', noBrowser), () => {
  let server: ServeHandle;
  let host: string;

  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'opencloud-ui-'));
    server = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir]);
    host = new URL(server.url).host;
    if (!noSkopeo && testEnv) {
      const image = ensureBaseImage(testEnv.cacheDir);
      await exec('skopeo', [
        'copy',
        '--dest-tls-verify=false',
        `oci:${image.layout}:${image.tag}`,
        `docker://${host}/library/busybox:1`,
      ]);
    }
  }, 120_000);

  afterAll(() => stop(server), 60_000);

  it('the dashboard shows the version from /api/v1/system/info', async () => {
    const info = (await (await fetch(`${server.url}/api/v1/system/info`)).json()) as { version: string };
    const page = await openPage(`${server.url}/`);
    const version = page.getByTestId('version');
    await version.waitFor();
    expect(await version.innerText()).toBe(info.version);
    await page.getByTestId('dashboard-service').filter({ hasText: 'container-registry' }).waitFor();
    await page.close();
  });

  it.skipIf(noSkopeo)(
    titled(
      'a pushed repository appears with its tag; the manifest view lists its layers with sizes',
      noSkopeo,
    ),
    async () => {
      const page = await openPage(`${server.url}/`);
      await page.getByRole('link', { name: 'Repositories' }).click();
      await page.getByTestId('repositories').getByRole('link', { name: 'library/busybox' }).click();
      await page.getByTestId('tags').getByRole('link', { name: '1', exact: true }).click();
      const layers = page.getByTestId('layer');
      await layers.first().waitFor();
      expect(await layers.count()).toBeGreaterThan(0);
      for (const size of await page.getByTestId('layer-size').allInnerTexts())
        expect(size).toMatch(/^\d+(\.\d)? (B|KiB|MiB|GiB)$/);
      expect(await page.getByTestId('media-type').innerText()).toMatch(/manifest/);
      expect(await page.getByTestId('copy-line').innerText()).toBe(`docker pull ${host}/library/busybox:1`);
      await page.getByTestId('image-config').getByText('PATH=').waitFor();
      // A deep link loads the same view (the server answers index.html for UI paths).
      await page.reload();
      await page.getByTestId('layer').first().waitFor();

      // An index: its platforms, each a link to its image manifest.
      const head = await fetch(`${server.url}/v2/library/busybox/manifests/1`, {
        method: 'HEAD',
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      const index = {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: head.headers.get('docker-content-digest'),
            size: Number(head.headers.get('content-length')),
            platform: { os: 'linux', architecture: 'amd64' },
          },
        ],
      };
      const put = await fetch(`${server.url}/v2/library/busybox/manifests/multi`, {
        method: 'PUT',
        headers: { 'content-type': index.mediaType },
        body: JSON.stringify(index),
      });
      expect(put.status).toBe(201);
      await page.goto(`${server.url}/repositories/library/busybox/-/multi`);
      await page.getByTestId('platforms').getByRole('link', { name: 'linux/amd64' }).click();
      await page.getByTestId('layer').first().waitFor();
      expect(page.url()).toContain(encodeURIComponent(index.manifests[0]!.digest as string));
      await page.close();
    },
  );

  it.skipIf(noBuilder)(
    titled('a build submitted through the form shows its RUN log live and ends succeeded', noBuilder),
    async () => {
      const page = await openPage(`${server.url}/builds`);
      await page
        .getByLabel('Dockerfile')
        .fill(`FROM ${host}/library/busybox:1\nRUN echo ui-build-ok && sleep 2\n`);
      await page.getByLabel('Repository').fill('ui/demo');
      await page.getByLabel('Tags').fill('1');
      await page.getByLabel('No cache').check();
      await page.getByRole('button', { name: 'Build' }).click();
      await page.waitForURL(/\/builds\/[^/]+$/);
      // The log line arrives while the step still runs (it sleeps after printing).
      await page.getByTestId('step-log').filter({ hasText: 'ui-build-ok' }).waitFor({ timeout: 180_000 });
      const stateNow = await page
        .getByTestId('build-state')
        .locator('[data-state]')
        .getAttribute('data-state');
      expect(['queued', 'running']).toContain(stateNow);
      await page
        .getByTestId('build-state')
        .locator('[data-state=succeeded]')
        .waitFor({ timeout: 180_000 })
        .catch(async (err: Error) => {
          throw new Error(`${err.message}\n${await page.getByTestId('build-view').innerText()}`);
        });
      expect(await page.getByTestId('build-step').count()).toBeGreaterThan(1);
      await page.getByRole('link', { name: 'Builds', exact: true }).first().click();
      await page.getByTestId('build-history').getByText('ui/demo:1').waitFor();
      await page.close();
    },
    300_000,
  );

  it('the services page shows container-registry and a Plan run’s steps (read-only)', async () => {
    const page = await openPage(`${server.url}/services`);
    const service = page.getByTestId('service-container-registry');
    await service.waitFor();
    await service.getByLabel('Source').selectOption('go');
    await service.getByLabel('Init').selectOption('direct');
    await service.getByRole('button', { name: 'Plan', exact: true }).click();
    const recap = service.getByTestId('recap');
    await recap.waitFor({ timeout: 60_000 });
    expect(await recap.innerText()).toMatch(/^recap: ok=\d+ changed=\d+ failed=\d+ skipped=\d+$/);
    const steps = service.getByTestId('run-step');
    expect(await steps.count()).toBeGreaterThan(1);
    expect(await steps.first().innerText()).toMatch(/preflight/);
    await page.close();
  });
});

describe.skipIf(noBrowser)(titled('the web UI with authentication on', noBrowser), () => {
  let server: ServeHandle;
  let password: string;

  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'opencloud-ui-auth-'));
    const r = await runCli(['users', 'add', 'admin', '--admin', '--generate', '--data-dir', dataDir]);
    expect(r.code, r.stderr).toBe(0);
    password = /password: (\S+)/.exec(r.stdout)?.[1] as string;
    server = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir]);
  }, 60_000);

  afterAll(() => stop(server), 60_000);

  it('signs in through the form into a session (no password kept), follows a run, and signs out', async () => {
    const page = await openPage(`${server.url}/`);
    const form = page.getByTestId('sign-in');
    await form.waitFor();
    await page.getByLabel('User name').fill('admin');
    await page.getByLabel('Password').fill('not-the-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await form.getByRole('alert').getByText('not valid').waitFor();
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('version').waitFor();
    // Signed-in API calls carry the session cookie: the admin-only services list loads.
    await page.getByTestId('dashboard-service').filter({ hasText: 'container-registry' }).waitFor();
    // Nothing of the password is kept in the page, and the session cookie is out of its reach.
    // (A string: this file is typed for Node, without the DOM.)
    const kept = await page.evaluate<{
      session: [string, string][];
      local: [string, string][];
      cookie: string;
    }>(
      '({ session: Object.entries(sessionStorage), local: Object.entries(localStorage), cookie: document.cookie })',
    );
    expect(JSON.stringify(kept)).not.toContain(password);
    expect(kept.session).toEqual([]);
    expect(kept.local).toEqual([]);
    expect(kept.cookie).not.toContain('oc_session');
    // The cookie alone does not make a change: it needs the session's CSRF token.
    const noCsrf = await page.evaluate(() =>
      fetch('/api/v1/builds/none/cancel', { method: 'POST' }).then((r) => r.status),
    );
    expect(noCsrf).toBe(403);
    // The session survives a reload (the cookie), not a new browser context.
    await page.reload();
    await page.getByTestId('version').waitFor();
    expect(await page.getByTestId('sign-in').count()).toBe(0);
    const other = await openPage(`${server.url}/builds`);
    await other.getByTestId('sign-in').waitFor();
    await other.close();
    // Event streams are read with fetch() and the cookie too; the Plan (a POST) sends the CSRF
    // token re-read after the reload: its run output arrives.
    await page.getByRole('link', { name: 'Services' }).first().click();
    const service = page.getByTestId('service-container-registry');
    await service.getByLabel('Source').selectOption('go');
    await service.getByLabel('Init').selectOption('direct');
    await service.getByRole('button', { name: 'Plan', exact: true }).click();
    await service.getByTestId('recap').waitFor({ timeout: 60_000 });
    // Signing out ends the session on the server: the form returns and the API refuses the page.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByTestId('sign-in').waitFor();
    const after = await page.evaluate(() => fetch('/api/v1/services').then((r) => r.status));
    expect(after).toBe(401);
    await page.reload();
    await page.getByTestId('sign-in').waitFor();
    await page.close();
  });
});
