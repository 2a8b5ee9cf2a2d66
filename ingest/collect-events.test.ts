import { describe, expect, it } from 'vitest';
import { decodeCompactRecord } from '../common/compact-records.js';
import { DEFAULT_EVENT_LIMITS } from '../common/config.js';
import { createEventIdGenerator, uuidText } from '../common/event-ids.js';
import { collectEvents } from './collect-events.js';
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
