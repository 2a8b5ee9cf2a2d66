import { expect, it } from 'vitest';
import type { StreamEvent } from '../../common/event-contract.js';
import { aggregateCounterDeltas, cellDirectorySize, totalContributions } from './aggregate.js';
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
  const cells = aggregateCounterDeltas([
    {
      event: base,
      position: 'p1',
      outcome: { kind: 'applied', replay: false, segments, totalBefore: undefined, ...NO_EXTRAS },
    },
    {
      event: { ...base, value: 2, receivedAt: 20 },
      position: 'p2',
      outcome: { kind: 'applied', replay: true, segments, totalBefore: 3_000_000n, ...NO_EXTRAS },
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
  const all = totalContributions(total!.contributions)!;
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
  expect(totalContributions(total!.contributions, 'p1')).toMatchObject({ events: 1, units: 0, minPosition: 'p2' });
  expect(totalContributions(total!.contributions, 'p2')).toBeUndefined();
});

it('counts impressions under $exposure', () => {
  const cells = aggregateCounterDeltas([
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
  totalBefore?: bigint,
  segments: readonly (readonly [string, string])[] = [],
) => ({ event, position, outcome: { kind: 'applied' as const, replay: false, segments, totalBefore, ...NO_EXTRAS } });

it('keeps the latest receive time of a cell, whatever the record order', () => {
  const [cell] = aggregateCounterDeltas([
    applied({ ...base, receivedAt: 30 }, 'p1'),
    applied({ ...base, receivedAt: 20 }, 'p2', 3_000_000n),
  ]);
  expect(cell!.totals!.lastEventAt).toBe(30);
  expect(totalContributions(cell!.contributions)!.lastEventAt).toBe(30);
});

it('reports the oldest position as minPosition even when contributions come out of order', () => {
  const [cell] = aggregateCounterDeltas([applied(base, 'p2'), applied(base, 'p1', 3_000_000n)]);
  expect(totalContributions(cell!.contributions)).toMatchObject({ minPosition: 'p1', maxPosition: 'p1', events: 2 });
});

it('bounds the cell directory: a batch that finds CELL_SLOT_LIMIT cells starts a new generation, and every cell is still counted once', () => {
  const prefix = `bound-${Math.random()}`;
  const batchOf = (from: number, count: number) =>
    Array.from({ length: count }, (_, i) => applied({ ...base, experimentId: `${prefix}-${from + i}` }, `p${i}`));
  aggregateCounterDeltas([]); // starts a new generation if earlier tests filled this one
  const before = cellDirectorySize();
  const cells = aggregateCounterDeltas(batchOf(0, CELL_SLOT_LIMIT - before));
  expect(cellDirectorySize()).toBe(CELL_SLOT_LIMIT);
  expect(cells).toHaveLength(CELL_SLOT_LIMIT - before);
  // The next batch starts empty: its cells are new slots, one delta per cell as ever.
  const next = aggregateCounterDeltas([...batchOf(0, 2), ...batchOf(0, 2)]);
  expect(cellDirectorySize()).toBe(2);
  expect(next).toHaveLength(2);
  expect(next.map((cell) => [cell.experimentId, cell.totals!.events])).toEqual([
    [`${prefix}-0`, 2],
    [`${prefix}-1`, 2],
  ]);
});
