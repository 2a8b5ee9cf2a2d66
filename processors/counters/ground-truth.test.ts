import { expect, it } from 'vitest';
import type { StreamEvent } from '../../common/event-contract.js';
import { computeExpectedCounters } from './ground-truth.js';

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
