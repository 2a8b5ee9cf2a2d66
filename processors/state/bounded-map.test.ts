import { expect, it } from 'vitest';
import { BoundedMap } from './bounded-map.js';

it('forgets the least recently written entry first; reads do not reorder; evictions are counted', () => {
  const map = new BoundedMap<string, number>(2);
  map.set('a', 1);
  map.set('b', 2);
  expect(map.get('a')).toBe(1); // a read: `a` stays the oldest write
  map.set('c', 3);
  expect([map.get('a'), map.get('b'), map.get('c')]).toEqual([undefined, 2, 3]);
  map.set('b', 20); // a write: `b` becomes the newest
  map.set('d', 4);
  expect([map.get('b'), map.get('c'), map.get('d')]).toEqual([20, undefined, 4]);
  expect(map.evictions).toBe(2);
});

it('expires an entry exactly at its TTL from its last write (fake clock), without counting it as an eviction', () => {
  let now = 1_000;
  const map = new BoundedMap<string, string>(10, 500, () => now);
  map.set('claim', 'holder');
  now = 1_499;
  expect(map.get('claim')).toBe('holder');
  map.set('other', 'x'); // written at 1,499
  now = 1_500;
  expect(map.get('claim')).toBeUndefined();
  expect(map.get('other')).toBe('x');
  map.set('claim', 'again'); // a new write starts a new TTL
  now = 1_999;
  expect([map.get('claim'), map.get('other')]).toEqual(['again', undefined]);
  expect(map.evictions).toBe(0);
});

it('holds values without a TTL as they are, falsy ones included', () => {
  const map = new BoundedMap<string, number | string>(3);
  map.set('zero', 0);
  map.set('empty', '');
  expect([map.get('zero'), map.get('empty'), map.get('absent')]).toEqual([0, '', undefined]);
});

it('deletes the entries whose key matches, and clears', () => {
  const map = new BoundedMap<string, number>(10, 1_000, () => 0);
  for (const key of ['exp-1/a', 'exp-1/b', 'exp-2/a']) map.set(key, 1);
  expect(map.deleteWhere((key) => key.startsWith('exp-1/'))).toBe(2);
  expect([map.get('exp-1/a'), map.get('exp-2/a')]).toEqual([undefined, 1]);
  map.clear();
  expect(map.get('exp-2/a')).toBeUndefined();
  expect(map.evictions).toBe(0);
});
