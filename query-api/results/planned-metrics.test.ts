/**
 * Ratio, capped and CUPED metrics served from the counter cells the processors keep for an
 * experiment's counter plan: cells aggregated from a raw per-user dataset and written to
 * real dynalite through the processors' writer; every served number equals the estimators'
 * direct answer on the raw per-user values (and the capped mean an independent Welch).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPOSURE_METRIC, encodeCellKey, ratioCellMetricKey } from '../../common/counter-layout.js';
import { counterPlanOf } from '../../common/counter-plan.js';
import type { ExperimentDefinition } from '../../common/experiment-definition.js';
import { randomName } from '../../local/test-support/test-config.js';
import {
  compareCuped,
  compareRatio,
  compareToControl,
  type CompareOptions,
  type CupedStats,
  type RatioStats,
  type SampleStats,
  type VariantComparison,
} from '../stats/index.js';
import { experimentBody, startTestApi, type TestApi } from '../test-support/test-app.js';
import { seededRandom } from '../test-support/simulated-counters.js';
import { recordDynamoReads } from '../test-support/dynamo-read-recorder.js';
import {
  aggregatePlannedCells,
  plannedCellsAsCounterCells,
  writePlannedCells,
  type RawUser,
} from '../test-support/metric-cells.js';
import { assembleVariants } from './assemble-results.js';
import { buildCellTable } from './cell-table.js';
import { NEVER_CACHE } from '../test-support/never-cache.js';
import { holmReference, welchReference } from '../test-support/independent-statistics.js';

const CAP = 60;
const METRICS = [
  { key: 'signup', type: 'binomial', cuped: true },
  { key: 'revenue', type: 'mean', cap: CAP, cuped: true },
  { key: 'orders', type: 'mean' },
  { key: 'aov', type: 'ratio', numerator: 'revenue', denominator: 'orders' },
  { key: 'clicks', type: 'mean', cuped: true, lowerIsBetter: true },
];
const COUNTRIES = ['US', 'DE', 'FR'];
const DEVICES = ['mobile', 'desktop'];

/** Users whose revenue has a heavy tail (some totals above the cap) and covariates that predict it. */
function simulateUsers(count: number, seed: number): RawUser[] {
  const random = seededRandom(seed);
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
  return Array.from({ length: count }, () => {
    const variantId = random() < 0.5 ? 'control' : 'treatment';
    const lift = variantId === 'treatment' ? 1.1 : 1;
    const habit = random() * 4; // pre-exposure behaviour that drives the post-exposure metrics
    const orders = random() < 0.35 ? 1 + Math.floor(random() * habit) : 0;
    const revenue = Array.from({ length: orders }, () => Math.round((5 + habit * 8 * lift * random()) * 100) / 100);
    if (orders > 0 && random() < 0.05) revenue.push(Math.round(200 * random() * 100) / 100); // whales
    const clicks = Math.floor(habit * 3 * random() * (2 - lift));
    const signedUp = random() < (habit > 2 ? 0.4 : 0.05) * lift;
    return {
      variantId,
      impressions: 1 + Math.floor(random() * 3),
      segments: { country: pick(COUNTRIES), device: pick(DEVICES) },
      covariates: {
        revenue: Math.round((habit * 20 + 5 * random()) * 100) / 100,
        clicks: Math.round(habit * 3),
        ...(random() < 0.9 ? { signup: habit > 2 ? 1 : 0 } : {}),
      },
      conversions: {
        revenue,
        orders: orders > 0 ? Array.from({ length: orders }, () => 1) : [],
        clicks: clicks > 0 ? [clicks] : [],
        signup: signedUp ? [1] : [],
      },
    };
  });
}

// ---- the direct computation from raw per-user values ----------------------------------

const total = (user: RawUser, metric: string) => (user.conversions[metric] ?? []).reduce((a, b) => a + b, 0);
const sums = (values: readonly number[]): SampleStats => ({
  n: values.length,
  sum: values.reduce((a, b) => a + b, 0),
  sumSquares: values.reduce((a, b) => a + b * b, 0),
});
/** Per-user values y of a (binomial/mean/capped) metric over the exposed users. */
const valuesOf = (users: readonly RawUser[], metric: (typeof METRICS)[number]) =>
  users.map((user) => {
    const t = total(user, metric.key);
    if (metric.type === 'binomial') return (user.conversions[metric.key]?.length ?? 0) > 0 ? 1 : 0;
    return metric.cap === undefined ? t : Math.min(t, metric.cap);
  });
const cupedStatsOf = (users: readonly RawUser[], metric: (typeof METRICS)[number]): CupedStats => {
  const y = valuesOf(users, metric);
  const x = users.map((user) => user.covariates[metric.key] ?? 0);
  const ys = sums(y);
  const xs = sums(x);
  return {
    ...ys,
    covariateSum: xs.sum,
    covariateSumSquares: xs.sumSquares,
    sumProducts: y.reduce((s, yi, i) => s + yi * x[i]!, 0),
  };
};
const ratioStatsOf = (users: readonly RawUser[]): RatioStats => {
  const n = sums(users.map((user) => total(user, 'revenue')));
  const d = sums(users.map((user) => total(user, 'orders')));
  return {
    n: users.length,
    numerator: { sum: n.sum, sumSquares: n.sumSquares },
    denominator: { sum: d.sum, sumSquares: d.sumSquares },
    sumProducts: users.reduce((s, user) => s + total(user, 'revenue') * total(user, 'orders'), 0),
  };
};

const OPTIONS = { alpha: 0.05, sequential: false, alternative: 'two-sided' } as const;
const optionsOf = (metric: (typeof METRICS)[number]): Omit<CompareOptions, 'kind'> => ({
  ...OPTIONS,
  lowerIsBetter: metric.lowerIsBetter === true,
});
const served = (comparison: VariantComparison) => ({
  absolute: comparison.absolute,
  relative: comparison.relative,
  pValue: comparison.pValue,
  chanceToWin: comparison.chanceToWin,
  riskOfLoss: comparison.riskOfLoss,
  warnings: comparison.warnings,
});

/** The comparison (and CUPED comparison) of one metric computed directly from raw users. */
function directComparison(users: readonly RawUser[], metric: (typeof METRICS)[number]) {
  const control = users.filter((user) => user.variantId === 'control');
  const treatment = users.filter((user) => user.variantId === 'treatment');
  if (metric.type === 'ratio') {
    return { main: served(compareRatio(ratioStatsOf(control), ratioStatsOf(treatment), optionsOf(metric))) };
  }
  const kind = metric.type === 'binomial' ? 'binomial' : 'mean';
  const main = served(
    compareToControl(sums(valuesOf(control, metric)), sums(valuesOf(treatment, metric)), {
      ...optionsOf(metric),
      kind,
    }),
  );
  if (metric.cuped !== true) return { main };
  const cuped = compareCuped(cupedStatsOf(control, metric), cupedStatsOf(treatment, metric), optionsOf(metric));
  return {
    main,
    cuped: { ...served(cuped.adjusted), theta: cuped.theta, varianceReduction: cuped.varianceReduction },
  };
}

/** Deep equality where numbers agree to `relative` (sums are added in another order). */
function expectClose(actual: unknown, expected: unknown, path = '$', relative = 1e-9): void {
  if (typeof expected === 'number') {
    expect(typeof actual, path).toBe('number');
    const tolerance = relative * Math.max(1, Math.abs(expected));
    expect(Math.abs((actual as number) - expected), `${path}: ${String(actual)} vs ${expected}`).toBeLessThan(
      tolerance,
    );
    return;
  }
  if (expected === null || typeof expected !== 'object') {
    expect(actual, path).toEqual(expected);
    return;
  }
  if (Array.isArray(expected)) {
    expect(Array.isArray(actual), path).toBe(true);
    expect((actual as unknown[]).length, path).toBe(expected.length);
    expected.forEach((item, i) => expectClose((actual as unknown[])[i], item, `${path}[${i}]`, relative));
    return;
  }
  for (const [key, value] of Object.entries(expected)) {
    expectClose((actual as Record<string, unknown>)[key], value, `${path}.${key}`, relative);
  }
}

// ---- the served results -----------------------------------------------------------------

let api: TestApi;
let experimentId: string;
let users: RawUser[];

beforeAll(async () => {
  api = await startTestApi({}, { cache: NEVER_CACHE });
  experimentId = randomName('planned');
  const created = await api.app.inject({
    method: 'POST',
    url: '/api/v1/experiments',
    payload: experimentBody(experimentId, { metrics: METRICS, analysis: { correction: 'holm' } }),
  });
  expect(created.statusCode, created.body).toBe(201);
  const definition: ExperimentDefinition = (
    await api.app.inject({ url: `/api/v1/experiments/${experimentId}` })
  ).json();
  users = simulateUsers(4000, 16);
  const cells = aggregatePlannedCells(users, counterPlanOf(definition));
  await writePlannedCells(api.dynamo, api.config.dynamodb.countersTable, experimentId, cells);
});
afterAll(async () => {
  await api?.close();
});

const getJson = async (url: string) => {
  const response = await api.app.inject({ url });
  expect(response.statusCode, response.body).toBe(200);
  return response.json();
};

interface ServedVariant {
  variantId: string;
  users: number;
  metrics: Record<string, Record<string, unknown> & { vsControl: Record<string, unknown> | null }>;
}

/** Checks one set of served variants against the direct computation on `subset`. */
function expectServedEqualsDirect(variants: ServedVariant[], subset: readonly RawUser[]): void {
  const treatment = variants.find((variant) => variant.variantId === 'treatment')!;
  const control = variants.find((variant) => variant.variantId === 'control')!;
  expect(control.users).toBe(subset.filter((user) => user.variantId === 'control').length);
  for (const metric of METRICS) {
    const direct = directComparison(subset, metric);
    const { adjustedPValue: _p, adjustedIntervals: _i, cuped, ...main } = treatment.metrics[metric.key]!.vsControl!;
    expectClose(main, direct.main, `${metric.key}.vsControl`);
    if (direct.cuped) expectClose(cuped, direct.cuped, `${metric.key}.vsControl.cuped`);
    else expect(cuped, metric.key).toBeUndefined();
  }
}

describe('ratio, capped and CUPED metrics (cells on real dynalite)', () => {
  it('serves every comparison as the estimators compute it from the raw per-user values', async () => {
    const body = await getJson(`/api/v1/experiments/${experimentId}/results?sequential=false`);
    expectServedEqualsDirect(body.variants, users);
    for (const key of ['signup', 'revenue', 'clicks']) {
      const cuped = body.variants[1].metrics[key].vsControl.cuped;
      expect(cuped.warnings, key).toEqual([]);
      expect(cuped.theta, key).not.toBeNull();
      expect(cuped.varianceReduction, key).toBeGreaterThan(0.05); // the covariates predict the metrics
    }
    expect(body.variants[1].metrics.aov.vsControl.warnings).toEqual([]);

    // The capped mean is also an independent Welch on min(T, cap) per user (jStat's t quantile: 1e-6).
    const revenue = METRICS[1]!;
    const [control, treatment] = ['control', 'treatment'].map((id) =>
      sums(
        valuesOf(
          users.filter((user) => user.variantId === id),
          revenue,
        ),
      ),
    );
    const independent = welchReference(control!, treatment!, false);
    expectClose(body.variants[1].metrics.revenue.vsControl.relative, independent.relative, 'relative', 1e-6);
    expectClose(body.variants[1].metrics.revenue.vsControl.pValue, independent.pValue, 'pValue', 1e-6);
  });

  it('marks capped metrics with their cap and keeps the uncapped sums beside the capped ones', async () => {
    const body = await getJson(`/api/v1/experiments/${experimentId}/results`);
    const treatmentUsers = users.filter((user) => user.variantId === 'treatment');
    const uncapped = sums(treatmentUsers.map((user) => total(user, 'revenue')));
    const capped = sums(valuesOf(treatmentUsers, METRICS[1]!));
    expect(capped.sum).toBeLessThan(uncapped.sum); // the dataset has totals above the cap
    const revenue = body.variants[1].metrics.revenue;
    expectClose(revenue, {
      sum: capped.sum,
      sumSquares: capped.sumSquares,
      mean: capped.sum / treatmentUsers.length,
      capped: {
        cap: CAP,
        uncappedSum: uncapped.sum,
        uncappedSumSquares: uncapped.sumSquares,
        uncappedMean: uncapped.sum / treatmentUsers.length,
      },
      covariate: { sum: cupedStatsOf(treatmentUsers, METRICS[1]!).covariateSum },
    });
    expect(body.variants[1].metrics.orders.capped).toBeUndefined();
    expect(body.metrics).toEqual([
      { key: 'signup', type: 'binomial', lowerIsBetter: false, guardrail: false, cuped: true },
      { key: 'revenue', type: 'mean', lowerIsBetter: false, guardrail: false, cap: CAP, cuped: true },
      { key: 'orders', type: 'mean', lowerIsBetter: false, guardrail: false },
      {
        key: 'aov',
        type: 'ratio',
        lowerIsBetter: false,
        guardrail: false,
        numerator: 'revenue',
        denominator: 'orders',
      },
      { key: 'clicks', type: 'mean', lowerIsBetter: true, guardrail: false, cuped: true },
    ]);
  });

  it('serves a ratio metric with ΣN/ΣD as its mean and the delta-method sufficient statistics', async () => {
    const body = await getJson(`/api/v1/experiments/${experimentId}/results`);
    const stats = ratioStatsOf(users.filter((user) => user.variantId === 'control'));
    expectClose(body.variants[0].metrics.aov, {
      mean: stats.numerator.sum / stats.denominator.sum,
      ratio: {
        numerator: 'revenue',
        denominator: 'orders',
        numeratorSum: stats.numerator.sum,
        numeratorSumSquares: stats.numerator.sumSquares,
        denominatorSum: stats.denominator.sum,
        denominatorSumSquares: stats.denominator.sumSquares,
        sumProducts: stats.sumProducts,
      },
      vsControl: null,
    });
  });

  it('corrects ratio metrics with the other goal metrics (Holm across goal metrics × treatments)', async () => {
    const body = await getJson(`/api/v1/experiments/${experimentId}/results?sequential=false`);
    expect(body.multipleComparisons).toMatchObject({ method: 'holm', comparisons: METRICS.length });
    const comparisons = METRICS.map((metric) => body.variants[1].metrics[metric.key].vsControl);
    const expected = holmReference(comparisons.map((comparison) => comparison.pValue));
    comparisons.forEach((comparison, i) => expectClose(comparison.adjustedPValue, expected[i]));
  });

  it('reads only the needed cells: $exposure, each metric, and a ratio’s numerator, denominator and ratio cell', async () => {
    const recorder = recordDynamoReads(api.dynamo);
    try {
      await getJson(`/api/v1/experiments/${experimentId}/results`);
      expect(recorder.reads.map((read) => read.command)).toEqual(['BatchGetItemCommand']);
      const keys = ['control', 'treatment'].flatMap((variantId) =>
        [EXPOSURE_METRIC, 'signup', 'revenue', 'orders', ratioCellMetricKey('revenue', 'orders'), 'clicks'].map(
          (metricKey) => encodeCellKey({ variantId, metricKey }),
        ),
      );
      expect(recorder.sortKeys().sort()).toEqual(keys.sort());
    } finally {
      recorder.remove();
    }
  });

  it('serves the same per segment value, and per pair of values (?by=), from the segment cells', async () => {
    const body = await getJson(`/api/v1/experiments/${experimentId}/segments/country?sequential=false&correction=none`);
    expect(body.cellsAddUp, JSON.stringify(body.discrepancies)).toBe(true);
    expect(body.segments.map((segment: { value: string }) => segment.value).sort()).toEqual([...COUNTRIES].sort());
    for (const segment of body.segments) {
      expectServedEqualsDirect(
        segment.variants,
        users.filter((user) => user.segments.country === segment.value),
      );
    }
    const pairs = await getJson(
      `/api/v1/experiments/${experimentId}/segments/country?by=device&sequential=false&correction=none&limit=2`,
    );
    expect(pairs.cellsAddUp, JSON.stringify(pairs.discrepancies)).toBe(true);
    const [first, other] = [pairs.segments[0], pairs.segments.at(-1)];
    expectServedEqualsDirect(
      first.variants,
      users.filter(
        (user) => user.segments.country === first.values.country && user.segments.device === first.values.device,
      ),
    );
    // "(other)" merges the remaining pair cells, extras included.
    expect(other.value).toBe('(other)');
    const shown = pairs.segments.slice(0, -1).map((segment: { value: string }) => segment.value);
    expectServedEqualsDirect(
      other.variants,
      users.filter((user) => !shown.includes(`${user.segments.country}+${user.segments.device}`)),
    );
  });
});

describe('binomial CUPED', () => {
  it('adjusts with Σ covariate over converting users, however many conversions (and of what value) each sent', () => {
    const definition = {
      ...(experimentBody('binomial-cuped', { metrics: [{ key: 'signup', type: 'binomial', cuped: true }] }) as object),
      metrics: [{ key: 'signup', type: 'binomial', cuped: true, lowerIsBetter: false }],
    } as unknown as ExperimentDefinition;
    const raw = simulateUsers(400, 7);
    const plan = counterPlanOf(definition);
    const servedFor = (users: typeof raw) =>
      assembleVariants(
        definition,
        buildCellTable(plannedCellsAsCounterCells(aggregatePlannedCells(users, plan))).totals,
        OPTIONS,
      ).variants[1]!.metrics.signup!.vsControl!;
    const single = servedFor(raw);
    expect(single.cuped?.warnings).toEqual([]);
    // Converting users send two conversions of value 3: y is still 1 for them, so nothing may change.
    const repeated = raw.map((user) =>
      user.conversions.signup?.length ? { ...user, conversions: { ...user.conversions, signup: [3, 3] } } : user,
    );
    const again = servedFor(repeated);
    expect(again.cuped?.warnings).toEqual([]);
    expectClose(again.cuped?.theta ?? null, single.cuped?.theta ?? null);
    expectClose(again.cuped?.absolute.estimate ?? null, single.cuped?.absolute.estimate ?? null);
    expectClose(again.pValue, single.pValue); // the unadjusted comparison is unchanged
  });
});
