import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPOSURE_METRIC, OTHER_SEGMENT_VALUE } from '../../common/counter-layout.js';
import { randomName } from '../../local/test-support/test-config.js';
import { holmReference, srmReference, welchReference, type Sample } from '../test-support/independent-statistics.js';
import { experimentBody, startTestApi, type TestApi } from '../test-support/test-app.js';
import { aggregateUsers, seededRandom, writeCells, type SimulatedUser } from '../test-support/simulated-counters.js';

const LAST_EVENT_AT = Date.parse('2026-11-20T12:00:00.000Z');
const COUNTRIES = ['US', 'DE', 'FR', 'JP', 'BR', 'IN', 'GB'];
const DEVICES = ['mobile', 'desktop', 'tablet'];
const VARIANTS = ['control', 'treatment'];

/** A reproducible workload: 4000 users, a binomial and a mean metric, two dimensions. */
function simulateUsers(count: number, seed: number): SimulatedUser[] {
  const random = seededRandom(seed);
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
  return Array.from({ length: count }, () => {
    const variantId = pick(VARIANTS);
    const lift = variantId === 'treatment' ? 0.04 : 0;
    const revenue = random() < 0.3 + lift ? [Math.round(random() * 10_000) / 100, ...(random() < 0.2 ? [5] : [])] : [];
    return {
      variantId,
      impressions: 1 + Math.floor(random() * 3),
      segments: { country: pick(COUNTRIES), device: pick(DEVICES) },
      conversions: { signup: random() < 0.1 + lift ? [1] : [], revenue },
    };
  });
}

const relativeClose = (actual: number | null, expected: number, tolerance = 1e-6) => {
  expect(actual).not.toBeNull();
  expect(Math.abs(actual! - expected)).toBeLessThanOrEqual(tolerance * Math.max(1, Math.abs(expected)));
};

interface Truth {
  users: number;
  impressions: number;
  metrics: Record<string, { users: number; events: number; sum: number; sumSquares: number }>;
}

/** Ground truth per variant, straight from the simulated users (no cells involved). */
function truthOf(users: readonly SimulatedUser[], variantId: string): Truth {
  const mine = users.filter((user) => user.variantId === variantId);
  const metric = (key: string, binomial: boolean) => {
    const converted = mine.filter((user) => (user.conversions[key]?.length ?? 0) > 0);
    const totals = converted.map((user) => (binomial ? 1 : user.conversions[key]!.reduce((a, b) => a + b, 0)));
    return {
      users: converted.length,
      events: converted.reduce((sum, user) => sum + user.conversions[key]!.length, 0),
      sum: totals.reduce((a, b) => a + b, 0),
      sumSquares: totals.reduce((a, b) => a + b * b, 0),
    };
  };
  return {
    users: mine.length,
    impressions: mine.reduce((sum, user) => sum + user.impressions, 0),
    metrics: { signup: metric('signup', true), revenue: metric('revenue', false) },
  };
}

let api: TestApi;
let experimentId: string;
let users: SimulatedUser[];
beforeAll(async () => {
  api = await startTestApi();
  experimentId = randomName('results');
  await api.app.inject({ method: 'POST', url: '/api/v1/experiments', payload: experimentBody(experimentId) });
  users = simulateUsers(4000, 7);
  await writeCells(api.dynamo, api.config.dynamodb.countersTable, experimentId, aggregateUsers(users, LAST_EVENT_AT));
});
afterAll(async () => {
  await api.close();
});

const getJson = async (url: string) => {
  const response = await api.app.inject({ url });
  expect(response.statusCode, response.body).toBe(200);
  return response.json();
};

describe('GET /api/v1/experiments/{id}/results (real dynalite and PostgreSQL)', () => {
  it('serves exact counts and means per variant', async () => {
    const body = await getJson(`/api/v1/experiments/${experimentId}/results`);
    expect(body).toMatchObject({
      experimentId,
      controlVariantId: 'control',
      lastEventAt: new Date(LAST_EVENT_AT).toISOString(),
      alpha: 0.05,
      sequential: true,
    });
    expect(Date.parse(body.computedAt)).toBeGreaterThan(0);
    for (const [index, variantId] of VARIANTS.entries()) {
      const truth = truthOf(users, variantId);
      const served = body.variants[index];
      expect(served).toMatchObject({ variantId, users: truth.users, impressions: truth.impressions });
      for (const [key, expected] of Object.entries(truth.metrics)) {
        const metric = served.metrics[key];
        expect(metric).toMatchObject({ users: expected.users, events: expected.events });
        relativeClose(metric.sum, expected.sum, 1e-12);
        relativeClose(metric.sumSquares, expected.sumSquares, 1e-12);
        relativeClose(metric.mean, expected.sum / truth.users, 1e-12);
      }
    }
    expect(body.variants[0].metrics.signup.vsControl).toBeNull();
  });

  it('matches an independent Welch / delta-method / Bayesian computation (fixed horizon) to 1e-6', async () => {
    const body = await getJson(`/api/v1/experiments/${experimentId}/results?sequential=false&alpha=0.1`);
    expect(body).toMatchObject({ sequential: false, alpha: 0.1 });
    const control = truthOf(users, 'control');
    const treatment = truthOf(users, 'treatment');
    for (const [key, binomial] of [
      ['signup', true],
      ['revenue', false],
    ] as const) {
      const sampleOf = (truth: Truth): Sample => ({ n: truth.users, ...truth.metrics[key]! });
      const expected = welchReference(sampleOf(control), sampleOf(treatment), binomial, 0.1);
      const served = body.variants[1].metrics[key].vsControl;
      for (const part of ['absolute', 'relative'] as const) {
        for (const bound of ['estimate', 'ciLow', 'ciHigh'] as const)
          relativeClose(served[part][bound], expected[part][bound]);
      }
      relativeClose(served.pValue, expected.pValue);
      relativeClose(served.chanceToWin, expected.chanceToWin);
    }
  });

  it('uses wider always-valid intervals by default (sequential)', async () => {
    const fixed = await getJson(`/api/v1/experiments/${experimentId}/results?sequential=false`);
    const sequential = await getJson(`/api/v1/experiments/${experimentId}/results`);
    const width = (body: {
      variants: { metrics: { revenue: { vsControl: { relative: { ciLow: number; ciHigh: number } } } } }[];
    }) =>
      body.variants[1]!.metrics.revenue.vsControl.relative.ciHigh -
      body.variants[1]!.metrics.revenue.vsControl.relative.ciLow;
    expect(width(sequential)).toBeGreaterThan(width(fixed));
    expect(sequential.variants[1].metrics.revenue.vsControl.relative.estimate).toBeCloseTo(
      fixed.variants[1].metrics.revenue.vsControl.relative.estimate,
      12,
    );
  });

  it('checks the sample ratio against the configured weights', async () => {
    const body = await getJson(`/api/v1/experiments/${experimentId}/results`);
    const observed = VARIANTS.map((variantId) => truthOf(users, variantId).users);
    relativeClose(body.srm.pValue, srmReference(observed, [0.5, 0.5]));
    expect(body.srm.mismatch).toBe(false);
  });

  it('reproduces the published gbstats Welch case from raw counters', async () => {
    const id = randomName('gbstats');
    await api.app.inject({
      method: 'POST',
      url: '/api/v1/experiments',
      payload: experimentBody(id, { metrics: [{ key: 'value', type: 'mean' }], segmentDimensions: [] }),
    });
    const cell = (variantId: string, metricKey: string, units: number, sum: number, sumSquares: number) => ({
      variantId,
      metricKey,
      events: units,
      units,
      sum,
      sumSquares,
    });
    await writeCells(api.dynamo, api.config.dynamodb.countersTable, id, [
      cell('control', EXPOSURE_METRIC, 3407, 3407, 3407),
      cell('treatment', EXPOSURE_METRIC, 3461, 3461, 3461),
      cell('control', 'value', 3407, 1396.87, 52377.9767),
      cell('treatment', 'value', 3461, 2422.7, 134698.29),
    ]);
    const body = await getJson(`/api/v1/experiments/${id}/results?sequential=false`);
    const relative = body.variants[1].metrics.value.vsControl;
    expect(relative.relative.estimate).toBeCloseTo(0.70732, 5);
    expect(relative.relative.ciLow).toBeCloseTo(-0.03526, 5);
    expect(relative.relative.ciHigh).toBeCloseTo(1.44989, 5);
    expect(relative.pValue).toBeCloseTo(0.06191, 5);
  });

  it('answers 404 for an unknown experiment and 400 for bad parameters', async () => {
    const missing = await api.app.inject({ url: '/api/v1/experiments/never-created/results' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.message).toBe('experiment "never-created" does not exist');
    for (const query of ['alpha=2', 'alpha=0', 'sequential=maybe', 'colour=red']) {
      const response = await api.app.inject({ url: `/api/v1/experiments/${experimentId}/results?${query}` });
      expect(response.statusCode, query).toBe(400);
      expect(response.json().error.code).toBe('VALIDATION_FAILED');
    }
  });
});

describe('GET /api/v1/experiments/{id}/segments/{dimension}', () => {
  it('serves each value with exact counts, cells adding up to the totals, and Holm-adjusted p-values', async () => {
    const body = await getJson(`/api/v1/experiments/${experimentId}/segments/country?limit=100&correction=holm`);
    expect(body).toMatchObject({
      dimension: 'country',
      by: null,
      segmentDimension: 'country',
      correction: 'holm',
      cellsAddUp: true,
    });
    expect(body.segments.map((s: { value: string }) => s.value).sort()).toEqual([...COUNTRIES].sort());
    for (const segment of body.segments) {
      const inSegment = users.filter((user) => user.segments.country === segment.value);
      expect(segment.values).toEqual({ country: segment.value });
      expect(segment.users).toBe(inSegment.length);
      for (const [index, variantId] of VARIANTS.entries()) {
        const truth = truthOf(inSegment, variantId);
        expect(segment.variants[index]).toMatchObject({ users: truth.users, impressions: truth.impressions });
        expect(segment.variants[index].metrics.signup.users).toBe(truth.metrics.signup!.users);
        relativeClose(segment.variants[index].metrics.revenue.sum, truth.metrics.revenue!.sum, 1e-12);
      }
    }
    const comparisons = body.segments.flatMap(
      (segment: {
        variants: {
          metrics: Record<string, { vsControl: { pValue: number | null; adjustedPValue: number | null } | null }>;
        }[];
      }) =>
        segment.variants.flatMap((variant) =>
          Object.values(variant.metrics).flatMap((m) => (m.vsControl ? [m.vsControl] : [])),
        ),
    );
    expect(comparisons).toHaveLength(COUNTRIES.length * 2);
    const expected = holmReference(comparisons.map((c: { pValue: number | null }) => c.pValue));
    comparisons.forEach((comparison: { adjustedPValue: number | null }, i: number) =>
      relativeClose(comparison.adjustedPValue, expected[i]!, 1e-12),
    );
  });

  it('keeps the top values by exposed users and sums the rest into (other)', async () => {
    const body = await getJson(`/api/v1/experiments/${experimentId}/segments/country?limit=3`);
    const byUsers = COUNTRIES.map((country) => ({
      country,
      users: users.filter((user) => user.segments.country === country).length,
    })).sort((a, b) => b.users - a.users || (a.country < b.country ? -1 : 1));
    expect(body.segments.map((s: { value: string }) => s.value)).toEqual([
      ...byUsers.slice(0, 3).map((entry) => entry.country),
      OTHER_SEGMENT_VALUE,
    ]);
    const other = body.segments[3];
    const rest = new Set(byUsers.slice(3).map((entry) => entry.country));
    const inOther = users.filter((user) => rest.has(user.segments.country!));
    expect(other.users).toBe(inOther.length);
    expect(other.variants[1].impressions).toBe(truthOf(inOther, 'treatment').impressions);
    const total = body.segments.reduce((sum: number, s: { users: number }) => sum + s.users, 0);
    expect(total).toBe(users.length);
  });

  it('breaks down by a pair of dimensions with ?by=', async () => {
    const body = await getJson(
      `/api/v1/experiments/${experimentId}/segments/device?by=country&limit=100&correction=bh`,
    );
    expect(body).toMatchObject({
      dimension: 'device',
      by: 'country',
      segmentDimension: 'country+device',
      cellsAddUp: true,
    });
    expect(body.segments).toHaveLength(COUNTRIES.length * DEVICES.length);
    for (const segment of body.segments) {
      const { country, device } = segment.values;
      expect(segment.value).toBe(`${country}+${device}`);
      const inSegment = users.filter((user) => user.segments.country === country && user.segments.device === device);
      expect(segment.users).toBe(inSegment.length);
      expect(segment.variants[0].metrics.revenue.events).toBe(truthOf(inSegment, 'control').metrics.revenue!.events);
    }
  });

  it('rejects undeclared dimensions, a repeated dimension and bad corrections', async () => {
    const undeclared = await api.app.inject({ url: `/api/v1/experiments/${experimentId}/segments/browser` });
    expect(undeclared.statusCode).toBe(400);
    expect(undeclared.json().error.message).toMatch(/"browser" is not a segment dimension.*declared: country, device/);
    const same = await api.app.inject({ url: `/api/v1/experiments/${experimentId}/segments/country?by=country` });
    expect(same.statusCode).toBe(400);
    const badCorrection = await api.app.inject({
      url: `/api/v1/experiments/${experimentId}/segments/country?correction=bonferroni`,
    });
    expect(badCorrection.statusCode).toBe(400);
    expect((await api.app.inject({ url: '/api/v1/experiments/nope/segments/country' })).statusCode).toBe(404);
  });
});

describe('results cache (in-process)', () => {
  it('serves the second request from the cache and recomputes after a definition change', async () => {
    const id = randomName('cached');
    await api.app.inject({ method: 'POST', url: '/api/v1/experiments', payload: experimentBody(id) });
    const url = `/api/v1/experiments/${id}/results`;
    const first = await api.app.inject({ url });
    expect(first.headers['x-cache']).toBe('miss');
    const second = await api.app.inject({ url });
    expect(second.headers['x-cache']).toBe('hit');
    expect(second.body).toBe(first.body);
    await api.app.inject({ method: 'PATCH', url: `/api/v1/experiments/${id}`, payload: { name: 'renamed' } });
    expect((await api.app.inject({ url })).headers['x-cache']).toBe('miss');
  });
});
