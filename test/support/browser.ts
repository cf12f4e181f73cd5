// A real browser for UI tests: Debian's chromium driven by playwright-core (no browser download).
// `browserMissing()` says why UI tests must be skipped; `launchBrowser()` starts it headless
// with the flags that keep it quiet and offline; `watchPage()` collects a page's errors and
// `screenshot()` writes a page at desktop and phone width into test-artifacts/screenshots and
// says what reaches past the viewport;
// `computedStyle()` reads a CSS property as the browser resolved it.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** `undefined` when the browser is there, otherwise the reason to skip. */
export function browserMissing(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `${CHROMIUM} absent: apt-get install -y chromium`;
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
}

/** Where UI tests write their screenshots (relative to the checkout): test-artifacts/screenshots. */
export const SCREENSHOTS = fileURLToPath(new URL('../../test-artifacts/screenshots/', import.meta.url));

export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 800 };

/**
 * Collects what goes wrong in a page into `problems`: errors thrown in it and console errors.
 * The browser logs every non-2xx answer to a fetch() as a console error ("Failed to load
 * resource: … status of 401"); `expectedStatuses` lists the ones the test provokes on purpose.
 */
export function watchPage(page: Page, problems: string[], expectedStatuses: number[] = []): void {
  const where = () => page.url();
  page.on('pageerror', (err) => problems.push(`${where()}: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const status = /status of (\d{3})/.exec(msg.text())?.[1];
    if (status && expectedStatuses.includes(Number(status))) return;
    problems.push(`${where()}: console.error: ${msg.text()} (${msg.location().url})`);
  });
}

/** How far the widest visible table reaches past the viewport's right edge, in px (≤ 0: none does). */
const TABLE_OVERFLOW = `Math.max(0, ...[...document.querySelectorAll('table')]
  .map((t) => t.getBoundingClientRect())
  .filter((r) => r.width > 0)
  .map((r) => Math.max(r.right - document.documentElement.clientWidth, -r.left)))`;

/**
 * Writes `<name>.png` at desktop width and `<name>-phone.png` at phone width (full pages), and
 * measures at both widths what reaches past the viewport: the page itself scrolling sideways
 * (`phoneOverflow`) and any table wider than the viewport, even one that would scroll inside its
 * card (`tableOverflow`, the larger of the two widths'). The viewport is back at desktop width afterwards.
 */
export async function screenshot(
  page: Page,
  name: string,
): Promise<{ phoneOverflow: number; tableOverflow: number }> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.setViewportSize(DESKTOP);
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
  const desktopTables = await page.evaluate<number>(TABLE_OVERFLOW);
  await page.setViewportSize(PHONE);
  // Layout settles on the next frame.
  await page.evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))');
  const phoneOverflow = await page.evaluate<number>(
    'document.documentElement.scrollWidth - document.documentElement.clientWidth',
  );
  const phoneTables = await page.evaluate<number>(TABLE_OVERFLOW);
  await page.screenshot({ path: join(SCREENSHOTS, `${name}-phone.png`), fullPage: true });
  await page.setViewportSize(DESKTOP);
  return { phoneOverflow, tableOverflow: Math.max(desktopTables, phoneTables) };
}

/**
 * The computed value of a CSS property (`color`, `font-weight`) of the element `locator` finds.
 * The function runs in the page; this file is typed for Node (no DOM), hence the cast.
 */
export function computedStyle(locator: Locator, property: string): Promise<string> {
  type Styles = { getComputedStyle(e: unknown): { getPropertyValue(name: string): string } };
  return locator.evaluate(
    (el, name) => (globalThis as unknown as Styles).getComputedStyle(el).getPropertyValue(name),
    property,
  );
}
