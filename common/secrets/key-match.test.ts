import { expect, it } from 'vitest';
import { matchingKeyIndex } from './key-match.js';

it('answers the index of the presented key, or -1 (also for a prefix, a longer key or no keys)', () => {
  const keys = ['producer-key-1', 'producer-key-22'].map((key) => Buffer.from(key));
  expect(matchingKeyIndex(keys, 'producer-key-1')).toBe(0);
  expect(matchingKeyIndex(keys, 'producer-key-22')).toBe(1);
  expect(matchingKeyIndex(keys, 'producer-key-2')).toBe(-1);
  expect(matchingKeyIndex(keys, 'producer-key-222')).toBe(-1);
  expect(matchingKeyIndex(keys, '')).toBe(-1);
  expect(matchingKeyIndex([], 'producer-key-1')).toBe(-1);
  expect(matchingKeyIndex([Buffer.from('ключ')], 'ключ')).toBe(0); // compared as UTF-8 bytes
});
