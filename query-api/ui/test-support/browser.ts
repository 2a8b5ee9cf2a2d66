/**
 * Test and bench support: Debian's headless Chromium driven by playwright-core, a fresh
 * profile per launch (removed on close), axe-core injected into a page, and screenshots
 * of failed tests in `.test-artifacts/ui/` (git-ignored).
 *
 * @example
 *   const browser = await launchChromium();
 *   const page = await browser.newPage();
 *   await page.goto(`${url}/ui/`);
 *   expect(await seriousAccessibilityViolations(page)).toEqual([]);
 *   await browser.close();
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../../test-support/chromium.js';

/** Where screenshots of failed browser tests go. */
export const ARTIFACTS_DIR = fileURLToPath(new URL('../../../.test-artifacts/ui/', import.meta.url));

/** A running browser with its own profile; `close()` ends the process and deletes the profile. */
export interface TestBrowser {
  context: BrowserContext;
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

/** Starts headless Chromium with a fresh user-data-dir. */
export async function launchChromium(options: { reducedMotion?: boolean } = {}): Promise<TestBrowser> {
  const profile = await mkdtemp(path.join(tmpdir(), 'ui-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_ARGS],
    viewport: { width: 1280, height: 900 },
    reducedMotion: options.reducedMotion === false ? 'no-preference' : 'reduce',
    timeout: 30_000,
  });
  context.setDefaultTimeout(15_000);
  return {
    context,
    newPage: () => context.newPage(),
    async close() {
      await context.close().catch(() => undefined);
      await rm(profile, { recursive: true, force: true });
    },
  };
}

let axeSource: string | undefined;

/** A finding of axe-core. */
export interface AccessibilityViolation {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

/** Runs axe-core in the page; returns its serious and critical violations. */
export async function seriousAccessibilityViolations(page: Page): Promise<AccessibilityViolation[]> {
  axeSource ??= await readFile(fileURLToPath(import.meta.resolve('axe-core/axe.min.js')), 'utf8');
  // Evaluated through the DevTools protocol: the page's Content-Security-Policy forbids inline scripts.
  await page.evaluate(axeSource);
  // A string, evaluated in the page (this file is type-checked without the DOM library).
  const violations = await page.evaluate<AccessibilityViolation[]>(`
    axe.run(document, { resultTypes: ['violations'] }).then((result) =>
      result.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        targets: v.nodes.map((n) => n.target.join(' ')),
      })),
    )`);
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** A property of the focused element (`tagName`, `id`, `textContent`, or an attribute with `@href`). */
export async function focusedElement(page: Page, what: string): Promise<string | null> {
  const expression = what.startsWith('@')
    ? `document.activeElement?.getAttribute(${JSON.stringify(what.slice(1))}) ?? null`
    : `document.activeElement?.[${JSON.stringify(what)}] ?? null`;
  return page.evaluate<string | null>(expression);
}

/** Writes a full-page screenshot named after the test; returns its path. */
export async function saveScreenshot(page: Page, testName: string): Promise<string> {
  await mkdir(ARTIFACTS_DIR, { recursive: true });
  const file = path.join(ARTIFACTS_DIR, `${testName.replace(/[^A-Za-z0-9-]+/g, '-').slice(0, 100)}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
