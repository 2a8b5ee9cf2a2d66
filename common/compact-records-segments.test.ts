import { describe, expect, it } from 'vitest';
import { decodeCompactRecord, encodeCompactRecord, SegmentObjects } from './compact-records.js';
import type { StreamEvent } from './event-contract.js';
import { fnv1a32 } from './hashing.js';

/**
 * The decoder shares one frozen segments object per content across records, found by a hash of
 * the strings' fnv1a32 hashes and confirmed by comparing the strings. The pairs below have equal
 * fnv1a32 hashes (asserted), so their combinations collide in the shared table.
 */
const COLLIDING = ['seg-uknwrd', 'seg-1flq6kn'] as const;
const VALID_AND_INVALID = ['ok-v18zgr', 'bad\u00074jospo'] as const;
const INVALID_AND_VALID = ['bad\u0007n9oqwu', 'ok-ro31r1'] as const;

const AT = Date.UTC(2026, 0, 1);
const impression = (segments: Record<string, string>, userId = 'user-1'): StreamEvent => ({
  version: 1,
  eventId: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
  type: 'impression',
  experimentId: 'exp-1',
  variantId: 'control',
  userId,
  value: 1,
  segments,
  timestamp: AT,
  receivedAt: AT + 5,
});

/** Each event of one new record: whether it was accepted, and its segments object. */
function decodeOneRecord(...segmentsOfEvents: Record<string, string>[]) {
  const decoded = decodeCompactRecord(encodeCompactRecord(segmentsOfEvents.map((s) => impression(s))), 0, {
    maxSegments: 10,
  });
  if (!decoded.ok) throw new Error(`record refused: ${decoded.rejection.message}`);
  return decoded.events.map((result) => ({ ok: result.ok, segments: result.event.segments }));
}

describe('compact record format: shared segments objects whose content hashes collide', () => {
  it.each([
    ['values', COLLIDING],
    ['valid and invalid values', VALID_AND_INVALID],
    ['invalid and valid values', INVALID_AND_VALID],
  ])('uses colliding test strings (%s)', (_name, [a, b]) => {
    expect(a).not.toBe(b);
    expect(fnv1a32(a)).toBe(fnv1a32(b));
  });

  it('keeps its own frozen object for each of two contents that collide, found again by content in any record', () => {
    const [a, b] = COLLIDING;
    const [first] = decodeOneRecord({ country: a });
    const [second] = decodeOneRecord({ country: b });
    expect(first!.segments).toEqual({ country: a });
    expect(second!.segments).toEqual({ country: b });
    expect(second!.segments).not.toBe(first!.segments);

    // Other records, the other order, both in one record: each content gets its own object back.
    const [bAgain, aAgain] = decodeOneRecord({ country: b }, { country: a });
    expect(bAgain!.segments).toBe(second!.segments);
    expect(aAgain!.segments).toBe(first!.segments);
    expect([first, second, bAgain, aAgain].every((result) => result!.ok)).toBe(true);
  });

  it('keeps dimension names that collide apart, and combinations of several segments', () => {
    const [a, b] = COLLIDING;
    const [named, otherName] = decodeOneRecord({ [a]: 'x' }, { [b]: 'x' });
    expect(named!.segments).toEqual({ [a]: 'x' });
    expect(otherName!.segments).toEqual({ [b]: 'x' });

    const [both, swapped] = decodeOneRecord({ country: a, device: b }, { country: b, device: a });
    expect(both!.segments).toEqual({ country: a, device: b });
    expect(swapped!.segments).toEqual({ country: b, device: a });
    const [bothAgain, swappedAgain] = decodeOneRecord({ country: a, device: b }, { country: b, device: a });
    expect(bothAgain!.segments).toBe(both!.segments);
    expect(swappedAgain!.segments).toBe(swapped!.segments);
  });

  it.each([
    ['the valid content first', VALID_AND_INVALID, [true, false]],
    ['the invalid content first', INVALID_AND_VALID, [false, true]],
  ] as const)(
    'never lends a valid object to an invalid content it collides with, or the reverse (%s)',
    (_name, [first, second], verdicts) => {
      const [one] = decodeOneRecord({ country: first });
      const [two] = decodeOneRecord({ country: second });
      expect([one!.ok, two!.ok]).toEqual(verdicts);
      expect(two!.segments).toEqual({ country: second });

      const [twoAgain, oneAgain] = decodeOneRecord({ country: second }, { country: first });
      expect([oneAgain!.ok, twoAgain!.ok]).toEqual(verdicts);
      expect(oneAgain!.segments).toBe(one!.segments);
      expect(twoAgain!.segments).toBe(two!.segments);
    },
  );
});

describe('compact record format: the shared segments table is bounded', () => {
  it('empties itself after 10,000 new combinations: a content seen before gets a new (equal, frozen) object', () => {
    const probe = { country: 'probe-bound' };
    const [first] = decodeOneRecord(probe);
    const [again] = decodeOneRecord(probe);
    expect(again!.segments).toBe(first!.segments);

    const flood = Array.from({ length: 10_000 }, (_, i) => ({ country: `flood-${i}` }));
    const decoded = decodeOneRecord(...flood);
    expect(decoded.every((result) => result.ok)).toBe(true);

    const [afterFlood] = decodeOneRecord(probe);
    expect(afterFlood!.segments).toEqual(probe);
    expect(afterFlood!.segments).not.toBe(first!.segments);
    expect(Object.isFrozen(afterFlood!.segments)).toBe(true);
    expect(afterFlood!.ok).toBe(true);
  });
});

describe("compact record format: a record's segments objects by string indices (SegmentObjects)", () => {
  const a = Object.freeze({ country: 'DE' });
  const b = Object.freeze({ country: 'FR' });
  const c = Object.freeze({ country: 'DE', plan: 'pro' });

  it('answers what was added under the same hash and the same indices, and nothing else', () => {
    const objects = new SegmentObjects();
    expect(objects.find(7, [0, 1])).toBeUndefined();
    objects.add(7, [0, 1], a);
    expect(objects.find(7, [0, 1])).toBe(a);
    expect(objects.find(8, [0, 1])).toBeUndefined(); // another hash
    expect(objects.find(7, [0, 2])).toBeUndefined(); // same hash, another value index
    expect(objects.find(7, [2, 1])).toBeUndefined(); // same hash, another dimension index
  });

  it('keeps every combination whose hashes collide, however their indices differ in value or length', () => {
    const objects = new SegmentObjects();
    objects.add(7, [0, 1], a);
    objects.add(7, [0, 2], b);
    objects.add(7, [0, 1, 3, 4], c);
    expect(objects.find(7, [0, 1])).toBe(a);
    expect(objects.find(7, [0, 2])).toBe(b);
    expect(objects.find(7, [0, 1, 3, 4])).toBe(c);
    // A prefix of a longer combination, or a longer one starting with a shorter: neither matches.
    expect(objects.find(7, [0])).toBeUndefined();
    expect(objects.find(7, [0, 2, 3, 4])).toBeUndefined();
    expect(objects.find(7, [0, 1, 3])).toBeUndefined();
    expect(objects.find(7, [0, 1, 3, 4, 5, 6])).toBeUndefined();
  });

  it('keeps its own copy of the indices (the reader reuses its array for the next event)', () => {
    const objects = new SegmentObjects();
    const scratch = [0, 1];
    objects.add(7, scratch, a);
    scratch[1] = 2;
    expect(objects.find(7, [0, 1])).toBe(a);
    expect(objects.find(7, scratch)).toBeUndefined();
  });
});
