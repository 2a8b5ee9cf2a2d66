import { expect, it } from 'vitest';
import { EMPTY_COUNTER_PLAN, counterPlanOf } from '../../common/counter-plan.js';
import type { StreamEvent } from '../../common/event-contract.js';
import { computeExpectedCounters } from './counter-ground-truth.js';

let n = 0;
const event = (userId: string, country: string, value = 1): StreamEvent => ({
  version: 1,
  eventId: `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`,
  experimentId: 'exp',
  variantId: 'A',
  userId,
  type: 'conversion',
  metric: 'm',
  value,
  timestamp: 0,
  receivedAt: 0,
  segments: { country },
});

it('de-duplicates by eventId, fixes segments at the first event and squares per-user totals', () => {
  const first = event('ann', 'US', 2);
  const table = computeExpectedCounters([first, event('ann', 'FR', 3), first, event('bob', 'FR', 4)], {
    segmentValueCap: 10,
  });
  expect(table.get('exp|A#m')).toEqual({ events: 3, units: 2, sum: 9, sumSquares: 25 + 16 });
  expect(table.get('exp|seg#country=US#A#m')).toEqual({ events: 2, units: 1, sum: 5, sumSquares: 25 });
  expect(table.get('exp|seg#country=FR#A#m')).toEqual({ events: 1, units: 1, sum: 4, sumSquares: 16 });
});

it('caps first-come by list order, or by the admitted values it is given (shards racing for the cap)', () => {
  const events = [event('u1', 'US'), event('u2', 'FR'), event('u3', 'DE')];
  const byOrder = computeExpectedCounters(events, { segmentValueCap: 2 });
  expect(byOrder.get('exp|seg#country=(other)#A#m')).toMatchObject({ units: 1 });
  expect(byOrder.has('exp|seg#country=DE#A#m')).toBe(false);
  const given = computeExpectedCounters(events, {
    segmentValueCap: 2,
    admittedValues: new Map([['exp|country', new Set(['DE', 'FR'])]]),
  });
  expect(given.has('exp|seg#country=US#A#m')).toBe(false);
  expect(given.get('exp|seg#country=DE#A#m')).toMatchObject({ units: 1 });
});

it('computes capped, CUPED and ratio sums from final per-user totals and first-event covariates', () => {
  const plan = counterPlanOf({
    metrics: [
      { key: 'purchase', type: 'mean', lowerIsBetter: false, cap: 10, cuped: true },
      { key: 'click', type: 'binomial', lowerIsBetter: false, cuped: true },
      { key: 'aov', type: 'ratio', lowerIsBetter: false, numerator: 'revenue', denominator: 'orders' },
    ],
  });
  const conversion = (userId: string, metric: string, value: number) => ({ ...event(userId, 'US', value), metric });
  const impression = (userId: string, covariates: Record<string, number>): StreamEvent => ({
    ...event(userId, 'US'),
    type: 'impression',
    metric: undefined,
    covariates,
  });
  const table = computeExpectedCounters(
    [
      impression('ann', { purchase: 2, click: 1, unused: 9 }),
      conversion('ann', 'purchase', 4),
      conversion('ann', 'purchase', 8),
      conversion('ann', 'purchase', 3),
      conversion('ann', 'revenue', 10),
      conversion('ann', 'orders', 2),
      conversion('ann', 'revenue', 5),
      // Bob's first event is a conversion: his covariates are fixed empty (0), the later impression's are ignored.
      conversion('bob', 'purchase', 20),
      impression('bob', { purchase: 5 }),
    ],
    { segmentValueCap: 10, planOf: (experimentId) => (experimentId === 'exp' ? plan : EMPTY_COUNTER_PLAN) },
  );
  expect(table.get('exp|A#purchase')).toEqual({
    events: 4,
    units: 2,
    sum: 35,
    sumSquares: 15 * 15 + 20 * 20,
    cappedSum: 10 + 10,
    cappedSumSquares: 100 + 100,
    covariateSum: 2, // over exposed users: ann 2, bob 0
    covariateSumSquares: 4,
    covariateCross: 15 * 2,
    cappedCovariateCross: 10 * 2,
    converterCovariateSum: 2, // converting users: ann 2, bob 0
  });
  // Exposed, never clicked: the CUPED metric's cell holds the covariate sums alone.
  expect(table.get('exp|A#click')).toEqual({
    events: 0,
    units: 0,
    sum: 0,
    sumSquares: 0,
    covariateSum: 1,
    covariateSumSquares: 1,
  });
  expect(table.get('exp|A#$ratio:revenue/orders')).toEqual({
    events: 0,
    units: 0,
    sum: 0,
    sumSquares: 0,
    crossSum: 30,
  });
  expect(table.get('exp|seg#country=US#A#$ratio:revenue/orders')).toMatchObject({ crossSum: 30 });
  expect(table.get('exp|A#revenue')).toEqual({ events: 2, units: 1, sum: 15, sumSquares: 225 });
  // Without a plan: the base sums only.
  expect(
    computeExpectedCounters([conversion('ann', 'purchase', 12)], { segmentValueCap: 10 }).get('exp|A#purchase'),
  ).toEqual({ events: 1, units: 1, sum: 12, sumSquares: 144 });
});
