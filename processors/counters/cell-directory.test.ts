import { expect, it } from 'vitest';
import { CellDirectory } from './cell-directory.js';
import { cellSortKeys } from './cell-keys.js';

const DE_IOS = [
  ['country', 'DE'],
  ['device', 'ios'],
] as const;

it('resolves the cells an event feeds, total cell first, in cell-keys order', () => {
  const directory = new CellDirectory<number>();
  directory.beginBatch();
  const slots = directory.slotsOf('exp', 'control', 'purchase', DE_IOS);
  expect(slots.map((slot) => slot.sortKey)).toEqual(cellSortKeys('control', 'purchase', DE_IOS));
  expect(slots.every((slot) => slot.experimentId === 'exp')).toBe(true);
});

it('gives one slot per cell, whichever segments array or combination leads to it', () => {
  const directory = new CellDirectory<number>();
  directory.beginBatch();
  const first = directory.slotsOf('exp', 'control', 'purchase', DE_IOS);
  const equalArray = directory.slotsOf(
    'exp',
    'control',
    'purchase',
    DE_IOS.map(([d, v]) => [d, v] as const),
  );
  expect(equalArray).toBe(first); // equal content shares the resolved list
  const otherDevice = directory.slotsOf('exp', 'control', 'purchase', [
    ['country', 'DE'],
    ['device', 'web'],
  ]);
  expect(otherDevice[0]).toBe(first[0]); // the variant's total cell
  expect(otherDevice[1]).toBe(first[1]); // country=DE
  expect(otherDevice[2]).not.toBe(first[2]); // device differs
  expect(directory.slotsOf('exp', 'treatment', 'purchase', DE_IOS)[0]).not.toBe(first[0]);
  expect(directory.slotsOf('other', 'control', 'purchase', DE_IOS)[0]).not.toBe(first[0]);
  expect(directory.slotsOf('exp', 'control', 'click', DE_IOS)[0]).not.toBe(first[0]);
});

it('starts a new generation only when a batch begins with the limit reached', () => {
  const directory = new CellDirectory<number>(3);
  const firstBatch = directory.beginBatch();
  const slots = directory.slotsOf('exp', 'control', 'purchase', DE_IOS); // total + 2 segments + 1 pair = 4 slots
  expect(directory.size).toBe(4);
  directory.slotsOf('exp', 'control', 'click', []); // still the same generation within the batch
  expect(directory.size).toBe(5);
  expect(directory.slotsOf('exp', 'control', 'purchase', DE_IOS)).toBe(slots);
  const nextBatch = directory.beginBatch();
  expect(nextBatch).not.toBe(firstBatch);
  expect(directory.size).toBe(0);
  const fresh = directory.slotsOf('exp', 'control', 'purchase', DE_IOS);
  expect(fresh).not.toBe(slots);
  expect(fresh[0]).toMatchObject({ experimentId: 'exp', sortKey: slots[0]!.sortKey, stamp: 0, value: undefined });
});

it('keeps its slots from batch to batch while below the limit', () => {
  const directory = new CellDirectory<number>(100);
  directory.beginBatch();
  const slots = directory.slotsOf('exp', 'control', 'purchase', DE_IOS);
  directory.beginBatch();
  expect(directory.size).toBe(4);
  expect(directory.slotsOf('exp', 'control', 'purchase', DE_IOS)).toBe(slots);
});
