import { describe, expect, it } from 'vitest';
import { decodeCompactRecord, encodeCompactRecord } from './compact-records.js';
import type { StreamEvent } from './event-contract.js';
import { attachSortedSegments, sortedSegments } from './sorted-segments.js';

describe('sortedSegments', () => {
  it('sorts by dimension in code-unit order, integer-like names included (which objects list first)', () => {
    expect(sortedSegments({ device: 'ios', Country: 'DE', '10': 'x', '9': 'y' })).toEqual([
      ['10', 'x'],
      ['9', 'y'],
      ['Country', 'DE'],
      ['device', 'ios'],
    ]);
    expect(sortedSegments(undefined)).toEqual([]);
  });

  it('answers the pairs a decoder attached, without sorting, and keeps them out of keys, JSON and equality', () => {
    const segments: Record<string, string> = { b: '2', a: '1' };
    const pairs = Object.freeze([['a', '1'] as const, ['b', '2'] as const]);
    attachSortedSegments(segments, pairs);
    Object.freeze(segments);
    expect(sortedSegments(segments)).toBe(pairs);
    expect(Object.keys(segments)).toEqual(['b', 'a']);
    expect(JSON.stringify(segments)).toBe('{"b":"2","a":"1"}');
    expect(segments).toEqual({ a: '1', b: '2' });
  });

  it('sorts a frozen object once and shares the answer', () => {
    const segments = Object.freeze({ z: '1', y: '2' });
    const first = sortedSegments(segments);
    expect(first).toEqual([
      ['y', '2'],
      ['z', '1'],
    ]);
    expect(sortedSegments(segments)).toBe(first);
  });

  it('gives the same pairs for a compact record’s events as for the same events as JSON', () => {
    const event: StreamEvent = {
      version: 1,
      eventId: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
      experimentId: 'exp',
      variantId: 'control',
      userId: 'u1',
      type: 'impression',
      value: 1,
      timestamp: 1_700_000_000_000,
      receivedAt: 1_700_000_000_000,
      segments: { plan: 'pro', country: 'DE', browser: 'safari', '9': 'nine', '10': 'ten' },
    };
    const decoded = decodeCompactRecord(encodeCompactRecord([event, { ...event, userId: 'u2' }]), 0, {
      maxSegments: 10,
    });
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    const [first, second] = decoded.events.map((result) => (result.ok ? result.event.segments : undefined));
    const expected = sortedSegments((JSON.parse(JSON.stringify(event)) as StreamEvent).segments);
    expect(expected.map(([dimension]) => dimension)).toEqual(['10', '9', 'browser', 'country', 'plan']);
    expect(sortedSegments(first)).toEqual(expected);
    expect(sortedSegments(second)).toBe(sortedSegments(first)); // one segments object per record and combination
  });
});
