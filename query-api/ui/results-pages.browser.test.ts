/**
 * The results pages in a real headless Chromium (Debian's `chromium`, driven by
 * playwright-core) against the real parts: a query API listening on a free port
 * (PostgreSQL, dynalite), the collector (kinesalite) and the processors. An analyst creates
 * an experiment through the form (after a validation error shown next to its field), its
 * events go through the collector, and the page shows the expected numbers; then a
 * segment breakdown, an SRM banner, an If-Match conflict explained, axe-core without
 * serious violations, and no script or CSP error in the console. One browser for the file;
 * a failed test leaves a screenshot in .test-artifacts/ui/.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { createSilentLogger } from '../../common/logger.js';
import { startCollectorHarness, type CollectorHarness } from '../../ingest/test-support/collector-harness.js';
import { waitFor } from '../../local/test-support/test-config.js';
import { startProcessors, type RunningProcessors } from '../../processors/main.js';
import { provisionPipeline } from '../../local/provision.js';
import { experimentBody, startTestApi, type TestApi } from '../test-support/test-app.js';
import { createSnapshotStore } from '../monitor/snapshot-store.js';
import { NEVER_CACHE } from '../test-support/never-cache.js';
import { CLIENT_ID, startLocalCognito } from '../test-support/local-cognito.js';
import { formatNumber, formatPercent, formatPValue, formatSrmPValue } from './src/format.js';
import { counterPlanOf } from '../../common/counter-plan.js';
import { aggregatePlannedCells, writePlannedCells, type RawUser } from '../test-support/metric-cells.js';
import {
  focusedElement,
  launchChromium,
  saveScreenshot,
  seriousAccessibilityViolations,
  type TestBrowser,
} from './test-support/browser.js';
import { startFakeHostedUi } from './test-support/fake-hosted-ui.js';
import { createAssignmentHandler } from '../../edge/assignment-handler.js';
import { createDefinitionClient } from '../../common/definition-client.js';
import { closesWithin } from '../../common/test-support/idle-connections.js';

const suffix = Date.now().toString(36);
/** How long a server of one test may take to close: a hang is named, not left to the test's timeout. */
const CLOSE_MS = 10_000;

describe('results pages in headless Chromium (collector → processors → query API → browser)', () => {
  let collector: CollectorHarness;
  let processors: RunningProcessors;
  let api: TestApi;
  let baseUrl: string;
  let browser: TestBrowser;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    collector = await startCollectorHarness();
    await provisionPipeline(collector.config);
    processors = await startProcessors(collector.config, {
      logger: createSilentLogger(),
      consumerOptions: { pollIntervalMs: 50 },
    });
    api = await startTestApi({ DYNAMODB_TABLE_NAME: collector.config.dynamodb.countersTable }, { cache: NEVER_CACHE });
    baseUrl = await api.app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchChromium();
    page = await browser.newPage();
    page.on('pageerror', (error) => pageErrors.push(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      // 4xx answers are part of the flows tested (400 validation, 404 history absent, 412 conflict).
      if (message.type() === 'error' && !/responded with a status of 4\d\d/.test(message.text())) {
        pageErrors.push(`console: ${message.text()}`);
      }
    });
  });

  afterAll(async () => {
    await browser?.close();
    await processors?.stop();
    await api?.close();
    await collector?.close();
  });

  const screenshotOnFailure = (name: string) =>
    onTestFailed(async () => {
      await saveScreenshot(page, name).catch(() => undefined);
    });

  /** Sends impressions (and conversions for `converting` of them) for `count` users of a variant. */
  async function sendUsers(
    experimentId: string,
    variantId: string,
    count: number,
    converting: number,
    country: (i: number) => string,
  ) {
    const events = Array.from({ length: count }, (_, i) => {
      const base = {
        experimentId,
        variantId,
        userId: `${experimentId}-${variantId}-${i}`,
        segments: { country: country(i) },
      };
      return [
        { ...base, type: 'impression' },
        ...(i < converting ? [{ ...base, type: 'conversion', metric: 'purchase', value: 1 }] : []),
      ];
    }).flat();
    for (let i = 0; i < events.length; i += 500) {
      expect((await collector.post(events.slice(i, i + 500))).status).toBe(202);
    }
  }

  async function resultsOf(key: string) {
    const response = await api.app.inject({ url: `/api/v1/experiments/${key}/results` });
    expect(response.statusCode).toBe(200);
    return response.json();
  }

  /** Waits until every variant has its exposed users and converting users (`purchase`). */
  async function waitForUsers(key: string, expected: Record<string, number>, converting: Record<string, number>) {
    return waitFor(
      async () => {
        const results = await resultsOf(key);
        const ok = results.variants.every(
          (v: any) => v.users === expected[v.variantId] && v.metrics.purchase?.users === converting[v.variantId],
        );
        return ok ? results : undefined;
      },
      30_000,
      `${key} users ${JSON.stringify(expected)}`,
    );
  }

  const cell = (metric: string, variant: string, column: string) =>
    page.locator(`.totals tr[data-metric="${metric}"][data-variant="${variant}"] td[data-col="${column}"]`);

  it('creates an experiment through the form, after a validation error shown next to its field', async () => {
    screenshotOnFailure('create-through-form');
    const key = `ui-form-${suffix}`;
    await page.goto(`${baseUrl}/ui/`);
    await page.getByRole('link', { name: 'New experiment' }).click();
    await page.getByRole('heading', { level: 1, name: 'New experiment' }).waitFor();
    await page.getByLabel('Key', { exact: true }).fill(key);
    await page.getByLabel('Name', { exact: true }).fill('Checkout button colour');
    await page.getByLabel('Status').selectOption('running');
    await page.getByLabel('Weight').nth(1).fill('0.6');
    // A schema problem first (alpha must be below 0.5): shown next to the statistics settings.
    const settings = page.getByLabel('Statistics settings (JSON, optional)');
    await settings.fill('{"alpha": 0.7}');
    await page.getByRole('button', { name: 'Create experiment' }).click();
    const settingsError = page.locator('[data-field-wrapper="analysis"] .field-error');
    await expect.poll(() => settingsError.textContent()).toMatch(/0\.5/);
    expect(await settings.getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator('.error-summary [data-problem-field]').first().getAttribute('data-problem-field')).toBe(
      'analysis.alpha',
    );
    await settings.fill('');
    await page.getByRole('button', { name: 'Create experiment' }).click();

    const summary = page.locator('.error-summary');
    await expect.poll(() => summary.textContent()).toContain('weightsSumToOne');
    const variantsError = page.locator('fieldset[data-field="variants"] > .field-error');
    expect(await variantsError.textContent()).toMatch(/sum to 1/);
    expect(await page.locator('fieldset[data-field="variants"]').getAttribute('aria-invalid')).toBe('true');
    expect(await seriousAccessibilityViolations(page)).toEqual([]);

    await page.getByLabel('Weight').nth(1).fill('0.5');
    await page.getByRole('button', { name: 'Create experiment' }).click();
    await page.getByRole('heading', { level: 1, name: 'Checkout button colour' }).waitFor();
    expect(page.url()).toBe(`${baseUrl}/ui/experiments/${key}`);
    const stored = await api.app.inject({ url: `/api/v1/experiments/${key}` });
    expect(stored.json()).toMatchObject({
      key,
      status: 'running',
      variants: [
        { id: 'control', weight: 0.5 },
        { id: 'treatment', weight: 0.5 },
      ],
      metrics: [{ key: 'purchase', type: 'binomial', lowerIsBetter: false }],
      segmentDimensions: ['country'],
    });
    await page.locator('.changes', { hasText: 'created' }).waitFor();
  });

  it('shows the collector’s events as results with the expected numbers, then a segment breakdown', async () => {
    screenshotOnFailure('results-and-segments');
    const key = `ui-form-${suffix}`;
    // control: 40 users, 10 buy (25%); treatment: 40 users, 22 buy (55%). Countries alternate US / DE.
    await sendUsers(key, 'control', 40, 10, (i) => (i % 2 === 0 ? 'US' : 'DE'));
    await sendUsers(key, 'treatment', 40, 22, (i) => (i % 2 === 0 ? 'US' : 'DE'));
    const results = await waitForUsers(key, { control: 40, treatment: 40 }, { control: 10, treatment: 22 });
    const lift = results.variants[1].metrics.purchase.vsControl;

    await page.getByRole('button', { name: 'Refresh now' }).click();
    await expect.poll(() => cell('purchase', 'treatment', 'mean').textContent()).toBe('55.0%');
    expect(await cell('purchase', 'control', 'users').textContent()).toBe('40');
    expect(await cell('purchase', 'control', 'mean').textContent()).toBe('25.0%');
    expect(await cell('purchase', 'treatment', 'mean').textContent()).toBe('55.0%');
    expect(await cell('purchase', 'treatment', 'absolute').textContent()).toMatch(/^\+30\.0 pp/);
    expect(await cell('purchase', 'treatment', 'relative').textContent()).toMatch(/^\+120\.0%/);
    expect(await cell('purchase', 'treatment', 'p-value').textContent()).toBe(formatPValue(lift.pValue));
    expect(await cell('purchase', 'treatment', 'chance-to-win').textContent()).toBe(
      `${(lift.chanceToWin * 100).toFixed(1)}%`,
    );
    const verdict = await cell('purchase', 'treatment', 'verdict')
      .locator('[data-verdict]')
      .getAttribute('data-verdict');
    expect(verdict).toBe(lift.pValue < 0.05 ? 'winning' : 'inconclusive');
    expect(await page.locator('.totals th', { hasText: 'sequential' }).count()).toBe(1);
    expect(await page.locator('[data-freshness]').textContent()).toMatch(/^Last event \d+ s ago$/);
    expect(await page.locator('.banner-srm').count()).toBe(0);

    // Fixed horizon: the column says so and the p-value is the fixed-horizon one.
    const fixed = (await api.app.inject({ url: `/api/v1/experiments/${key}/results?sequential=false` })).json();
    await page.getByLabel(/Fixed horizon/).check();
    await expect.poll(() => page.locator('.totals th', { hasText: 'fixed horizon' }).count()).toBe(1);
    expect(await cell('purchase', 'treatment', 'p-value').textContent()).toBe(
      formatPValue(fixed.variants[1].metrics.purchase.vsControl.pValue),
    );
    expect(page.url()).toContain('sequential=false');
    await page.getByLabel(/Sequential/).check();

    // Segment breakdown by country: two values of 20 users per variant, cells add up.
    await page.getByLabel('Dimension', { exact: true }).selectOption('country');
    await page.getByRole('button', { name: 'Show breakdown' }).click();
    const us = page.locator('.segment[data-segment="US"]');
    await us.waitFor();
    expect(await page.locator('[data-cells-add-up]').getAttribute('data-cells-add-up')).toBe('true');
    expect(await us.locator('tr[data-variant="control"] td[data-col="users"]').textContent()).toBe('20');
    expect(await us.locator('tr[data-variant="treatment"] td[data-col="mean"]').textContent()).toBe('55.0%');
    expect(await us.locator('th', { hasText: 'holm-corrected' }).count()).toBe(1);
    expect(await page.locator('.segment[data-segment="DE"] h3').textContent()).toContain('40 users');
    expect(page.url()).toContain('dimension=country');
    expect(await seriousAccessibilityViolations(page)).toEqual([]);
  });

  it('shows the SRM banner with its p-value, and the history chart once snapshots exist', async () => {
    screenshotOnFailure('srm-banner');
    const key = `ui-srm-${suffix}`;
    const created = await api.app.inject({
      method: 'POST',
      url: '/api/v1/experiments',
      payload: experimentBody(key, {
        status: 'running',
        metrics: [{ key: 'purchase', type: 'binomial' }],
        segmentDimensions: ['country'],
      }),
    });
    expect(created.statusCode).toBe(201);
    await sendUsers(key, 'control', 90, 9, () => 'US');
    await sendUsers(key, 'treatment', 30, 6, () => 'US');
    const results = await waitForUsers(key, { control: 90, treatment: 30 }, { control: 9, treatment: 6 });
    expect(results.srm.mismatch).toBe(true);

    await page.goto(`${baseUrl}/ui/experiments/${key}`);
    const banner = page.getByRole('alert').filter({ hasText: 'Sample ratio mismatch' });
    await banner.waitFor();
    expect(await banner.textContent()).toContain(`p = ${formatSrmPValue(results.srm.pValue)}`);
    expect(await banner.textContent()).toContain('control: 90 users (75.0%), expected 50.0%');
    // No snapshots yet: no history section.
    await page.locator('.changes').waitFor();
    expect(await page.locator('section.history').isHidden()).toBe(true);

    // Two snapshots (the monitor's store): the chart, its legend and the latest values appear.
    const snapshots = createSnapshotStore(api.database);
    for (const [hoursAgo, relative] of [
      [2, 0.1],
      [1, -0.2],
    ] as const) {
      const at = new Date(Date.now() - hoursAgo * 3600_000);
      await snapshots.upsert(key, at, at, [
        {
          metric: 'purchase',
          variants: [
            { variantId: 'control', users: 90, mean: 0.1, lift: null, pValue: null, chanceToWin: null },
            {
              variantId: 'treatment',
              users: 30,
              mean: 0.2,
              lift: { relative, interval: [relative - 0.5, relative + 0.5] },
              pValue: 0.4,
              chanceToWin: 0.3,
            },
          ],
        },
      ]);
    }
    await page.reload();
    await page.locator('.history-chart').waitFor();
    expect(await page.locator('.history .legend').textContent()).toContain('treatment vs control');
    expect(await page.locator('.history-latest tbody tr').nth(1).textContent()).toContain('−20.0%');

    // The list shows the experiment's verdict as SRM (a word and an icon, not a colour).
    await page.goto(`${baseUrl}/ui/?q=${key}`);
    const row = page.locator(`tr[data-key="${key}"]`);
    await expect.poll(() => row.locator('[data-verdict]').getAttribute('data-verdict')).toBe('srm');
    expect(await row.locator('td[data-col="users"]').textContent()).toBe('120');
    expect(await row.locator('td[data-col="started"]').textContent()).not.toBe('not started');
    expect(await page.locator('tr[data-key]:not([hidden])').count()).toBe(1);
    expect(await seriousAccessibilityViolations(page)).toEqual([]);
  });

  it('shows a ratio metric, the capped marker and the CUPED-adjusted lift beside the raw one', async () => {
    screenshotOnFailure('ratio-capped-cuped');
    const key = `ui-extras-${suffix}`;
    const created = await api.app.inject({
      method: 'POST',
      url: '/api/v1/experiments',
      payload: experimentBody(key, {
        metrics: [
          { key: 'revenue', type: 'mean', cap: 50, cuped: true },
          { key: 'aov', type: 'ratio', numerator: 'revenue', denominator: 'orders' },
        ],
        segmentDimensions: ['country'],
      }),
    });
    expect(created.statusCode, created.body).toBe(201);
    // Cells seeded directly (processors' writer) from 200 users whose revenue follows their covariate.
    const users: RawUser[] = Array.from({ length: 200 }, (_, i) => ({
      variantId: i % 2 ? 'treatment' : 'control',
      impressions: 1,
      segments: { country: 'US' },
      covariates: { revenue: i % 10 },
      conversions: {
        revenue: i % 3 ? [(i % 10) * 6 + (i % 7) + (i % 2 ? 3 : 0)] : [],
        orders: i % 3 ? [1, 1 + (i % 2)] : [],
      },
    }));
    const plan = counterPlanOf(created.json());
    await writePlannedCells(api.dynamo, api.config.dynamodb.countersTable, key, aggregatePlannedCells(users, plan));
    const results = await resultsOf(key);
    const cuped = results.variants[1].metrics.revenue.vsControl.cuped;
    expect(cuped.varianceReduction).toBeGreaterThan(0);

    await page.goto(`${baseUrl}/ui/experiments/${key}`);
    await cell('revenue', 'treatment', 'cuped').waitFor();
    expect(await page.locator('#totals-revenue').textContent()).toMatch(/capped at 50.*CUPED/);
    expect(await cell('revenue', 'treatment', 'cuped').textContent()).toContain(
      formatPercent(cuped.relative.estimate, 1, true),
    );
    expect(await cell('revenue', 'treatment', 'cuped').textContent()).toContain(
      `variance −${formatPercent(cuped.varianceReduction, 0)}`,
    );
    const rawLift = formatPercent(results.variants[1].metrics.revenue.vsControl.relative.estimate, 1, true);
    expect(await cell('revenue', 'treatment', 'relative').textContent()).toContain(rawLift); // the raw lift stays
    expect(await page.locator('#totals-aov').textContent()).toContain('ratio revenue / orders');
    expect(await cell('aov', 'treatment', 'mean').textContent()).toBe(
      formatNumber(results.variants[1].metrics.aov.mean),
    );
    expect(await cell('aov', 'treatment', 'cuped').count()).toBe(0); // no CUPED column without `cuped`
    expect(await seriousAccessibilityViolations(page)).toEqual([]);
  });

  it('explains an If-Match conflict instead of overwriting someone else’s change', async () => {
    screenshotOnFailure('if-match-conflict');
    const key = `ui-srm-${suffix}`;
    await page.goto(`${baseUrl}/ui/experiments/${key}/edit`);
    await page.getByRole('heading', { level: 1, name: /^Edit / }).waitFor();
    // Someone else saves a change meanwhile.
    const theirs = await api.app.inject({
      method: 'PATCH',
      url: `/api/v1/experiments/${key}`,
      payload: { description: 'changed by a colleague' },
    });
    expect(theirs.statusCode).toBe(200);
    await page.getByLabel('Name', { exact: true }).fill('My new name');
    await page.getByRole('button', { name: 'Save changes' }).click();
    const conflict = page.locator('[data-conflict]');
    await conflict.waitFor();
    expect(await conflict.textContent()).toContain('Nothing of yours was saved');
    expect(await page.locator('.error-summary').textContent()).toContain('They changed: description');
    expect((await api.app.inject({ url: `/api/v1/experiments/${key}` })).json().name).toBe(`Experiment ${key}`);

    await page.getByRole('button', { name: 'Save mine over theirs' }).click();
    await page.getByRole('heading', { level: 1, name: 'My new name' }).waitFor();
    const saved = (await api.app.inject({ url: `/api/v1/experiments/${key}` })).json();
    expect(saved).toMatchObject({ name: 'My new name', description: 'changed by a colleague' });
  });

  it('removes a stored targeting rule when its box is cleared: stored, audited, and assignment follows', async () => {
    screenshotOnFailure('clear-targeting');
    const key = `ui-untarget-${suffix}`;
    const rule = { attribute: 'country', op: 'in', values: ['US'] };
    const created = await api.app.inject({
      method: 'POST',
      url: '/api/v1/experiments',
      payload: experimentBody(key, { status: 'running', targeting: rule }),
    });
    expect(created.statusCode, created.body).toBe(201);
    /** How the Assignment function (edge/) places a German user, reading the definition from this API. */
    const assignGerman = () =>
      createAssignmentHandler({ client: createDefinitionClient({ apiUrl: baseUrl }) })({
        experimentKey: key,
        userId: 'user-de-1',
        attributes: { country: 'DE' },
      });
    expect(await assignGerman()).toMatchObject({ inExperiment: false });

    await page.goto(`${baseUrl}/ui/experiments/${key}/edit`);
    const box = page.getByLabel('Targeting rule (JSON, optional)');
    expect(JSON.parse(await box.inputValue())).toEqual(rule);
    await box.fill('');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByRole('heading', { level: 1, name: `Experiment ${key}` }).waitFor();
    await expect.poll(() => page.locator('.changes').textContent()).toMatch(/targeting: .*US.* → null/);

    const stored = (await api.app.inject({ url: `/api/v1/experiments/${key}` })).json();
    expect(stored).not.toHaveProperty('targeting');
    expect(stored.name).toBe(`Experiment ${key}`);
    await page.goto(`${baseUrl}/ui/experiments/${key}/edit`);
    await page.getByRole('heading', { level: 1, name: /^Edit / }).waitFor();
    expect(await page.getByLabel('Targeting rule (JSON, optional)').inputValue()).toBe('');
    expect(await assignGerman()).toMatchObject({ inExperiment: true });
  });

  it('signs in through a fake Cognito Hosted UI (authorization code + PKCE), reads with the token, signs out', async () => {
    screenshotOnFailure('fake-hosted-ui');
    const cognito = await startLocalCognito();
    let issuedToken = '';
    const hostedUi = await startFakeHostedUi({
      clientId: CLIENT_ID,
      issue: () => {
        issuedToken = cognito.accessToken({ 'cognito:groups': ['experiment-editors'] });
        return { access_token: issuedToken, id_token: cognito.idToken({ email: 'analyst-1@example.com' }) };
      },
    });
    const secured = await startTestApi(
      { ...cognito.env, COGNITO_DOMAIN: hostedUi.domain },
      { jwksCache: cognito.jwksCache },
    );
    try {
      const securedUrl = await secured.app.listen({ port: 0, host: '127.0.0.1' });
      await page.goto(`${securedUrl}/ui/experiments/new`);
      await page.getByRole('button', { name: 'Sign in with Cognito' }).click();
      // Back from the Hosted UI on /ui/callback, then on the page the sign-in started from.
      await page.getByRole('heading', { level: 1, name: 'New experiment' }).waitFor();
      expect(hostedUi.problems).toEqual([]);
      expect(hostedUi.requests.map((r) => r.path)).toEqual(['/oauth2/authorize', '/oauth2/token']);
      expect(hostedUi.requests[0]?.params.redirect_uri).toBe(`${securedUrl}/ui/callback`);
      expect(await page.locator('#account').textContent()).toContain('analyst-1@example.com');
      expect(await page.evaluate<string | null>('sessionStorage.getItem("experiments-ui.credentials")')).toContain(
        issuedToken,
      );

      // The token works for reads and (as an editor) writes.
      await page.getByLabel('Key', { exact: true }).fill(`ui-cognito-${suffix}`);
      await page.getByLabel('Name', { exact: true }).fill('Signed in');
      await page.getByRole('button', { name: 'Create experiment' }).click();
      await page.getByRole('heading', { level: 1, name: 'Signed in' }).waitFor();
      // The change history loads after the page: wait for the author to show (fails on timeout).
      await page.locator('.changes', { hasText: 'analyst-1@example.com' }).waitFor();

      const { refreshToken } = JSON.parse(
        (await page.evaluate<string | null>('sessionStorage.getItem("experiments-ui.credentials")')) ?? '{}',
      ) as { refreshToken?: string };
      expect(refreshToken).toBeTruthy();
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
      // The refresh token is revoked at the Hosted UI, then its session ends.
      expect(hostedUi.requests.find((r) => r.path === '/oauth2/revoke')?.params).toEqual({
        token: refreshToken,
        client_id: CLIENT_ID,
      });
      expect(hostedUi.requests.at(-1)).toMatchObject({
        path: '/logout',
        params: { client_id: CLIENT_ID, logout_uri: `${securedUrl}/ui/` },
      });
      // Revoked at the API: the token no longer reads.
      const refused = await secured.app.inject({
        url: '/api/v1/experiments',
        headers: { authorization: `Bearer ${issuedToken}` },
      });
      expect(refused.statusCode).toBe(401);
      expect(hostedUi.problems).toEqual([]);
      expect(await seriousAccessibilityViolations(page)).toEqual([]);
    } finally {
      await closesWithin('the secured query API', secured.close(), CLOSE_MS);
      await closesWithin('the fake Hosted UI', hostedUi.stop(), CLOSE_MS);
      await closesWithin('the local Cognito JWKS server', cognito.stop(), CLOSE_MS);
    }
  });

  it('renews an expired Cognito access token with the refresh token, and asks to sign in when that fails (fake Hosted UI)', async () => {
    screenshotOnFailure('token-refresh');
    const cognito = await startLocalCognito();
    const LIFETIME_S = 2;
    const issued: { grant: string; token: string; expiresAt: number }[] = [];
    const hostedUi = await startFakeHostedUi({
      clientId: CLIENT_ID,
      issue: (grant) => {
        // Short-lived for real: the API refuses the token once `exp` has passed.
        const exp = Math.floor(Date.now() / 1000) + LIFETIME_S;
        const token = cognito.accessToken({ exp });
        issued.push({ grant, token, expiresAt: exp * 1000 });
        return {
          access_token: token,
          id_token: cognito.idToken({ email: 'analyst-2@example.com' }),
          expires_in: LIFETIME_S,
        };
      },
    });
    const secured = await startTestApi(
      { ...cognito.env, COGNITO_DOMAIN: hostedUi.domain },
      { jwksCache: cognito.jwksCache },
    );
    const storedCredentials = async () =>
      JSON.parse(
        (await page.evaluate<string | null>('sessionStorage.getItem("experiments-ui.credentials")')) ?? 'null',
      ) as {
        accessToken: string;
      } | null;
    /** Waits (bounded) until the latest access token has expired: the API would refuse it now. */
    const latestExpired = () =>
      waitFor(() => (Date.now() > (issued.at(-1)?.expiresAt ?? 0) + 200 ? true : undefined), 10_000, 'token expiry');
    try {
      const securedUrl = await secured.app.listen({ port: 0, host: '127.0.0.1' });
      await page.goto(`${securedUrl}/ui/`);
      await page.getByRole('button', { name: 'Sign in with Cognito' }).click();
      await page.getByRole('heading', { level: 1, name: 'Experiments' }).waitFor();
      const first = issued[0]?.token ?? '';
      await latestExpired();
      const refused = await secured.app.inject({
        url: '/api/v1/experiments',
        headers: { authorization: `Bearer ${first}` },
      });
      expect(refused.statusCode, 'the first token has expired').toBe(401);

      // A reload keeps the refreshable credentials; the list's first call renews the token first.
      await page.reload();
      await page.getByRole('heading', { level: 1, name: 'Experiments' }).waitFor();
      await page.locator('table, .empty, [data-key]').first().waitFor();
      const refreshes = hostedUi.requests.filter((r) => r.params.grant_type === 'refresh_token');
      expect(refreshes.length).toBeGreaterThanOrEqual(1);
      expect(refreshes[0]?.params).toMatchObject({ client_id: CLIENT_ID, refresh_token: expect.any(String) });
      expect(issued.at(-1)?.grant).toBe('refresh_token');
      expect((await storedCredentials())?.accessToken).toBe(issued.at(-1)?.token);
      expect(await page.locator('#account').textContent()).toContain('analyst-2@example.com');
      expect(await page.getByRole('heading', { level: 1, name: 'Sign in' }).count()).toBe(0);
      expect(hostedUi.problems).toEqual([]);

      // The refresh token ends too (its validity passed): the next call cannot renew, so sign in again.
      hostedUi.expireRefreshTokens();
      await latestExpired();
      await page.reload();
      await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
      expect(await page.getByRole('status').filter({ hasText: 'could not be renewed' }).count()).toBe(1);
      expect(await storedCredentials()).toBeNull();
      expect(await page.getByRole('button', { name: 'Sign in with Cognito' }).count()).toBe(1);
      expect(hostedUi.problems).toEqual([]);
    } finally {
      await closesWithin('the secured query API', secured.close(), CLOSE_MS);
      await closesWithin('the fake Hosted UI', hostedUi.stop(), CLOSE_MS);
      await closesWithin('the local Cognito JWKS server', cognito.stop(), CLOSE_MS);
    }
  });

  it('asks for an API key when the API takes keys, refuses a wrong one, keeps a right one for the tab', async () => {
    screenshotOnFailure('api-key-prompt');
    const keyed = await startTestApi({ API_KEYS: 'right-key-1234' });
    try {
      const keyedUrl = await keyed.app.listen({ port: 0, host: '127.0.0.1' });
      await page.goto(`${keyedUrl}/ui/`);
      await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
      expect(await page.getByRole('button', { name: 'Sign in with Cognito' }).count()).toBe(0);
      await page.getByLabel('API key').fill('wrong-key');
      await page.getByRole('button', { name: 'Continue' }).click();
      await expect.poll(() => page.getByRole('alert').first().textContent()).toContain('This key was refused');
      expect(await page.getByLabel('API key').getAttribute('aria-invalid')).toBe('true');
      await page.getByLabel('API key').fill('right-key-1234');
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.getByRole('heading', { level: 1, name: 'Experiments' }).waitFor();
      expect(await page.locator('#account').textContent()).toContain('API key');
      // A reload keeps the key (sessionStorage), a sign-out forgets it.
      await page.reload();
      await page.getByRole('heading', { level: 1, name: 'Experiments' }).waitFor();
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
      expect(await seriousAccessibilityViolations(page)).toEqual([]);
    } finally {
      await closesWithin('the query API with keys', keyed.close(), CLOSE_MS);
    }
  });

  it('is navigable by keyboard and logged no script or policy error', async () => {
    screenshotOnFailure('keyboard');
    await page.goto(`${baseUrl}/ui/`);
    await page.getByRole('heading', { level: 1, name: 'Experiments' }).waitFor();
    // A page load moves the focus to its heading; the next stop is the page's first action.
    expect(await focusedElement(page, 'tagName')).toBe('H1');
    await page.keyboard.press('Tab');
    expect(await focusedElement(page, 'textContent')).toBe('New experiment');
    await page.focus('.skip-link');
    await page.keyboard.press('Enter');
    await expect.poll(() => focusedElement(page, 'id')).toBe('main');
    await page.getByLabel('Search key or name').focus();
    // Tab to the first experiment link and open it with Enter.
    for (let i = 0; i < 30; i++) {
      await page.keyboard.press('Tab');
      const href = (await focusedElement(page, '@href')) ?? '';
      if (href.startsWith('/ui/experiments/ui-')) break;
    }
    await page.keyboard.press('Enter');
    await page.locator('.totals').waitFor();
    expect(await focusedElement(page, 'tagName')).toBe('H1');
    expect(pageErrors).toEqual([]);

    // The accessibility check does find a violation when there is one.
    await page.evaluate(`document.querySelector('main').append(document.createElement('select'))`);
    expect((await seriousAccessibilityViolations(page)).map((v) => v.id)).toContain('select-name');
  });
});
