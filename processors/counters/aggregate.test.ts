import { expect, it } from 'vitest';
import type { StreamEvent } from '../../common/event-contract.js';
import { aggregateCounterDeltas, totalContributions } from './aggregate.js';

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
    { event: base, position: 'p1', outcome: { kind: 'applied', replay: false, segments, totalBefore: undefined } },
    {
      event: { ...base, value: 2, receivedAt: 20 },
      position: 'p2',
      outcome: { kind: 'applied', replay: true, segments, totalBefore: 3_000_000n },
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
      outcome: { kind: 'applied', replay: false, segments: [], totalBefore: undefined },
    },
  ]);
  expect(cells.map((cell) => cell.sortKey)).toEqual(['B#$exposure']);
});
