/**
 * End to end for ratio, capped and CUPED metrics through the real parts: the definition
 * registered through the query API (PostgreSQL), impressions carrying `covariates` and
 * conversions sent to the collector (kinesalite), counted by the processors under the counter
 * plan they learn from the query API over HTTP (definitions client), read back from dynalite
 * as results. Counts exact; every comparison equal (1e-9 relative) to the estimators run on
 * the per-user values computed directly from the raw events.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSilentLogger } from '../common/logger.js';
import { startCollectorHarness, type CollectorHarness } from '../ingest/test-support/collector-harness.js';
import { waitFor } from '../local/test-support/test-config.js';
import { seededRandom } from '../local/test-support/counter-workload.js';
import { startProcessors, type RunningProcessors } from '../processors/main.js';
import { provisionPipeline } from '../local/provision.js';
import {
  compareCuped,
  compareRatio,
  compareToControl,
  type CupedStats,
  type RatioStats,
  type SampleStats,
} from './stats/index.js';
import { experimentBody, startTestApi, type TestApi } from './test-support/test-app.js';

const CAP = 100;
const COUNTRIES = ['US', 'DE'];

interface User {
  id: string;
  variant: 'control' | 'treatment';
  country: string;
  impressions: number;
  /** Pre-exposure revenue, sent as `covariates.revenue` on the first impression (later ones send 9,999). */
  covariate: number;
  /** One revenue event per order. */
  orders: number[];
}

/** Users whose pre-exposure revenue predicts their revenue, some of them above the cap. */
function simulateUsers(count: number): User[] {
  const random = seededRandom(1616);
  return Array.from({ length: count }, (_, i) => {
    const variant = random() < 0.5 ? 'control' : 'treatment';
    const habit = random() * 3;
    const orderCount = random() < 0.4 ? 1 + Math.floor(random() * habit) : 0;
    const lift = variant === 'treatment' ? 1.15 : 1;
    return {
      id: `e2e-planned-${i}`,
      variant,
      country: COUNTRIES[i % COUNTRIES.length]!,
      impressions: 1 + Math.floor(random() * 2),
      covariate: Math.round((habit * 25 + 10 * random()) * 100) / 100,
      orders: Array.from({ length: orderCount }, () => Math.round((10 + habit * 20 * lift * random()) * 100) / 100),
    };
  });
}

/** A user's revenue total, rounded to the cents every value has (no float drift). */
const revenueOf = (user: User) => Math.round(user.orders.reduce((a, b) => a + b, 0) * 100) / 100;
const sums = (values: readonly number[]): SampleStats => ({
  n: values.length,
  sum: values.reduce((a, b) => a + b, 0),
  sumSquares: values.reduce((a, b) => a + b * b, 0),
});
const cappedStats = (users: readonly User[]) => sums(users.map((user) => Math.min(revenueOf(user), CAP)));
const cupedStats = (users: readonly User[]): CupedStats => {
  const y = users.map((user) => Math.min(revenueOf(user), CAP));
  const x = sums(users.map((user) => user.covariate));
  return {
    ...sums(y),
    covariateSum: x.sum,
    covariateSumSquares: x.sumSquares,
    sumProducts: users.reduce((s, user, i) => s + y[i]! * user.covariate, 0),
  };
};
const ratioStats = (users: readonly User[]): RatioStats => {
  const n = sums(users.map(revenueOf));
  const d = sums(users.map((user) => user.orders.length));
  return {
    n: users.length,
    numerator: { sum: n.sum, sumSquares: n.sumSquares },
    denominator: { sum: d.sum, sumSquares: d.sumSquares },
    sumProducts: users.reduce((s, user) => s + revenueOf(user) * user.orders.length, 0),
  };
};

const closeTo = (actual: number | null | undefined, expected: number | null, what: string) => {
  if (expected === null) {
    expect(actual, what).toBeNull();
    return;
  }
  expect(actual, what).not.toBeNull();
  expect(Math.abs((actual as number) - expected), `${what}: ${String(actual)} vs ${expected}`).toBeLessThanOrEqual(
    1e-9 * Math.max(1, Math.abs(expected)),
  );
};
type Served = { estimate: number | null; ciLow: number | null; ciHigh: number | null };
const sameInterval = (served: Served, expected: Served, what: string) => {
  closeTo(served.estimate, expected.estimate, `${what}.estimate`);
  closeTo(served.ciLow, expected.ciLow, `${what}.ciLow`);
  closeTo(served.ciHigh, expected.ciHigh, `${what}.ciHigh`);
};

describe('ratio, capped and CUPED metrics end to end (collector → kinesalite → processors → dynalite → results)', () => {
  const users = simulateUsers(600);
  let collector: CollectorHarness;
  let processors: RunningProcessors;
  let api: TestApi;
  const experimentKey = `e2e-plan-${Date.now().toString(36)}`;
  const options = { alpha: 0.05, sequential: false, alternative: 'two-sided' } as const;

  beforeAll(async () => {
    collector = await startCollectorHarness();
    api = await startTestApi({ DYNAMODB_TABLE_NAME: collector.config.dynamodb.countersTable });
    const apiUrl = await api.app.listen({ port: 0, host: '127.0.0.1' });
    const created = await api.app.inject({
      method: 'POST',
      url: '/api/v1/experiments',
      payload: experimentBody(experimentKey, {
        status: 'running',
        segmentDimensions: ['country'],
        metrics: [
          { key: 'revenue', type: 'mean', cap: CAP, cuped: true },
          { key: 'aov', type: 'ratio', numerator: 'revenue', denominator: 'orders' },
        ],
      }),
    });
    expect(created.statusCode, created.body).toBe(201);
    // The processors learn the plan from the query API over HTTP, configured as deployed
    // (PROCESSOR_DEFINITIONS_API_URL).
    await provisionPipeline(collector.config);
    const config = collector.config;
    processors = await startProcessors(
      { ...config, processors: { ...config.processors, definitions: { ...config.processors.definitions, apiUrl } } },
      { logger: createSilentLogger(), consumerOptions: { pollIntervalMs: 50 } },
    );

    const base = (user: User) => ({
      experimentId: experimentKey,
      variantId: user.variant,
      userId: user.id,
      segments: { country: user.country },
    });
    // The first impression fixes the user's covariate: later ones carry another value, which must not count.
    const impressions = users.flatMap((user) =>
      Array.from({ length: user.impressions }, (_, i) => ({
        ...base(user),
        type: 'impression',
        covariates: { revenue: i === 0 ? user.covariate : 9_999 },
      })),
    );
    let eventNumber = 0;
    const conversions = users
      .flatMap((user) =>
        user.orders.flatMap((value) => [
          { ...base(user), type: 'conversion', metric: 'revenue', value },
          { ...base(user), type: 'conversion', metric: 'orders', value: 1 },
        ]),
      )
      .map((event) => ({ ...event, eventId: `16161616-0000-4000-8000-${String(eventNumber++).padStart(12, '0')}` }));
    for (let i = 0; i < impressions.length; i += 500) {
      expect((await collector.post(impressions.slice(i, i + 500))).status).toBe(202);
    }
    for (let i = 0; i < conversions.length; i += 500) {
      expect((await collector.post(conversions.slice(i, i + 500))).status).toBe(202);
    }
    // Producer retries of conversions already sent (same eventIds) count once, in every sum.
    expect((await collector.post(conversions.slice(0, 100))).status).toBe(202);
    const expectedEvents = impressions.length + conversions.length;
    await waitFor(
      async () => {
        const out = await processors.metrics.eventsOut.get();
        const total = (outcome: string) =>
          out.values.filter((v) => v.labels.outcome === outcome).reduce((a, v) => a + v.value, 0);
        return total('counted') >= expectedEvents && total('duplicate') >= 100;
      },
      90_000,
      'the processors to count every event and see the 100 retried ones',
    );
  }, 180_000);

  afterAll(async () => {
    await processors?.stop();
    await collector?.close();
    await api?.close();
  });

  const resultsOf = async (url: string) => {
    const response = await api.app.inject({ url });
    expect(response.statusCode, response.body).toBe(200);
    return response.json();
  };

  /** Checks one set of served variants against the direct computation on `subset` of the users. */
  function expectDirect(variants: any[], subset: readonly User[]) {
    const control = subset.filter((user) => user.variant === 'control');
    const treatment = subset.filter((user) => user.variant === 'treatment');
    const byVariant = Object.fromEntries(variants.map((v) => [v.variantId, v]));
    for (const [id, arm] of [
      ['control', control],
      ['treatment', treatment],
    ] as const) {
      const served = byVariant[id];
      expect(served.users, id).toBe(arm.length);
      const capped = cappedStats(arm);
      const uncapped = sums(arm.map(revenueOf));
      closeTo(served.metrics.revenue.sum, capped.sum, `${id} capped sum`);
      closeTo(served.metrics.revenue.sumSquares, capped.sumSquares, `${id} capped sum of squares`);
      closeTo(served.metrics.revenue.capped.uncappedSum, uncapped.sum, `${id} uncapped sum`);
      closeTo(served.metrics.revenue.covariate.sum, cupedStats(arm).covariateSum, `${id} covariate sum`);
      closeTo(served.metrics.revenue.covariate.sumProducts, cupedStats(arm).sumProducts, `${id} capped Σxy`);
      closeTo(served.metrics.aov.ratio.sumProducts, ratioStats(arm).sumProducts, `${id} Σ N·D`);
      expect(served.metrics.aov.ratio.denominatorSum).toBe(ratioStats(arm).denominator.sum);
    }

    const revenue = byVariant.treatment.metrics.revenue.vsControl;
    const main = compareToControl(cappedStats(control), cappedStats(treatment), { ...options, kind: 'mean' });
    sameInterval(revenue.relative, main.relative, 'capped relative');
    sameInterval(revenue.absolute, main.absolute, 'capped absolute');
    closeTo(revenue.pValue, main.pValue, 'capped p');

    const cuped = compareCuped(cupedStats(control), cupedStats(treatment), options);
    sameInterval(revenue.cuped.relative, cuped.adjusted.relative, 'CUPED relative');
    sameInterval(revenue.cuped.absolute, cuped.adjusted.absolute, 'CUPED absolute');
    closeTo(revenue.cuped.pValue, cuped.adjusted.pValue, 'CUPED p');
    closeTo(revenue.cuped.theta, cuped.theta, 'theta');
    closeTo(revenue.cuped.varianceReduction, cuped.varianceReduction, 'variance reduction');

    const ratio = compareRatio(ratioStats(control), ratioStats(treatment), options);
    const aov = byVariant.treatment.metrics.aov.vsControl;
    sameInterval(aov.relative, ratio.relative, 'ratio relative');
    sameInterval(aov.absolute, ratio.absolute, 'ratio absolute');
    closeTo(aov.pValue, ratio.pValue, 'ratio p');
    return { cuped };
  }

  it('serves the capped CUPED mean and the ratio exactly as computed from the raw events', async () => {
    const body = await resultsOf(`/api/v1/experiments/${experimentKey}/results?sequential=false`);
    const { cuped } = expectDirect(body.variants, users);
    // The dataset exercises what is tested: totals above the cap and a covariate that predicts.
    expect(users.some((user) => revenueOf(user) > CAP)).toBe(true);
    expect(cuped.varianceReduction).toBeGreaterThan(0.05);
  });

  it('serves the same per country from the segment cells', async () => {
    const body = await resultsOf(
      `/api/v1/experiments/${experimentKey}/segments/country?sequential=false&correction=none`,
    );
    expect(body.cellsAddUp, JSON.stringify(body.discrepancies)).toBe(true);
    for (const segment of body.segments) {
      expectDirect(
        segment.variants,
        users.filter((user) => user.country === segment.value),
      );
    }
  });
});
