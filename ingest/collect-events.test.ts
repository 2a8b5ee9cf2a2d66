import { describe, expect, it } from 'vitest';
import { decodeCompactRecord } from '../common/compact-records.js';
import { DEFAULT_EVENT_LIMITS } from '../common/config.js';
import { createEventIdGenerator, uuidText } from '../common/event-ids.js';
import { IncomingEventSchema, MAX_COVARIATES } from '../common/event-contract.js';
import { collectEvents, VALIDATOR_DEFECT } from './collect-events.js';
import { packCompactByShard } from './kpl-aggregation.js';
import { parseBody } from './parse-body.js';
import { ShardMap } from './shard-map.js';

const now = Date.parse('2026-11-27T10:00:00Z');
const producerId = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';
const body = JSON.stringify([
  { type: 'impression', experimentId: 'exp', variantId: 'control', userId: 'u1' },
  { eventId: producerId, type: 'impression', experimentId: 'exp', variantId: 'control', userId: 'u2' },
  { type: 'conversion', experimentId: 'exp', variantId: 'treatment', userId: 'u3' }, // no metric: invalid
  { type: 'conversion', experimentId: 'exp', variantId: 'treatment', userId: 'u4', metric: 'revenue', value: 9.5 },
  // Not the fast path (a timestamp as text), so the id comes from the full validator.
  { type: 'impression', experimentId: 'exp', variantId: 'control', userId: 'u5', timestamp: '2026-11-27T09:59:00Z' },
]);
const collect = (serialize: boolean, newEventId = createEventIdGenerator()) =>
  collectEvents(parseBody(body, 'json', { maxEvents: 10 }), {
    now,
    limits: DEFAULT_EVENT_LIMITS,
    newEventId,
    serialize,
    onDefect: (error: unknown) => {
      throw error; // the validator never throws here
    },
  });

describe('collectEvents: the bytes of generated eventIds, for compact records', () => {
  it('gives the bytes of every id it generated, and none for an id the producer sent', () => {
    const { valid } = collect(false);
    expect(valid.map((event) => event.index)).toEqual([0, 1, 3, 4]);
    for (const event of valid) {
      if (event.index === 1) {
        expect(event.eventIdBytes).toBeUndefined();
        continue;
      }
      expect(event.eventIdBytes, `event ${event.index}`).toBeDefined();
      expect(uuidText(event.eventIdBytes as Uint8Array, event.eventIdAt)).toBe(event.event.eventId);
    }
  });

  it("gives none for JSON records, nor with a generator other than the collector's", () => {
    expect(collect(true).valid.map((event) => event.eventIdBytes)).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    let n = 0;
    const foreign = () => `0190a1b2-c3d4-7e5f-8a9b-${String(n++).padStart(12, '0')}`;
    expect(collect(false, foreign).valid.map((event) => event.eventIdBytes)).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });

  it("packs records whose eventIds are the events' own (the bytes taken, the text never read)", () => {
    const { valid } = collect(false);
    const shards = new ShardMap([
      { shardId: 'a', startingHashKey: 0n, endingHashKey: 2n ** 127n - 1n },
      { shardId: 'b', startingHashKey: 2n ** 127n, endingHashKey: 2n ** 128n - 1n },
    ]);
    const records = packCompactByShard(
      valid.map((event) => ({ ...event, bytes: event.jsonBytes })),
      shards,
      { compress: false },
    );
    const decoded = records.flatMap((record) => {
      const result = decodeCompactRecord(record.data, 0, DEFAULT_EVENT_LIMITS);
      if (!result.ok) throw new Error(result.rejection.message);
      return result.events.map((event) => (event.ok ? event.event.eventId : 'invalid'));
    });
    expect(decoded.sort()).toEqual(valid.map((event) => event.event.eventId).sort());
    // The packer hands the bytes on: given bytes that disagree with the text win (the encoder's contract).
    const [first] = valid;
    const other = Buffer.from(producerId.replaceAll('-', ''), 'hex');
    const [record] = packCompactByShard([{ ...first!, eventIdBytes: other, eventIdAt: 0, bytes: 1 }], shards, {
      compress: false,
    });
    const result = decodeCompactRecord(record!.data, 0, DEFAULT_EVENT_LIMITS);
    expect(result.ok && result.events[0]?.ok && result.events[0].event.eventId).toBe(producerId);
  });
});

describe('collectEvents: the structural screen before the full validator (rule max-properties)', () => {
  const contractFields = Object.keys(IncomingEventSchema.properties).length;
  const maxEventKeys = 2 * contractFields;
  const base = {
    type: 'impression',
    experimentId: 'exp',
    variantId: 'control',
    userId: 'u',
    timestamp: '2026-11-27T09:59:00Z',
  };
  const defects: unknown[] = [];
  const run = (candidates: unknown[]) =>
    collectEvents(
      { candidates, rejections: [] },
      {
        now,
        limits: DEFAULT_EVENT_LIMITS,
        newEventId: createEventIdGenerator(),
        onDefect: (error) => defects.push(error),
      },
    );
  const keyed = (count: number, prefix: string) =>
    Object.fromEntries(Array.from({ length: count }, (_, i) => [`${prefix}${i}`, 1]));

  it('refuses an event with more fields than twice the contract, by name and count, and takes the events beside it', () => {
    // The text timestamp keeps these off the one-pass path, so the screen runs first.
    const over = { ...base, ...keyed(maxEventKeys + 1 - Object.keys(base).length, 'x') };
    const atLimit = { ...base, ...keyed(maxEventKeys - Object.keys(base).length, 'x') };
    const result = run([base, over, atLimit]);
    expect(result.valid.map((event) => event.index)).toEqual([0]);
    expect(defects).toEqual([]);
    const rejected = result.rejected.report().rejected;
    expect(rejected.find((rejection) => rejection.index === 1)).toEqual({
      index: 1,
      field: '(event)',
      rule: 'max-properties',
      message: `event has more than ${maxEventKeys} fields; the contract has ${contractFields}`,
    });
    // At the limit the screen lets it through: the validator names the unknown fields instead.
    expect(rejected.filter((rejection) => rejection.index === 2).map((rejection) => rejection.rule)).not.toContain(
      'max-properties',
    );
  });

  it.each([
    {
      field: 'segments',
      limit: DEFAULT_EVENT_LIMITS.maxSegments,
      noun: 'dimensions',
      value: (count: number) => Object.fromEntries(Array.from({ length: count }, (_, i) => [`d${i}`, 'v'])),
    },
    { field: 'covariates', limit: MAX_COVARIATES, noun: 'metrics', value: (count: number) => keyed(count, 'm') },
  ])('refuses $field with more $noun than the limit, and takes exactly the limit', ({ field, limit, noun, value }) => {
    const result = run([
      { ...base, [field]: value(limit + 1) },
      { ...base, [field]: value(limit) },
    ]);
    expect(result.valid.map((event) => event.index)).toEqual([1]);
    expect(result.rejected.report().rejected).toEqual([
      {
        index: 0,
        field,
        rule: 'max-properties',
        message: `${field} has more than ${limit} ${noun}; at most ${limit} are allowed`,
      },
    ]);
  });

  it('leaves what is not a plain object to the validator: null, arrays, long text, and segments given as text or an array', () => {
    const longArray = Array.from({ length: maxEventKeys + 5 }, () => 1);
    const longText = 'x'.repeat(maxEventKeys + 5);
    const result = run([null, longArray, longText, { ...base, segments: longArray }, { ...base, segments: longText }]);
    // Refused by the validator's own rules, not the screen's, and not as a defect of ours.
    expect(defects).toEqual([]);
    const rejected = result.rejected.report().rejected;
    expect([...new Set(rejected.map((rejection) => rejection.index))].sort()).toEqual([0, 1, 2, 3, 4]);
    expect(rejected.map((rejection) => rejection.rule)).not.toContain('max-properties');
    expect(rejected.map((rejection) => rejection.rule)).not.toContain(VALIDATOR_DEFECT);
  });
});
