/**
 * End to end through the real parts: experiment registered through the query API
 * (PostgreSQL), a workload with known answers sent to the collector (kinesalite), counted
 * by the processors (dynalite), read back as results and segment breakdowns. Counts must
 * match exactly; statistics to 1e-6 relative against an independent implementation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSilentLogger } from '../common/logger.js';
import { waitFor } from '../local/test-support/test-config.js';
import { startCollectorHarness, type CollectorHarness } from '../ingest/test-support/collector-harness.js';
import { startProcessors, type RunningProcessors } from '../processors/main.js';
import { provisionPipeline } from '../local/provision.js';
import { seededRandom } from '../local/test-support/counter-workload.js';
import { srmReference, welchReference } from './test-support/independent-statistics.js';
import { experimentBody, startTestApi, type TestApi } from './test-support/test-app.js';

interface User {
  id: string;
  variant: 'control' | 'treatment';
  country: string;
  impressions: number;
  signups: number;
  revenue: number[];
}

const COUNTRIES = ['US', 'DE', 'FR'];

function simulateUsers(count: number): User[] {
  const random = seededRandom(2026);
  return Array.from({ length: count }, (_, i) => {
    const variant = random() < 0.5 ? 'control' : 'treatment';
    const lift = variant === 'treatment' ? 0.12 : 0;
    return {
      id: `e2e-user-${i}`,
      variant,
      country: COUNTRIES[i % 3] as string,
      impressions: 1 + Math.floor(random() * 3),
      signups: random() < 0.2 + lift ? 1 + Math.floor(random() * 2) : 0,
      revenue:
        random() < 0.3
          ? Array.from({ length: 1 + Math.floor(random() * 3) }, () => Math.round(random() * 10_000) / 100)
          : [],
    };
  });
}

/** The expected numbers of one variant (and optionally one country), computed from the users directly. */
function expectedFor(users: readonly User[]) {
  const sumOf = (values: number[]) => values.reduce((a, b) => a + b, 0);
  const revenueTotals = users.filter((u) => u.revenue.length > 0).map((u) => Math.round(sumOf(u.revenue) * 100) / 100);
  return {
    users: users.length,
    impressions: sumOf(users.map((u) => u.impressions)),
    signup: { users: users.filter((u) => u.signups > 0).length, events: sumOf(users.map((u) => u.signups)) },
    revenue: {
      users: revenueTotals.length,
      events: sumOf(users.map((u) => u.revenue.length)),
      sum: sumOf(revenueTotals),
      sumSquares: sumOf(revenueTotals.map((t) => t * t)),
    },
  };
}

const closeTo = (actual: number | null | undefined, expected: number) => {
  expect(actual).not.toBeNull();
  expect(Math.abs((actual as number) - expected)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(expected)));
};

describe('query API end to end (collector → kinesalite → processors → dynalite → results)', () => {
  const users = simulateUsers(600);
  let collector: CollectorHarness;
  let processors: RunningProcessors;
  let api: TestApi;
  const experimentKey = `e2e-${Date.now().toString(36)}`;

  beforeAll(async () => {
    collector = await startCollectorHarness();
    await provisionPipeline(collector.config);
    processors = await startProcessors(collector.config, {
      logger: createSilentLogger(),
      consumerOptions: { pollIntervalMs: 50 },
    });
    api = await startTestApi({ DYNAMODB_TABLE_NAME: collector.config.dynamodb.countersTable });
    const created = await api.app.inject({
      method: 'POST',
      url: '/api/v1/experiments',
      payload: experimentBody(experimentKey, { status: 'running', segmentDimensions: ['country'] }),
    });
    expect(created.statusCode).toBe(201);

    const base = (user: User) => ({
      experimentId: experimentKey,
      variantId: user.variant,
      userId: user.id,
      segments: { country: user.country },
    });
    const impressions = users.flatMap((u) =>
      Array.from({ length: u.impressions }, () => ({ ...base(u), type: 'impression' })),
    );
    const conversions = users.flatMap((u) => [
      ...Array.from({ length: u.signups }, () => ({ ...base(u), type: 'conversion', metric: 'signup' })),
      ...u.revenue.map((value) => ({ ...base(u), type: 'conversion', metric: 'revenue', value })),
    ]);
    for (let i = 0; i < impressions.length; i += 500)
      expect((await collector.post(impressions.slice(i, i + 500))).status).toBe(202);
    // Producer retries: the same conversions sent twice with the same eventIds count once.
    const withIds = conversions.map((event, i) => ({
      ...event,
      eventId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    }));
    // At most 500 events per collector request (INGEST_MAX_EVENTS_PER_REQUEST).
    for (let i = 0; i < withIds.length; i += 500)
      expect((await collector.post(withIds.slice(i, i + 500))).status).toBe(202);
    expect((await collector.post(withIds.slice(0, 50))).status).toBe(202);

    const expectedEvents = impressions.length + conversions.length;
    await waitFor(
      async () => {
        const out = await processors.metrics.eventsOut.get();
        const counted = out.values.filter((v) => v.labels.outcome === 'counted').reduce((a, v) => a + v.value, 0);
        return counted >= expectedEvents;
      },
      90_000,
      'the processors to count every event',
    );
  }, 180_000);

  afterAll(async () => {
    await processors?.stop();
    await collector?.close();
    await api?.close();
  });

  it('serves per-variant counts exactly and statistics matching an independent computation', async () => {
    const response = await api.app.inject({
      method: 'GET',
      url: `/api/v1/experiments/${experimentKey}/results?sequential=false`,
    });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    const byVariant = Object.fromEntries(body.variants.map((v: any) => [v.variantId, v]));
    const control = expectedFor(users.filter((u) => u.variant === 'control'));
    const treatment = expectedFor(users.filter((u) => u.variant === 'treatment'));
    for (const [variant, expected] of [
      ['control', control],
      ['treatment', treatment],
    ] as const) {
      const got = byVariant[variant];
      expect(got.users).toBe(expected.users);
      expect(got.impressions).toBe(expected.impressions);
      expect(got.metrics.signup).toMatchObject({ users: expected.signup.users, events: expected.signup.events });
      expect(got.metrics.revenue).toMatchObject({ users: expected.revenue.users, events: expected.revenue.events });
      closeTo(got.metrics.revenue.sum, expected.revenue.sum);
      closeTo(got.metrics.revenue.sumSquares, expected.revenue.sumSquares);
      closeTo(got.metrics.revenue.mean, expected.revenue.sum / expected.users);
      closeTo(got.metrics.signup.mean, expected.signup.users / expected.users);
    }

    const revenue = welchReference(
      { n: control.users, sum: control.revenue.sum, sumSquares: control.revenue.sumSquares },
      { n: treatment.users, sum: treatment.revenue.sum, sumSquares: treatment.revenue.sumSquares },
      false,
    );
    const served = byVariant.treatment.metrics.revenue.vsControl;
    closeTo(served.absolute.estimate, revenue.absolute.estimate);
    closeTo(served.absolute.ciLow, revenue.absolute.ciLow);
    closeTo(served.relative.estimate, revenue.relative.estimate);
    closeTo(served.relative.ciHigh, revenue.relative.ciHigh);
    closeTo(served.pValue, revenue.pValue);

    const signup = welchReference(
      { n: control.users, sum: control.signup.users, sumSquares: control.signup.users },
      { n: treatment.users, sum: treatment.signup.users, sumSquares: treatment.signup.users },
      true,
    );
    closeTo(byVariant.treatment.metrics.signup.vsControl.relative.estimate, signup.relative.estimate);
    closeTo(byVariant.treatment.metrics.signup.vsControl.pValue, signup.pValue);
    closeTo(body.srm.pValue, srmReference([control.users, treatment.users], [0.5, 0.5]));
  });

  it('breaks results down by country: exact per-value counts that add up to the totals', async () => {
    const response = await api.app.inject({
      method: 'GET',
      url: `/api/v1/experiments/${experimentKey}/segments/country?sequential=false`,
    });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.cellsAddUp).toBe(true);
    expect(body.segments.map((s: any) => s.value).sort()).toEqual([...COUNTRIES].sort());
    for (const segment of body.segments) {
      for (const variant of segment.variants) {
        const expected = expectedFor(
          users.filter((u) => u.country === segment.value && u.variant === variant.variantId),
        );
        expect(variant.users).toBe(expected.users);
        expect(variant.impressions).toBe(expected.impressions);
        expect(variant.metrics.signup.users).toBe(expected.signup.users);
        expect(variant.metrics.revenue.events).toBe(expected.revenue.events);
        closeTo(variant.metrics.revenue.sum, expected.revenue.sum);
      }
    }
  });
});
