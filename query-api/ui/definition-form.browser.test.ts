/**
 * The definition form's ratio, cap and CUPED fields in a real headless Chromium (Debian's
 * `chromium`, driven by playwright-core) against the real query API on PostgreSQL: a rule
 * broken by a metric (`metrics[3].denominator`) is shown next to that metric's field; the
 * stored metrics are what the form showed; once running, the counting fields of the metrics
 * the experiment started with are not offered, while a plain metric can still be added.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { startTestApi, type TestApi } from '../test-support/test-app.js';
import { NEVER_CACHE } from '../test-support/never-cache.js';
import {
  launchChromium,
  saveScreenshot,
  seriousAccessibilityViolations,
  type TestBrowser,
} from './test-support/browser.js';

const suffix = Date.now().toString(36);

describe('definition form: ratio, cap and CUPED (headless Chromium, real API)', () => {
  let api: TestApi;
  let baseUrl: string;
  let browser: TestBrowser;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    api = await startTestApi({}, { cache: NEVER_CACHE });
    baseUrl = await api.app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchChromium();
    page = await browser.newPage();
    page.on('pageerror', (error) => pageErrors.push(`pageerror: ${error.message}`));
  });
  afterAll(async () => {
    await browser?.close();
    await api?.close();
  });

  const metricRow = (index: number) => page.locator(`.row[data-field="metrics.${index}"]`);

  it('creates an experiment with a capped CUPED mean and a ratio, after a ratio rule shown next to its field', async () => {
    onTestFailed(async () => {
      await saveScreenshot(page, 'definition-form-metrics');
    });
    const key = `ui-metrics-${suffix}`;
    await page.goto(`${baseUrl}/ui/experiments/new`);
    await page.getByRole('heading', { level: 1, name: 'New experiment' }).waitFor();
    await page.getByLabel('Key', { exact: true }).fill(key);
    await page.getByLabel('Name', { exact: true }).fill('Order value');
    // The form starts with one binomial metric (purchase); make it a capped CUPED mean named revenue.
    await metricRow(0).getByLabel('Metric 1 key').fill('revenue');
    await metricRow(0).getByLabel('Type').selectOption('mean');
    expect(await metricRow(0).getByLabel('Numerator metric').isVisible()).toBe(false);
    await metricRow(0).getByLabel('Cap per user (optional)').fill('500');
    await metricRow(0).getByLabel('CUPED (covariates)').check();
    for (const [index, metricKey, type] of [
      [1, 'orders', 'mean'],
      [2, 'signup', 'binomial'],
      [3, 'aov', 'ratio'],
    ] as const) {
      await page.getByRole('button', { name: 'Add metric' }).click();
      await metricRow(index)
        .getByLabel(`Metric ${index + 1} key`)
        .fill(metricKey);
      await metricRow(index).getByLabel('Type').selectOption(type);
    }
    expect(await metricRow(2).getByLabel('Cap per user (optional)').isVisible()).toBe(false);
    expect(await metricRow(3).getByLabel('CUPED (covariates)').isVisible()).toBe(false);
    await metricRow(3).getByLabel('Numerator metric').fill('revenue');
    await metricRow(3).getByLabel('Denominator metric').fill('revenue');
    await page.getByRole('button', { name: 'Create experiment' }).click();

    const denominatorError = page.locator('[data-field-wrapper="metrics.3.denominator"] .field-error');
    await expect.poll(() => denominatorError.textContent()).toMatch(/by itself/);
    expect(await metricRow(3).getByLabel('Denominator metric').getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator('.error-summary [data-problem-field]').first().getAttribute('data-problem-field')).toBe(
      'metrics[3].denominator',
    );
    expect(await seriousAccessibilityViolations(page)).toEqual([]);

    await metricRow(3).getByLabel('Denominator metric').fill('orders');
    await page.getByRole('button', { name: 'Create experiment' }).click();
    await page.getByRole('heading', { level: 1, name: 'Order value' }).waitFor();
    const stored = (await api.app.inject({ url: `/api/v1/experiments/${key}` })).json();
    expect(stored.metrics).toEqual([
      { key: 'revenue', type: 'mean', lowerIsBetter: false, cap: 500, cuped: true },
      { key: 'orders', type: 'mean', lowerIsBetter: false },
      { key: 'signup', type: 'binomial', lowerIsBetter: false },
      { key: 'aov', type: 'ratio', lowerIsBetter: false, numerator: 'revenue', denominator: 'orders' },
    ]);
  });

  it('once running, offers no change to the counting fields of its metrics, and still adds a plain metric', async () => {
    onTestFailed(async () => {
      await saveScreenshot(page, 'definition-form-locked');
    });
    const key = `ui-metrics-${suffix}`;
    const running = await api.app.inject({
      method: 'PATCH',
      url: `/api/v1/experiments/${key}`,
      payload: { status: 'running' },
    });
    expect(running.statusCode).toBe(200);
    await page.goto(`${baseUrl}/ui/experiments/${key}/edit`);
    await metricRow(0).getByLabel('Cap per user (optional)').waitFor();
    for (const label of ['Cap per user (optional)', 'CUPED (covariates)', 'Type']) {
      expect(await metricRow(0).getByLabel(label).isDisabled(), label).toBe(true);
    }
    expect(await metricRow(3).getByLabel('Numerator metric').isDisabled()).toBe(true);
    expect(await metricRow(0).getByLabel('Lower is better').isDisabled()).toBe(false);
    await page.getByRole('button', { name: 'Add metric' }).click();
    await metricRow(4).getByLabel('Metric 5 key').fill('clicks');
    expect(await metricRow(4).getByLabel('Type').isDisabled()).toBe(false);
    await page.getByRole('button', { name: 'Save changes' }).click();
    await expect
      .poll(async () => (await api.app.inject({ url: `/api/v1/experiments/${key}` })).json().metrics.length)
      .toBe(5);
    const stored = (await api.app.inject({ url: `/api/v1/experiments/${key}` })).json();
    expect(stored.metrics[0]).toEqual({ key: 'revenue', type: 'mean', lowerIsBetter: false, cap: 500, cuped: true });
    expect(stored.metrics[4]).toEqual({ key: 'clicks', type: 'binomial', lowerIsBetter: false });
    expect(pageErrors).toEqual([]);
  });
});
