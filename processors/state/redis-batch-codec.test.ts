import { describe, expect, it } from 'vitest';
import { recordPosition } from '../sequence-number.js';
import { encodeChunk, readOutcomes } from './redis-batch-codec.js';
import { compactPosition } from './record-identity.js';
import { REQUEST_FIXED_BYTES, REQUEST_STRING_ARGS } from './redis-scripts.js';
import type { StateOutcome, StateRequest } from './types.js';

const request = (eventId: string, sequence: string, sub = 0): StateRequest => ({
  eventId,
  position: recordPosition(sequence, sub),
  experimentId: 'exp',
  userId: 'ann',
  variantMetric: 'control#purchase',
  segments: [
    ['country', 'US'],
    ['device', 'ios'],
  ],
  scaledValue: -2_500_000n,
});

describe('encodeChunk', () => {
  it('lays out the count, the smallest and largest position, the fixed bytes and six strings per request', () => {
    const requests = [
      request('0123abcd-0000-4000-8000-00000000000a', '20', 1),
      request('FFFFFFFF-FFFF-4FFF-BFFF-FFFFFFFFFFFF', '9'),
      request('00000000-0000-4000-8000-000000000001', '100'),
    ];
    const args = encodeChunk(requests, 1, 2, '7');
    expect(args.slice(0, 3)).toEqual([
      '2',
      compactPosition(requests[1]!.position),
      compactPosition(requests[2]!.position),
    ]);
    const fixed = args[3] as Buffer;
    expect(fixed).toHaveLength(2 * REQUEST_FIXED_BYTES);
    expect(fixed.subarray(0, 16).toString('hex')).toBe('ffffffffffff4fffbfffffffffffffff'); // upper case accepted
    expect(fixed.subarray(REQUEST_FIXED_BYTES, REQUEST_FIXED_BYTES + 16).toString('hex')).toBe(
      '00000000000040008000000000000001',
    );
    // Claim tokens differ per record identity; user buckets are below 4096.
    expect(fixed.subarray(16, 24).equals(fixed.subarray(REQUEST_FIXED_BYTES + 16, REQUEST_FIXED_BYTES + 24))).toBe(
      false,
    );
    expect(fixed.readUInt16BE(28)).toBeLessThan(4096);
    expect(args.slice(4, 4 + REQUEST_STRING_ARGS)).toEqual([
      compactPosition(requests[1]!.position),
      'exp',
      'ann',
      'control#purchase',
      '-2500000',
      'country\u001fUS\u001edevice\u001fios',
    ]);
    expect(args).toHaveLength(4 + 2 * REQUEST_STRING_ARGS);
  });

  it.each([
    ['too short', '0123abcd-0000-4000-8000-00000000000'],
    ['not hex', '0123abcg-0000-4000-8000-00000000000a'],
    ['no dashes', '0123abcd0000400080000000000000000a00'],
    ['empty', ''],
  ])('refuses an eventId that is not a UUID (%s), never truncating it into a claim', (_, eventId) => {
    expect(() => encodeChunk([request(eventId, '1')], 0, 1, '0')).toThrow(
      expect.objectContaining({ code: 'INTERNAL', message: expect.stringContaining('not a UUID') }),
    );
  });
});

describe('readOutcomes', () => {
  it('reads one outcome per request, sharing parsed segments', () => {
    const into: StateOutcome[] = [];
    readOutcomes(['c,d,r,a1:-,p2:-1500,a1:42', 'country=US\u001edevice=a=b', ''], 'e', into);
    expect(into).toEqual([
      { kind: 'committed' },
      { kind: 'duplicate' },
      { kind: 'refused', rule: 'user-total-limit' },
      {
        kind: 'applied',
        replay: false,
        segments: [
          ['country', 'US'],
          ['device', 'a=b'],
        ],
        totalBefore: undefined,
      },
      { kind: 'applied', replay: true, segments: [], totalBefore: -1500n },
      expect.objectContaining({ kind: 'applied', replay: false, totalBefore: 42n }),
    ]);
    expect(into[5]).toHaveProperty('segments', (into[3] as { segments: unknown }).segments);
  });

  it('turns an epoch mismatch into STATE_LOST naming both epochs', () => {
    expect(() => readOutcomes(['!', 'other-epoch'], 'mine', [])).toThrow(
      expect.objectContaining({ code: 'STATE_LOST', details: { expected: 'mine', actual: 'other-epoch' } }),
    );
    expect(() => readOutcomes(['!', ''], 'mine', [])).toThrow(
      expect.objectContaining({ code: 'STATE_LOST', details: { expected: 'mine', actual: undefined } }),
    );
  });
});
