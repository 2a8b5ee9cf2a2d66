/**
 * The official GrowthBook SDK in a real browser (headless Chromium): a page on one origin
 * loads the SDK's own browser bundle and our tracking callback (bundled by esbuild), fetches
 * the payload cross-origin from the running query API (so CORS must work), assigns users as
 * `assignVariant`/`evaluateFlag` do, and its impressions reach the collector (kinesalite)
 * through the page's origin, as README's "Use any GrowthBook SDK" describes.
 */
import type { Page } from 'playwright-core';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assignVariant, evaluateFlag } from '../../common/assignment.js';
import type { ExperimentDefinition, FlagDefinition } from '../../common/experiment-definition.js';
import { startCollectorHarness, type CollectorHarness } from '../../ingest/test-support/collector-harness.js';
import { waitFor } from '../../local/test-support/test-config.js';
import { startTestApi, type TestApi } from '../test-support/test-app.js';
import { launchHeadlessChromium, startPageServer, type PageServer } from '../test-support/sdk-browser-page.js';

const ADMIN_KEY = 'browser-admin-key-0123';
const USERS = 300;

const EXPERIMENT: ExperimentDefinition = {
  key: 'browser-checkout',
  name: 'Browser checkout',
  status: 'running',
  variants: [
    { id: 'control', weight: 0.6 },
    { id: 'treatment', weight: 0.4 },
  ],
  controlVariantId: 'control',
  coverage: 0.9,
  hashSeed: 'browser-checkout',
  hashVersion: 2,
  metrics: [],
  segmentDimensions: ['country'],
  targeting: { attribute: 'country', op: 'ne', value: 'FR' },
};
const FLAG: FlagDefinition = {
  key: 'browser-flag',
  enabled: true,
  defaultValue: 'off',
  value: 'on',
  rollout: 0.5,
  hashSeed: 'browser-flag',
};

const countryOf = (i: number) => ['US', 'DE', 'FR'][i % 3]!;

interface PageRun {
  init: { success: boolean; source: string; error: string | null };
  values: [unknown, unknown][];
  errors: string[];
}

interface PageGlobals {
  growthbook: {
    GrowthBook: new (options: Record<string, unknown>) => {
      init(options: { timeout: number }): Promise<{ success: boolean; source: string; error?: Error }>;
      setAttributes(attributes: Record<string, unknown>): Promise<void>;
      getFeatureValue(key: string, fallback: unknown): unknown;
    };
  };
  growthbookTracking: { createBrowserTrackingCallback(options: Record<string, unknown>): unknown };
  location: { origin: string };
}

/** Runs in the page: the SDK as a shop's page would use it. */
function runInPage(page: Page, apiHost: string, clientKey: string): Promise<PageRun> {
  return page.evaluate(
    async ({ apiHost, clientKey, users }) => {
      const { growthbook, growthbookTracking, location } = globalThis as unknown as PageGlobals;
      const errors: string[] = [];
      const gb = new growthbook.GrowthBook({
        apiHost,
        clientKey,
        trackingCallback: growthbookTracking.createBrowserTrackingCallback({
          collectorUrl: location.origin,
          segmentAttributes: ['country'],
          onError: (error: unknown) => errors.push(String(error)),
        }),
      });
      const init = await gb.init({ timeout: 5_000 });
      const values: [unknown, unknown][] = [];
      for (let i = 0; i < users; i++) {
        await gb.setAttributes({ id: `browser-user-${i}`, country: ['US', 'DE', 'FR'][i % 3] });
        values.push([gb.getFeatureValue('browser-checkout', null), gb.getFeatureValue('browser-flag', null)]);
      }
      return {
        init: {
          success: init.success,
          source: init.source,
          error: init.error ? `${init.error.name}: ${init.error.message}` : null,
        },
        values,
        errors,
      };
    },
    { apiHost, clientKey, users: USERS },
  );
}

describe('official GrowthBook SDK in headless Chromium, cross-origin', () => {
  let api: TestApi;
  let apiHost: string;
  let collector: CollectorHarness;
  let pages: PageServer;
  let browser: Browser;
  let clientKey: string;

  beforeAll(async () => {
    collector = await startCollectorHarness();
    api = await startTestApi({ ADMIN_API_KEYS: ADMIN_KEY });
    await api.app.listen({ port: 0, host: '127.0.0.1' });
    apiHost = `http://127.0.0.1:${(api.app.server.address() as AddressInfo).port}`;
    const headers = { 'x-api-key': ADMIN_KEY };
    const { key: experimentKey, ...experimentFields } = EXPERIMENT;
    const created = [
      await api.app.inject({
        method: 'POST',
        url: '/api/v1/experiments',
        headers,
        payload: { key: experimentKey, ...experimentFields },
      }),
      await api.app.inject({ method: 'POST', url: '/api/v1/flags', headers, payload: FLAG }),
      await api.app.inject({
        method: 'POST',
        url: '/api/v1/sdk-connections',
        headers,
        payload: { environment: 'web' },
      }),
    ];
    for (const response of created) expect(response.statusCode, response.body).toBe(201);
    clientKey = created[2]!.json<{ clientKey: string }>().clientKey;
    pages = await startPageServer(collector.collector.url);
    browser = await launchHeadlessChromium();
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await pages?.close();
    await collector?.close();
    await api?.close();
  });

  it('fetches the payload cross-origin, assigns as we do, and posts the impressions to the collector', async () => {
    expect(new URL(pages.origin).origin).not.toBe(new URL(apiHost).origin);
    const page = await browser.newPage();
    await page.goto(`${pages.origin}/`);
    const run = await runInPage(page, apiHost, clientKey);
    expect(run.init).toEqual({ success: true, source: 'network', error: null });
    const expectedImpressions: { userId: string; variantId: string; country: string }[] = [];
    run.values.forEach(([variant, flagValue], i) => {
      const userId = `browser-user-${i}`;
      const attributes = { country: countryOf(i) };
      const assignment = assignVariant(EXPERIMENT, userId, attributes);
      expect(variant, userId).toBe(assignment.variantId);
      expect(flagValue, userId).toBe(evaluateFlag(FLAG, userId, attributes).value);
      if (assignment.inExperiment)
        expectedImpressions.push({ userId, variantId: assignment.variantId, country: countryOf(i) });
    });
    expect(expectedImpressions.length).toBeGreaterThan(100);
    const arrived = await waitFor(
      async () => {
        const events = await collector.streamEvents();
        return events.length >= expectedImpressions.length ? events : undefined;
      },
      30_000,
      'the page’s impressions in the stream',
    );
    const got = arrived
      .map(
        ({ event }) =>
          event as { experimentId: string; userId: string; variantId: string; segments: { country: string } },
      )
      .map((event) => {
        expect(event.experimentId).toBe('browser-checkout');
        return { userId: event.userId, variantId: event.variantId, country: event.segments.country };
      });
    const byUser = (a: { userId: string }, b: { userId: string }) => a.userId.localeCompare(b.userId);
    expect(got.sort(byUser)).toEqual(expectedImpressions.sort(byUser));
    expect(run.errors).toEqual([]);
    await page.close();
  }, 120_000);
});
