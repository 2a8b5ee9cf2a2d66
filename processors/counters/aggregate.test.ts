import fc from 'fast-check';
import { expect, it } from 'vitest';
import { counterPlanOf } from '../../common/counter-plan.js';
import type { StreamEvent } from '../../common/event-contract.js';
import { aggregateCounterDeltas, cellDirectorySize, type DeltaTotals } from './aggregate.js';
import { StateAnswers } from '../state/state-answers.js';
import { aggregateOutcomes, type OutcomeOfEvent } from './test-support/aggregate-outcomes.js';
import { CELL_SLOT_LIMIT } from './cell-directory.js';

/** An outcome's covariates and partner totals when the plan asks for none. */
const NO_EXTRAS = { covariates: [], partnerTotals: [] };

const base: StreamEvent = {
  version: 1,
  eventId: '00000000-0000-4000-8000-000000000001',
  experimentId: 'exp',
  variantId: 'B',
  userId: 'ann',
  type: 'conversion',
  metric: 'revenue',
  value: 3,
  timestamp: 1,
  receivedAt: 10,
};

it('adds one contribution per applied event to the total, segment and pair cells of the user', () => {
  const segments = [
    ['country', 'US'],
    ['device', 'ios'],
  ] as const;
  const cells = aggregateOutcomes([
    {
      event: base,
      position: 'p1',
      outcome: { kind: 'applied', replay: false, segments, totalBefore: undefined, ...NO_EXTRAS },
    },
    {
      event: { ...base, value: 2, receivedAt: 20 },
      position: 'p2',
      outcome: { kind: 'applied', replay: true, segments, totalBefore: 3_000_000, ...NO_EXTRAS },
    },
    { event: base, position: 'p3', outcome: { kind: 'duplicate' } },
  ]);
  expect(cells.map((cell) => cell.sortKey)).toEqual([
    'B#revenue',
    'seg#country=US#B#revenue',
    'seg#device=ios#B#revenue',
    'seg#country+device=US+ios#B#revenue',
  ]);
  const [total] = cells;
  const all = total!.totalsAfter(undefined)!;
  expect({ ...all, sum: all.sum.value(), sumSquares: all.sumSquares.value() }).toEqual({
    events: 2,
    units: 1,
    sum: 5_000_000n,
    sumSquares: 25n * 10n ** 12n, // (3 + 2)²: 9 from the first event, 16 from the second
    lastEventAt: 20,
    minPosition: 'p1',
    maxPosition: 'p2',
  });
  expect(total!.totals).toMatchObject({ events: 2, units: 1, minPosition: 'p1', maxPosition: 'p2' });
  expect(total!.totals!.sum.format(6)).toBe('5');
  expect(total!.totals!.sumSquares.format(12)).toBe('25');
  // After a watermark at p1, only the second event is missing.
  expect(total!.totalsAfter('p1')).toMatchObject({ events: 1, units: 0, minPosition: 'p2' });
  expect(total!.totalsAfter('p2')).toBeUndefined();
});

it('counts impressions under $exposure', () => {
  const cells = aggregateOutcomes([
    {
      event: { ...base, type: 'impression', metric: undefined, value: 1 },
      position: 'p1',
      outcome: { kind: 'applied', replay: false, segments: [], totalBefore: undefined, ...NO_EXTRAS },
    },
  ]);
  expect(cells.map((cell) => cell.sortKey)).toEqual(['B#$exposure']);
});

const applied = (
  event: StreamEvent,
  position: string,
  totalBefore?: number,
  segments: readonly (readonly [string, string])[] = [],
) => ({ event, position, outcome: { kind: 'applied' as const, replay: false, segments, totalBefore, ...NO_EXTRAS } });

it('keeps the latest receive time of a cell, whatever the record order', () => {
  const [cell] = aggregateOutcomes([
    applied({ ...base, receivedAt: 30 }, 'p1'),
    applied({ ...base, receivedAt: 20 }, 'p2', 3_000_000),
  ]);
  expect(cell!.totals!.lastEventAt).toBe(30);
  expect(cell!.totalsAfter(undefined)!.lastEventAt).toBe(30);
});

it('reports the oldest position as minPosition even when contributions come out of order', () => {
  const [cell] = aggregateOutcomes([applied(base, 'p2'), applied(base, 'p1', 3_000_000)]);
  expect(cell!.totals).toMatchObject({ minPosition: 'p1', maxPosition: 'p1', events: 2 });
  expect(cell!.totalsAfter('p1')).toMatchObject({ minPosition: 'p2', maxPosition: 'p2', events: 1 });
});

it('bounds the cell directory: a batch that finds CELL_SLOT_LIMIT cells starts a new generation, and every cell is still counted once', () => {
  const prefix = `bound-${Math.random()}`;
  const batchOf = (from: number, count: number) =>
    Array.from({ length: count }, (_, i) => applied({ ...base, experimentId: `${prefix}-${from + i}` }, `p${i}`));
  aggregateOutcomes([]); // starts a new generation if earlier tests filled this one
  const before = cellDirectorySize();
  const cells = aggregateOutcomes(batchOf(0, CELL_SLOT_LIMIT - before));
  expect(cellDirectorySize()).toBe(CELL_SLOT_LIMIT);
  expect(cells).toHaveLength(CELL_SLOT_LIMIT - before);
  // The next batch starts empty: its cells are new slots, one delta per cell as ever.
  const next = aggregateOutcomes([...batchOf(0, 2), ...batchOf(0, 2)]);
  expect(cellDirectorySize()).toBe(2);
  expect(next).toHaveLength(2);
  expect(next.map((cell) => [cell.experimentId, cell.totals!.events])).toEqual([
    [`${prefix}-0`, 2],
    [`${prefix}-1`, 2],
  ]);
});

/** A cell's totals as plain values (exact BigInts), for comparing sums of runs. */
const plainTotals = (totals: DeltaTotals | undefined) =>
  totals && {
    events: totals.events,
    units: totals.units,
    sum: totals.sum.value(),
    sumSquares: totals.sumSquares.value(),
    extra: totals.extra ?? {},
    lastEventAt: totals.lastEventAt,
  };

/** a + b, field by field (the extra sums per field, absent = 0). */
function plus(a: ReturnType<typeof plainTotals>, b: ReturnType<typeof plainTotals>) {
  if (!a || !b) return a ?? b;
  const extra: Record<string, bigint> = { ...a.extra };
  for (const [field, value] of Object.entries(b.extra)) extra[field] = (extra[field] ?? 0n) + value;
  return {
    events: a.events + b.events,
    units: a.units + b.units,
    sum: a.sum + b.sum,
    sumSquares: a.sumSquares + b.sumSquares,
    extra,
    lastEventAt: Math.max(a.lastEventAt, b.lastEventAt),
  };
}

it('re-derives what the records after any watermark add: the run before it plus totalsAfter is the whole batch, cell by cell', () => {
  const capped = counterPlanOf({ metrics: [{ key: 'revenue', type: 'mean', lowerIsBetter: false, cap: 40 }] });
  const eventArb = fc.record({
    metric: fc.constantFrom('revenue', 'clicks'),
    value: fc.oneof(fc.integer({ min: -50, max: 50 }), fc.double({ min: -50, max: 50, noNaN: true })),
    before: fc.option(fc.integer({ min: -100, max: 100 }), { nil: undefined }),
    country: fc.constantFrom('US', 'DE'),
    duplicate: fc.boolean(),
    withPlan: fc.boolean(),
  });
  fc.assert(
    fc.property(fc.array(eventArb, { minLength: 1, maxLength: 30 }), fc.nat(), (drawn, at) => {
      const batch: OutcomeOfEvent[] = drawn.map((d, i) => ({
        event: { ...base, metric: d.metric, value: d.value, receivedAt: 1000 - i },
        position: `p${String(i).padStart(3, '0')}`,
        plan: d.withPlan ? capped : undefined,
        outcome: d.duplicate
          ? { kind: 'duplicate' }
          : {
              kind: 'applied',
              replay: false,
              segments: [['country', d.country]],
              totalBefore: d.before === undefined ? undefined : d.before * 1_000_000,
              ...NO_EXTRAS,
            },
      }));
      const cut = at % batch.length;
      const watermark = batch[cut]!.position;
      const whole = aggregateOutcomes(batch);
      const upTo = aggregateOutcomes(batch.slice(0, cut + 1));
      for (const cell of whole) {
        const older = upTo.find((c) => c.experimentId === cell.experimentId && c.sortKey === cell.sortKey);
        const newer = cell.totalsAfter(watermark);
        expect(plus(plainTotals(older?.totals), plainTotals(newer))).toEqual(plainTotals(cell.totals));
        if (newer) expect(newer.minPosition > watermark && newer.maxPosition <= cell.totals!.maxPosition).toBe(true);
      }
    }),
    { numRuns: 300 },
  );
});

it('leaves nothing behind when a batch fails midway: the next batch counts its cells afresh', () => {
  const experimentId = `failed-${Math.random()}`;
  const event = { ...base, experimentId };
  const outcome = { kind: 'applied' as const, replay: false, segments: [], totalBefore: undefined, ...NO_EXTRAS };
  const noMetric = { ...event, metric: undefined }; // a conversion without a metric: its metric key cannot be had
  expect(() =>
    aggregateOutcomes([
      { event, position: 'p1', outcome },
      { event: noMetric, position: 'p2', outcome },
    ]),
  ).toThrow(expect.objectContaining({ code: 'EVENT_INVALID' }));
  const [cell, ...rest] = aggregateOutcomes([{ event, position: 'p3', outcome }]);
  expect(rest).toEqual([]);
  expect(cell).toMatchObject({ experimentId, sortKey: 'B#revenue', totals: { events: 1, minPosition: 'p3' } });
});

it('refuses answers that do not match the events one for one (INTERNAL), before touching a cell', () => {
  const experimentId = `mismatch-${Math.random()}`;
  const event = { ...base, experimentId };
  expect(() => aggregateCounterDeltas([{ event, position: 'p1' }], new StateAnswers(0))).toThrow(
    expect.objectContaining({ code: 'INTERNAL', message: '0 state answers for 1 events' }),
  );
  const answers = new StateAnswers(1);
  answers.applied(0, false, [], undefined, [], []);
  const [cell] = aggregateCounterDeltas([{ event, position: 'p2' }], answers);
  expect(cell).toMatchObject({ experimentId, totals: { events: 1, units: 1, minPosition: 'p2' } });
});
