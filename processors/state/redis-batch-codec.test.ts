import { describe, expect, it } from 'vitest';
import { fnv1a32 } from '../../common/hashing.js';
import { recordPosition } from '../sequence-number.js';
import { encodeChunk, readAnswers } from './redis-batch-codec.js';
import { StateAnswers } from './state-answers.js';
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
  scaledValue: -2_500_000,
});

describe('encodeChunk', () => {
  it('refuses a request whose value is not a safe integer (INTERNAL), like the synchronous stores', () => {
    for (const scaledValue of [Number.NaN, 0.5, 2 ** 53]) {
      const requests = [{ ...request('00000000-0000-4000-8000-000000000001', '1'), scaledValue }];
      expect(() => encodeChunk(requests, 0, 1, '7')).toThrow(
        expect.objectContaining({ code: 'INTERNAL', message: expect.stringContaining('not a safe integer') }),
      );
    }
  });

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

  it('sends partners after the variant#metric and covariates after the segments, each after a ␝, and nothing without them', () => {
    const plain = request('00000000-0000-4000-8000-000000000001', '1');
    const extended: StateRequest = {
      ...plain,
      partners: ['control#sessions', 'control#$exposure'],
      covariates: [
        ['revenue', -12_500_000],
        ['sessions', 3],
      ],
    };
    const empty: StateRequest = { ...plain, partners: [], covariates: [] };
    const strings = (one: StateRequest) => encodeChunk([one], 0, 1, '0').slice(4);
    expect(strings(extended)).toEqual([
      compactPosition(plain.position),
      'exp',
      'ann',
      'control#purchase\u001dcontrol#sessions\u001econtrol#$exposure',
      '-2500000',
      'country\u001fUS\u001edevice\u001fios\u001drevenue\u001f-12500000\u001esessions\u001f3',
    ]);
    expect(strings(empty)).toEqual(strings(plain));
    expect(strings(plain)[3]).toBe('control#purchase');
    // Covariates without segments still follow a ␝.
    expect(strings({ ...plain, segments: [], covariates: [['m', 1]] })[5]).toBe('\u001dm\u001f1');
  });

  it('refuses a covariate the Lua could not keep exactly (beyond ±2^52 scaled), and takes ±2^52', () => {
    const at = (value: number) => ({
      ...request('00000000-0000-4000-8000-000000000001', '1'),
      covariates: [['m', value]] as const,
    });
    for (const value of [2 ** 52, -(2 ** 52)]) expect(() => encodeChunk([at(value)], 0, 1, '0')).not.toThrow();
    for (const value of [2 ** 52 + 1, -(2 ** 52) - 1]) {
      expect(() => encodeChunk([at(value)], 0, 1, '0')).toThrow(
        expect.objectContaining({
          code: 'INTERNAL',
          message: `state request covariate m is beyond ±2^52 (scaled): ${value}`,
        }),
      );
    }
  });

  it('sends the smallest and the largest position of a chunk whatever the order of its requests', () => {
    // The script fences the chunk and names its memos by this range: a wrong end misses a record.
    const requests = [
      request('00000000-0000-4000-8000-000000000001', '20'),
      request('00000000-0000-4000-8000-000000000002', '9'),
      request('00000000-0000-4000-8000-000000000003', '100'),
      request('00000000-0000-4000-8000-000000000004', '50'),
    ];
    expect(encodeChunk(requests, 0, 4, '0').slice(0, 3)).toEqual([
      '4',
      compactPosition(requests[1]!.position),
      compactPosition(requests[2]!.position),
    ]);
  });

  it('gives two records whose identities share the first 32-bit hash different 64-bit claim tokens', () => {
    // Two records of shard 0 whose identities ("0@<compact position>") collide in FNV-1a 32 (found by search).
    const first = recordPosition('49590338271490256608559692538361571095921575989436687322', 0);
    const second = recordPosition('49590338271490256608559692538361571095921575989607325934', 0);
    expect(fnv1a32(`0@${compactPosition(first)}`)).toBe(fnv1a32(`0@${compactPosition(second)}`));
    const eventId = '00000000-0000-4000-8000-000000000001';
    const tokenOf = (position: string) =>
      (encodeChunk([{ ...request(eventId, '1'), position }], 0, 1, '0')[3] as Buffer).subarray(16, 24);
    expect(tokenOf(first).subarray(0, 4).equals(tokenOf(second).subarray(0, 4))).toBe(true);
    expect(tokenOf(first).equals(tokenOf(second))).toBe(false);
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

/** The answers of one reply as the contract's objects (room for 100 answers). */
function readOutcomes(reply: unknown, epoch = 'e'): StateOutcome[] {
  const answers = new StateAnswers(100);
  const end = readAnswers(reply, epoch, answers, 0);
  return Array.from({ length: end }, (_, index) => answers.outcome(index));
}

describe('readAnswers', () => {
  it('reads one answer per request, sharing parsed segments', () => {
    const into = readOutcomes(['c,d,r,a1:-,p2:-1500,a1:42', 'country=US\u001edevice=a=b', '']);
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
        covariates: [],
        partnerTotals: [],
      },
      { kind: 'applied', replay: true, segments: [], totalBefore: -1500, covariates: [], partnerTotals: [] },
      expect.objectContaining({ kind: 'applied', replay: false, totalBefore: 42 }),
    ]);
    expect(into[5]).toHaveProperty('segments', (into[3] as { segments: unknown }).segments);
  });

  it('reads covariates after a ␝ in the user text and partner totals after the total before, "-" for none', () => {
    const into = readOutcomes([
      'a1:-:5:-,p2:7:-12,a3:-',
      'country=US\u001drevenue=-12500000\u001esessions=0',
      '\u001dm=1',
      'country=US',
    ]);
    expect(into).toEqual([
      {
        kind: 'applied',
        replay: false,
        segments: [['country', 'US']],
        totalBefore: undefined,
        covariates: [
          ['revenue', -12_500_000],
          ['sessions', 0],
        ],
        partnerTotals: [5, undefined],
      },
      { kind: 'applied', replay: true, segments: [], totalBefore: 7, covariates: [['m', 1]], partnerTotals: [-12] },
      {
        kind: 'applied',
        replay: false,
        segments: [['country', 'US']],
        totalBefore: undefined,
        covariates: [],
        partnerTotals: [],
      },
    ]);
    // Users with covariates share the parsed segments of users without.
    expect(into[0]).toHaveProperty('segments', (into[2] as { segments: unknown }).segments);
  });

  it('reads an empty reply (a chunk of no requests) as no answers', () => {
    const answers = new StateAnswers(1);
    expect(readAnswers([], 'e', answers, 0)).toBe(0);
    expect(readAnswers([''], 'e', answers, 0)).toBe(0);
    expect(answers.kinds[0]).toBe(0);
  });

  it("writes each chunk's answers after the last one's, and refuses a reply with more answers than requests", () => {
    const answers = new StateAnswers(3);
    const next = readAnswers(['d,a1:4', 'country=US'], 'e', answers, 0);
    expect(next).toBe(2);
    expect(readAnswers(['c'], 'e', answers, next)).toBe(3);
    expect(answers.outcomes()).toEqual([
      { kind: 'duplicate' },
      {
        kind: 'applied',
        replay: false,
        segments: [['country', 'US']],
        totalBefore: 4,
        covariates: [],
        partnerTotals: [],
      },
      { kind: 'committed' },
    ]);
    const full = new StateAnswers(2);
    expect(() => readAnswers(['d,d,d'], 'e', full, 0)).toThrow(
      expect.objectContaining({ code: 'INTERNAL', message: 'state script answered 3 of 2 requests' }),
    );
    expect(full.kinds).toEqual(new Uint8Array(2)); // nothing written past the end, nor before it
  });

  it('shares one parsed segments array per user text across replies, keeping at most 10,000 texts', () => {
    const segmentsOf = (text: string): unknown => {
      return (readOutcomes(['a1:-', text])[0] as { segments: unknown }).segments;
    };
    let shared = segmentsOf('bound=a');
    expect(shared).toEqual([['bound', 'a']]);
    expect(segmentsOf('bound=b')).toEqual([['bound', 'b']]);
    expect(segmentsOf('bound=a')).toBe(shared);
    // New texts until the cache starts over (other tests filled it partly): it then holds one text, and a.
    let fresh = 0;
    while (segmentsOf('bound=a') === shared) {
      segmentsOf(`bound=${fresh++}`);
      expect(fresh).toBeLessThanOrEqual(10_000);
    }
    shared = segmentsOf('bound=a');
    for (let i = 0; i < 9_998; i++) segmentsOf(`bound=again-${i}`);
    expect(segmentsOf('bound=a')).toBe(shared); // 10,000 texts held
    segmentsOf('bound=one-more');
    expect(segmentsOf('bound=a')).not.toBe(shared); // the 10,001st started it over
    expect(segmentsOf('bound=a')).toEqual([['bound', 'a']]);
  });

  it('turns an epoch mismatch into STATE_LOST naming both epochs', () => {
    expect(() => readOutcomes(['!', 'other-epoch'], 'mine')).toThrow(
      expect.objectContaining({ code: 'STATE_LOST', details: { expected: 'mine', actual: 'other-epoch' } }),
    );
    expect(() => readOutcomes(['!', ''], 'mine')).toThrow(
      expect.objectContaining({ code: 'STATE_LOST', details: { expected: 'mine', actual: undefined } }),
    );
  });
});
