import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BoundedGroupedMap } from './bounded-map.js';

describe('BoundedGroupedMap', () => {
  it('forgets the least recently written entry first, over all groups; reads do not reorder; evictions are counted', () => {
    const map = new BoundedGroupedMap<string, string, number>(2);
    map.set('x', 'a', 1);
    map.set('y', 'a', 2); // the same key in another group is another entry
    expect(map.get('x', 'a')).toBe(1); // a read: x/a stays the oldest write
    map.set('x', 'c', 3);
    expect([map.get('x', 'a'), map.get('y', 'a'), map.get('x', 'c')]).toEqual([undefined, 2, 3]);
    map.set('y', 'a', 20); // a write: y/a becomes the newest
    map.set('z', 'd', 4);
    expect([map.get('y', 'a'), map.get('x', 'c'), map.get('z', 'd')]).toEqual([20, undefined, 4]);
    expect([map.evictions, map.size]).toEqual([2, 2]);
  });

  it('holds falsy values as they are', () => {
    const map = new BoundedGroupedMap<string, string, number | string>(3);
    map.set('g', 'zero', 0);
    map.set('g', 'empty', '');
    expect([map.get('g', 'zero'), map.get('g', 'empty'), map.get('g', 'absent'), map.get('h', 'zero')]).toEqual([
      0,
      '',
      undefined,
      undefined,
    ]);
  });

  it('writes a fresh entry after the entry just read was evicted (the read-then-write shortcut is not stale)', () => {
    const map = new BoundedGroupedMap<string, string, number>(1);
    map.set('g', 'a', 1);
    expect(map.get('g', 'a')).toBe(1);
    map.set('g', 'b', 2); // evicts g/a, the entry just read
    map.set('g', 'a', 3); // must be a new entry (evicting g/b), not the evicted one relinked
    expect([map.get('g', 'a'), map.get('g', 'b'), map.size, map.evictions]).toEqual([3, undefined, 1, 2]);
    map.set('g', 'c', 4);
    expect([map.get('g', 'a'), map.get('g', 'c'), map.size, map.evictions]).toEqual([undefined, 4, 1, 3]);
  });

  it('writes the entry of its own group after a read of the same key in another group (the shortcut checks both keys)', () => {
    const map = new BoundedGroupedMap<string, string, number>(10);
    map.set('x', 'a', 1);
    expect(map.get('x', 'a')).toBe(1);
    map.set('y', 'a', 2); // the key just read, in another group: a new entry, x/a untouched
    expect([map.get('x', 'a'), map.get('y', 'a'), map.size]).toEqual([1, 2, 2]);
  });

  it('deletes one group (not counted as evictions), keeps the others in their order, and clears', () => {
    const map = new BoundedGroupedMap<string, string, number>(3);
    map.set('exp-1', 'a', 1);
    map.set('exp-2', 'a', 2);
    map.set('exp-1', 'b', 3);
    expect(map.get('exp-1', 'b')).toBe(3);
    expect(map.deleteGroup('exp-1')).toBe(2);
    expect(map.deleteGroup('exp-3')).toBe(0);
    expect([map.get('exp-1', 'a'), map.get('exp-1', 'b'), map.get('exp-2', 'a'), map.size]).toEqual([
      undefined,
      undefined,
      2,
      1,
    ]);
    map.set('exp-1', 'b', 30); // after the read of the deleted exp-1/b: a new entry
    map.set('exp-3', 'c', 4);
    map.set('exp-3', 'd', 5); // evicts exp-2/a, the oldest left
    expect([map.get('exp-2', 'a'), map.get('exp-1', 'b'), map.evictions]).toEqual([undefined, 30, 1]);
    map.clear();
    expect([map.get('exp-3', 'c'), map.size]).toEqual([undefined, 0]);
    map.set('exp-3', 'c', 6);
    expect(map.get('exp-3', 'c')).toBe(6);
  });

  it('behaves like a Map re-inserted on every write and trimmed from its oldest entry (property)', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('get' as const), group: fc.nat(2), key: fc.nat(5) }),
      fc.record({ kind: fc.constant('set' as const), group: fc.nat(2), key: fc.nat(5), value: fc.nat() }),
      fc.record({ kind: fc.constant('deleteGroup' as const), group: fc.nat(2) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.array(op, { maxLength: 60 }), (bound, ops) => {
        const map = new BoundedGroupedMap<number, number, number>(bound);
        const model = new Map<string, number>();
        let evictions = 0;
        for (const step of ops) {
          const id = `${step.group}/${'key' in step ? step.key : ''}`;
          if (step.kind === 'get') expect(map.get(step.group, step.key)).toBe(model.get(id));
          else if (step.kind === 'set') {
            map.set(step.group, step.key, step.value);
            model.delete(id);
            model.set(id, step.value);
            if (model.size > bound) {
              model.delete(model.keys().next().value as string);
              evictions++;
            }
          } else {
            const ofGroup = [...model.keys()].filter((key) => key.startsWith(`${step.group}/`));
            expect(map.deleteGroup(step.group)).toBe(ofGroup.length);
            for (const key of ofGroup) model.delete(key);
          }
          expect([map.size, map.evictions]).toEqual([model.size, evictions]);
        }
        for (const id of model.keys()) {
          const [group, key] = id.split('/').map(Number) as [number, number];
          expect(map.get(group, key)).toBe(model.get(id));
        }
      }),
      { numRuns: 500 },
    );
  });
});
