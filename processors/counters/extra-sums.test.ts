import { expect, it } from 'vitest';
import { counterPlanOf, EMPTY_COUNTER_PLAN, type CounterPlan } from '../../common/counter-plan.js';
import type { StreamEvent } from '../../common/event-contract.js';
import { type CellDelta } from './aggregate.js';
import { aggregateOutcomes, type OutcomeOfEvent } from './test-support/aggregate-outcomes.js';
import { planCovariates } from './counter-sink.js';
import { scaledNumber } from './exact-value.js';

const M = 1_000_000n; // one unit, scaled like `sum`
const M2 = M * M; // one unit², scaled like `sum_squares`
const m = 1_000_000; // one unit, scaled, as the state's numbers hold it

const plan: CounterPlan = counterPlanOf({
  metrics: [
    { key: 'purchase', type: 'mean', lowerIsBetter: false, cap: 10, cuped: true },
    { key: 'click', type: 'binomial', lowerIsBetter: false, cuped: true },
    { key: 'aov', type: 'ratio', lowerIsBetter: false, numerator: 'revenue', denominator: 'orders' },
  ],
});

let n = 0;
const event = (partial: Partial<StreamEvent>): StreamEvent => ({
  version: 1,
  eventId: `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`,
  experimentId: 'exp',
  variantId: 'B',
  userId: 'ann',
  type: 'conversion',
  metric: 'purchase',
  value: 1,
  timestamp: 1,
  receivedAt: 10 + n,
  ...partial,
});

/** An applied outcome: the user's total before, their fixed covariates and partner totals. */
const applied = (
  partial: Partial<StreamEvent>,
  position: string,
  totalBefore: number | undefined,
  extras: { covariates?: [string, number][]; partnerTotals?: (number | undefined)[]; plan?: CounterPlan } = {},
): OutcomeOfEvent => ({
  event: event(partial),
  position,
  plan: extras.plan ?? plan,
  outcome: {
    kind: 'applied',
    replay: false,
    segments: [['country', 'US']],
    totalBefore,
    covariates: extras.covariates ?? [],
    partnerTotals: extras.partnerTotals ?? [],
  },
});

const cellOf = (cells: CellDelta[], sortKey: string): CellDelta => {
  const cell = cells.find((c) => c.sortKey === sortKey);
  if (!cell) throw new Error(`no cell ${sortKey} among ${cells.map((c) => c.sortKey).join(', ')}`);
  return cell;
};

it('cap 10: totals 4 → 12 → 15 give capped_sum 10 and capped_sum_squares 100 (sum 15, sum_squares 225)', () => {
  const covariates: [string, number][] = [['purchase', 2 * m]];
  const cells = aggregateOutcomes([
    applied({ value: 4 }, 'p1', undefined, { covariates }),
    applied({ value: 8 }, 'p2', 4 * m, { covariates }),
    applied({ value: 3 }, 'p3', 12 * m, { covariates }),
  ]);
  const total = cellOf(cells, 'B#purchase');
  // Per event: min(Ta,10) − min(Tb,10) = 4, 6, 0 and min(Ta,10)² − min(Tb,10)² = 16, 84, 0; the records
  // after each watermark add 4 + 6 + 0, 6 + 0 and 0 (none left: the field is absent).
  expect([undefined, 'p1', 'p2'].map((after) => total.totalsAfter(after)?.extra?.cappedSum)).toEqual([
    10n * M,
    6n * M,
    undefined,
  ]);
  expect(total.totals!.extra).toEqual({
    cappedSum: 10n * M,
    cappedSumSquares: 100n * M2,
    // covariate c = 2: Σ δ·c = (4 + 8 + 3)·2 = 30; Σ (capped growth)·c = (4 + 6)·2 = 20
    covariateCross: 30n * M2,
    cappedCovariateCross: 20n * M2,
    // the user's first event of the metric adds c once: Σ over converting users of c (binomial CUPED's Σxy)
    converterCovariateSum: 2n * M,
  });
  expect(total.totals!.sum.value()).toBe(15n * M);
  // The segment cell gets the very same contributions.
  expect(cellOf(cells, 'seg#country=US#B#purchase').totals!.extra).toEqual(total.totals!.extra);
  // A re-apply after watermark p1 adds only what the later events add.
  expect(total.totalsAfter('p1')!.extra).toEqual({
    cappedSum: 6n * M,
    cappedSumSquares: 84n * M2,
    covariateCross: 22n * M2,
    cappedCovariateCross: 12n * M2,
  });
});

it('the cap is an upper cap only: totals −5 → 15 give capped_sum −5 + 15 = 10, capped_sum_squares 25 + 75 = 100', () => {
  const [total] = aggregateOutcomes([applied({ value: -5 }, 'p1', undefined), applied({ value: 20 }, 'p2', -5 * m)]);
  // The first event adds −5 and 25, the second 15 and 75.
  expect(total!.totalsAfter('p1')!.extra).toEqual({ cappedSum: 15n * M, cappedSumSquares: 75n * M2 });
  expect(total!.totals!.extra).toEqual({ cappedSum: 10n * M, cappedSumSquares: 100n * M2 });
});

it('a fractional cap is scaled like values (cap 2.5, totals 1.25 → 3.75: capped 2.5, squared 6.25)', () => {
  const fractional = counterPlanOf({ metrics: [{ key: 'purchase', type: 'mean', lowerIsBetter: false, cap: 2.5 }] });
  const [total] = aggregateOutcomes([
    applied({ value: 1.25 }, 'p1', undefined, { plan: fractional }),
    applied({ value: 2.5 }, 'p2', scaledNumber(1.25), { plan: fractional }),
  ]);
  expect(total!.totals!.extra).toEqual({ cappedSum: 2_500_000n, cappedSumSquares: 6_250_000n * M });
});

it("the user's first impression adds its covariates to every CUPED metric's cells (events 0), later ones add nothing", () => {
  const covariates: [string, number][] = [
    ['click', 1 * m],
    ['purchase', -3 * m],
  ];
  const impression = { type: 'impression' as const, metric: undefined };
  const cells = aggregateOutcomes([
    applied(impression, 'p1', undefined, { covariates }),
    applied(impression, 'p2', 1 * m, { covariates }),
  ]);
  expect(cells.map((c) => c.sortKey).sort()).toEqual([
    'B#$exposure',
    'B#click',
    'B#purchase',
    'seg#country=US#B#$exposure',
    'seg#country=US#B#click',
    'seg#country=US#B#purchase',
  ]);
  const purchase = cellOf(cells, 'B#purchase').totals!;
  expect({ events: purchase.events, units: purchase.units, extra: purchase.extra }).toEqual({
    events: 0,
    units: 0,
    extra: { covariateSum: -3n * M, covariateSumSquares: 9n * M2 },
  });
  expect(purchase.sum.value()).toBe(0n);
  expect(purchase.sumSquares.value()).toBe(0n);
  expect(cellOf(cells, 'seg#country=US#B#click').totals!.extra).toEqual({ covariateSum: M, covariateSumSquares: M2 });
  expect(cellOf(cells, 'B#$exposure').totals).toMatchObject({ events: 2, units: 1, extra: undefined });
  // A covariate of 0 (or none) adds nothing: no cell.
  const none = aggregateOutcomes([applied(impression, 'p1', undefined, { covariates: [['click', 0]] })]);
  expect(none.map((c) => c.sortKey)).toEqual(['B#$exposure', 'seg#country=US#B#$exposure']);
});

it('ratio revenue/orders: each event adds δ × the partner total at that event; Σ is N·D (15 × 2 = 30)', () => {
  const cells = aggregateOutcomes([
    applied({ metric: 'revenue', value: 10 }, 'p1', undefined, { partnerTotals: [undefined] }), // orders: none yet → 0
    applied({ metric: 'orders', value: 2 }, 'p2', undefined, { partnerTotals: [10 * m] }), // 2 × 10 = 20
    applied({ metric: 'revenue', value: 5 }, 'p3', 10 * m, { partnerTotals: [2 * m] }), // 5 × 2 = 10
  ]);
  const ratio = cellOf(cells, 'B#$ratio:revenue/orders');
  // p1 adds nothing (orders 0); p2 adds 20 and p3 10.
  expect(ratio.totalsAfter('p2')).toMatchObject({ events: 0, extra: { crossSum: 10n * M2 }, minPosition: 'p3' });
  expect(ratio.totalsAfter('p1')).toMatchObject({ events: 0, extra: { crossSum: 30n * M2 }, minPosition: 'p2' });
  expect(ratio.totals).toMatchObject({ events: 0, units: 0, extra: { crossSum: 30n * M2 }, minPosition: 'p2' });
  expect(cellOf(cells, 'seg#country=US#B#$ratio:revenue/orders').totals!.extra).toEqual({ crossSum: 30n * M2 });
  // The numerator's and denominator's own cells carry no extras (neither is capped nor CUPED).
  expect(cellOf(cells, 'B#revenue').totals!.extra).toBeUndefined();
  expect(cellOf(cells, 'B#orders').totals).toMatchObject({ events: 1, units: 1, extra: undefined });
});

it('a ratio of a metric with itself adds the growth of T² once (totals 3 → 5: 9 + 16 = 25)', () => {
  const self = counterPlanOf({
    metrics: [{ key: 'sq', type: 'ratio', lowerIsBetter: false, numerator: 'm', denominator: 'm' }],
  });
  const cells = aggregateOutcomes([
    applied({ metric: 'm', value: 3 }, 'p1', undefined, { plan: self, partnerTotals: [undefined, undefined] }),
    applied({ metric: 'm', value: 2 }, 'p2', 3 * m, { plan: self, partnerTotals: [3 * m, 3 * m] }),
  ]);
  expect(cellOf(cells, 'B#$ratio:m/m').totals!.extra).toEqual({ crossSum: 25n * M2 });
});

it('experiments without extras (no plan, the empty plan, metrics the plan does not name) carry no extra sums', () => {
  for (const noPlan of [undefined, EMPTY_COUNTER_PLAN]) {
    const item = applied({ value: 4 }, 'p1', undefined, { covariates: [['purchase', m]] });
    const cells = aggregateOutcomes([{ ...item, plan: noPlan }]);
    expect(cells.every((cell) => cell.totals!.extra === undefined)).toBe(true);
  }
  const other = aggregateOutcomes([applied({ metric: 'signup', value: 4 }, 'p1', undefined)]);
  expect(other.map((c) => [c.sortKey, c.totals!.extra])).toEqual([
    ['B#signup', undefined],
    ['seg#country=US#B#signup', undefined],
  ]);
});

it("state requests carry an impression's covariates restricted to the CUPED metrics, scaled and sorted", () => {
  expect(planCovariates({ unused: 7, purchase: 1.5, click: -2 }, plan.covariateMetrics)).toEqual([
    ['click', -2 * m],
    ['purchase', 1_500_000],
  ]);
  expect(planCovariates(undefined, plan.covariateMetrics)).toEqual([]);
  expect(planCovariates({ unused: 1 }, plan.covariateMetrics)).toEqual([]);
});
