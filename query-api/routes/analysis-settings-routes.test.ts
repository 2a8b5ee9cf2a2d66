/**
 * Per-experiment statistics settings through the HTTP API: saved on the definition
 * (`analysis`), refused with a 400 naming the field and the rule, applied to the results
 * and echoed in them; the main results' correction across goal metrics × treatments with
 * guardrails left out. Real PostgreSQL and dynalite (startTestApi).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomName } from '../../local/test-support/test-config.js';
import { holmReference, welchReference } from '../test-support/independent-statistics.js';
import { experimentBody, startTestApi, type TestApi } from '../test-support/test-app.js';
import { aggregateUsers, seededRandom, writeCells, type SimulatedUser } from '../test-support/simulated-counters.js';

const LAST_EVENT_AT = Date.parse('2026-11-20T12:00:00.000Z');
const METRICS = [
  { key: 'signup', type: 'binomial' },
  { key: 'revenue', type: 'mean' },
  { key: 'refund', type: 'binomial', lowerIsBetter: true, guardrail: true },
];

/** 3000 users; the treatment lifts signups by 3 points. */
function simulateUsers(count: number, seed: number): SimulatedUser[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => {
    const treated = random() < 0.5;
    return {
      variantId: treated ? 'treatment' : 'control',
      impressions: 1,
      segments: {},
      conversions: {
        signup: random() < 0.1 + (treated ? 0.03 : 0) ? [1] : [],
        revenue: random() < 0.3 ? [Math.round(random() * 10_000) / 100] : [],
        refund: random() < 0.05 ? [1] : [],
      },
    };
  });
}

let api: TestApi;
let users: SimulatedUser[];
beforeAll(async () => {
  api = await startTestApi();
  users = simulateUsers(3000, 16);
});
afterAll(async () => {
  await api.close();
});

const post = (payload: Record<string, unknown>) =>
  api.app.inject({ method: 'POST', url: '/api/v1/experiments', payload });
const patch = (key: string, payload: Record<string, unknown>) =>
  api.app.inject({ method: 'PATCH', url: `/api/v1/experiments/${key}`, payload });

async function seededExperiment(analysis: Record<string, unknown>): Promise<string> {
  const key = randomName('analysis');
  const created = await post(experimentBody(key, { metrics: METRICS, segmentDimensions: [], analysis }));
  expect(created.statusCode, created.body).toBe(201);
  await writeCells(api.dynamo, api.config.dynamodb.countersTable, key, aggregateUsers(users, LAST_EVENT_AT));
  return key;
}

const results = async (key: string, query = '') => {
  const response = await api.app.inject({ url: `/api/v1/experiments/${key}/results${query}` });
  expect(response.statusCode, response.body).toBe(200);
  return response.json();
};

/** Per-variant (n, Σx, Σx²) of a metric straight from the simulated users. */
function sampleOf(variantId: string, metric: string) {
  const mine = users.filter((user) => user.variantId === variantId);
  const totals = mine.map((user) => (user.conversions[metric] ?? []).reduce((a, b) => a + b, 0));
  const values = metric === 'revenue' ? totals : totals.map((total) => (total > 0 ? 1 : 0));
  return {
    n: mine.length,
    sum: values.reduce((a, b) => a + b, 0),
    sumSquares: values.reduce((a, b) => a + b * b, 0),
  };
}

describe('analysis settings on the definition', () => {
  it.each([
    ['alpha of 0.5', { alpha: 0.5 }, 'analysis.alpha', 'exclusiveMaximum'],
    ['alpha of 0', { alpha: 0 }, 'analysis.alpha', 'exclusiveMinimum'],
    ['an unknown alternative', { alternative: 'bigger' }, 'analysis.alternative', 'enum'],
    ['a zero prior variance', { prior: { proper: true, variance: 0 } }, 'analysis.prior.variance', 'exclusiveMinimum'],
    ['a prior without `proper`', { prior: { mean: 0.1 } }, 'analysis.prior', 'required'],
    ['a fractional expected sample size', { expectedSampleSize: 100.5 }, 'analysis.expectedSampleSize', 'type'],
    ['a tuning below 1', { sequentialTuning: 0.5 }, 'analysis.sequentialTuning', 'minimum'],
    ['an unknown correction', { correction: 'bonferroni' }, 'analysis.correction', 'enum'],
    ['an unknown setting', { power: 0.8 }, 'analysis', 'additionalProperties'],
  ])(
    'refuses %s on create and on PATCH with a 400 naming the field and the rule',
    async (_what, analysis, field, rule) => {
      const key = randomName('bad-analysis');
      for (const response of [
        await post(experimentBody(key, { analysis })),
        await (async () => {
          expect((await post(experimentBody(key))).statusCode).toBe(201);
          return patch(key, { analysis });
        })(),
      ]) {
        expect(response.statusCode, response.body).toBe(400);
        const { error } = response.json();
        expect(error.code).toBe('VALIDATION_FAILED');
        expect(error.details).toContainEqual(expect.objectContaining({ field, rule }));
      }
    },
  );

  it('stores the settings, applies them, and echoes every setting used with its defaults', async () => {
    const analysis = { sequential: false, expectedSampleSize: 8000, prior: { proper: true, variance: 0.04 } };
    const key = await seededExperiment(analysis);
    expect((await api.app.inject({ url: `/api/v1/experiments/${key}` })).json().analysis).toEqual(analysis);

    const body = await results(key);
    expect(body.analysis).toEqual({
      alpha: 0.05,
      sequential: false,
      sequentialTuning: 8000,
      sequentialTuningSource: 'expectedSampleSize',
      alternative: 'two-sided',
      prior: { proper: true, mean: 0, variance: 0.04 },
      correction: 'none',
    });
    expect(body).toMatchObject({ alpha: 0.05, sequential: false });
    expect(body.metrics.map((metric: { guardrail: boolean }) => metric.guardrail)).toEqual([false, false, true]);
    // Fixed horizon as configured: the served interval is the independent Welch interval.
    const signup = body.variants[1].metrics.signup.vsControl;
    const reference = welchReference(sampleOf('control', 'signup'), sampleOf('treatment', 'signup'), true);
    expect(signup.relative.ciLow).toBeCloseTo(reference.relative.ciLow, 6);
    expect(signup.pValue).toBeCloseTo(reference.pValue, 6);
    expect(signup.adjustedPValue).toBeUndefined();

    // A query alpha overrides the definition's; a PATCH replaces the whole `analysis`.
    expect((await results(key, '?alpha=0.1')).analysis.alpha).toBe(0.1);
    expect((await patch(key, { analysis: { alternative: 'greater' } })).statusCode).toBe(200);
    const oneSided = await results(key);
    expect(oneSided.analysis).toMatchObject({
      sequential: true,
      sequentialTuning: 5000,
      sequentialTuningSource: 'default',
      alternative: 'greater',
      prior: { proper: false },
    });
    expect(oneSided.variants[1].metrics.signup.vsControl.relative.ciHigh).toBeNull();
    expect(oneSided.variants[1].metrics.signup.vsControl.relative.ciLow).toEqual(expect.any(Number));
  });

  it('answers 400 naming alpha for a query alpha of 0.5 on a one-sided sequential experiment', async () => {
    const key = await seededExperiment({ alternative: 'less' });
    const response = await api.app.inject({ url: `/api/v1/experiments/${key}/results?alpha=0.5` });
    expect(response.statusCode, response.body).toBe(400);
    expect(response.json().error.details).toEqual([
      expect.objectContaining({ field: 'alpha', rule: 'oneSidedSequentialAlpha' }),
    ]);
    const breakdown = await api.app.inject({ url: `/api/v1/experiments/${key}/segments/country?alpha=0.5` });
    expect(breakdown.statusCode).toBe(400);
  });
});

describe('correction across goal metrics × treatment variants (main results)', () => {
  it('Holm over the goal metrics only, with Bonferroni intervals; the guardrail is reported uncorrected', async () => {
    const key = await seededExperiment({ sequential: false, correction: 'holm' });
    const body = await results(key);
    expect(body.multipleComparisons).toEqual({
      method: 'holm',
      comparisons: 2,
      intervals: 'bonferroni',
      goalMetrics: ['signup', 'revenue'],
      guardrailMetrics: ['refund'],
    });
    const treatment = body.variants[1].metrics;
    const expected = holmReference([treatment.signup.vsControl.pValue, treatment.revenue.vsControl.pValue]);
    expect(treatment.signup.vsControl.adjustedPValue).toBeCloseTo(expected[0]!, 12);
    expect(treatment.revenue.vsControl.adjustedPValue).toBeCloseTo(expected[1]!, 12);
    expect(treatment.refund.vsControl.adjustedPValue).toBeUndefined();
    expect(treatment.refund.vsControl.adjustedIntervals).toBeUndefined();
    expect(treatment.refund.vsControl.pValue).toEqual(expect.any(Number));

    const intervals = treatment.signup.vsControl.adjustedIntervals;
    expect(intervals.alpha).toBe(0.025);
    const reference = welchReference(sampleOf('control', 'signup'), sampleOf('treatment', 'signup'), true, 0.025);
    expect(intervals.relative.ciLow).toBeCloseTo(reference.relative.ciLow, 6);
    expect(intervals.relative.ciHigh).toBeCloseTo(reference.relative.ciHigh, 6);
    expect(intervals.absolute.ciLow).toBeCloseTo(reference.absolute.ciLow, 6);
    expect(body.variants[0].metrics.signup.vsControl).toBeNull();
  });
});
