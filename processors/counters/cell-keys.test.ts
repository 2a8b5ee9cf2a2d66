import { expect, it } from 'vitest';
import { MAX_PAIR_DIMENSIONS } from '../../common/counter-layout.js';
import { cellSortKeys, metricKeyOf } from './cell-keys.js';

it('pairs only the first MAX_PAIR_DIMENSIONS dimensions: five dimensions give the total, five segment and six pair cells', () => {
  expect(MAX_PAIR_DIMENSIONS).toBe(4);
  const segments = [
    ['a', '1'],
    ['b', '2'],
    ['c', '3'],
    ['d', '4'],
    ['e', '5'],
  ] as const;
  const keys = cellSortKeys('control', 'purchase', segments);
  expect(keys).toHaveLength(1 + 5 + 6);
  expect(keys[0]).toBe('control#purchase');
  expect(keys.filter((key) => key.includes('e=5'))).toEqual(['seg#e=5#control#purchase']);
});

it('names the event when a conversion has no metric', () => {
  expect(() => metricKeyOf({ type: 'conversion', metric: undefined, eventId: 'e-1' })).toThrow(
    expect.objectContaining({ code: 'EVENT_INVALID', message: 'conversion e-1 has no metric' }),
  );
  expect(metricKeyOf({ type: 'impression', metric: undefined, eventId: 'e-2' })).toBe('$exposure');
});
