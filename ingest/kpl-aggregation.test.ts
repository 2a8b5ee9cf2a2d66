import { describe, expect, it } from 'vitest';
import { decodeCompactRecord, isCompactRecord } from '../common/compact-records.js';
import { DEFAULT_EVENT_LIMITS } from '../common/config.js';
import type { StreamEvent } from '../common/event-contract.js';
import { createEventIdGenerator, eventIdBytesWriter } from '../common/event-ids.js';
import { aggregateByShard, MAX_AGGREGATE_BYTES, packCompactByShard, userRecordData } from './kpl-aggregation.js';
import { ShardMap } from './shard-map.js';

/** An impression of `userId` at 2026-11-27 10:00 UTC. */
const streamEvent = (userId: string, overrides: Partial<StreamEvent> = {}): StreamEvent => ({
  version: 1,
  eventId: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
  type: 'impression',
  experimentId: 'exp',
  variantId: 'control',
  userId,
  value: 1,
  timestamp: Date.UTC(2026, 10, 27, 10),
  receivedAt: Date.UTC(2026, 10, 27, 10),
  ...overrides,
});

const shards = new ShardMap([
  { shardId: 'shard-a', startingHashKey: 0n, endingHashKey: 2n ** 127n - 1n },
  { shardId: 'shard-b', startingHashKey: 2n ** 127n, endingHashKey: 2n ** 128n - 1n },
]);

describe('packCompactByShard: records sealed at MAX_AGGREGATE_BYTES, each with its own events and ids', () => {
  it('cuts several records per shard, keeps order, and writes every event with its own id (given bytes or text)', () => {
    const newEventId = createEventIdGenerator();
    const writeLast = eventIdBytesWriter(newEventId);
    const slab = Buffer.alloc(16 * 40);
    const entries = Array.from({ length: 40 }, (_, i) => {
      const eventId = newEventId(Date.UTC(2026, 10, 27, 10) + i);
      const withBytes = i % 3 !== 0;
      if (withBytes) expect(writeLast?.(eventId, slab, 16 * i)).toBe(true);
      const event = streamEvent(`user-${i}`, { eventId, variantId: i % 2 === 0 ? 'control' : 'treatment' });
      // A third of the byte budget each: three events fill a record, the fourth starts the next.
      return {
        partitionKey: event.userId,
        event,
        bytes: Math.floor(MAX_AGGREGATE_BYTES / 3),
        eventIdBytes: withBytes ? slab : undefined,
        eventIdAt: 16 * i,
      };
    });
    const records = packCompactByShard(entries, shards, { compress: false });
    const perShard = new Map<string, number>();
    for (const record of records) {
      perShard.set(record.explicitHashKey, (perShard.get(record.explicitHashKey) ?? 0) + 1);
      expect(isCompactRecord(record.data)).toBe(true);
      expect(record.records.length).toBeLessThanOrEqual(3);
      const decoded = decodeCompactRecord(record.data, 0, DEFAULT_EVENT_LIMITS);
      if (!decoded.ok) throw new Error(decoded.rejection.message);
      // The record's events are exactly its refs' events, in order, each with its own id.
      expect(decoded.events.map((event) => (event.ok ? event.event : undefined))).toEqual(
        record.records.map((entry) => entry.event),
      );
      expect(record.partitionKey).toBe(record.records[0]?.partitionKey);
    }
    expect([...perShard.values()].every((count) => count >= 3)).toBe(true);
    expect(records.flatMap((record) => record.records).length).toBe(40);
    // Within a shard, events keep their order.
    for (const shardId of ['shard-a', 'shard-b']) {
      const order = records
        .flatMap((record) => record.records)
        .filter((entry) => shards.shardFor(entry.partitionKey).shardId === shardId)
        .map((entry) => entries.indexOf(entry));
      expect(order).toEqual([...order].sort((a, b) => a - b));
    }
  });
});

describe('aggregateByShard and packCompactByShard: where a record is sealed', () => {
  const oneShard = new ShardMap([{ shardId: 'only', startingHashKey: 0n, endingHashKey: 2n ** 128n - 1n }]);

  it('aggregates KPL user records up to MAX_AGGREGATE_BYTES (data + key + 16 each), then starts the next', () => {
    // Key 'k': a record counts its data's length + 17.
    const record = (name: string, dataBytes: number) => ({
      name,
      partitionKey: 'k',
      data: Buffer.alloc(dataBytes, 0x61),
      bytes: dataBytes,
    });
    const first = 1_000;
    const fitting = [record('a', first), record('b', MAX_AGGREGATE_BYTES - 2 * 17 - first)];
    expect(aggregateByShard(fitting, oneShard).map((aggregate) => aggregate.records.map((r) => r.name))).toEqual([
      ['a', 'b'],
    ]);
    const overflowing = [record('a', first), record('b', MAX_AGGREGATE_BYTES - 2 * 17 - first + 1), record('c', 10)];
    const aggregates = aggregateByShard(overflowing, oneShard);
    expect(aggregates.map((aggregate) => aggregate.records.map((r) => r.name))).toEqual([['a'], ['b', 'c']]);
    for (const aggregate of aggregates) expect(aggregate.explicitHashKey).toBe(aggregates[0]!.explicitHashKey);
    // A record larger than the bound alone still gets an aggregate of its own, not an empty one before it.
    const large = aggregateByShard([record('x', MAX_AGGREGATE_BYTES + 5)], oneShard);
    expect(large.map((aggregate) => aggregate.records.map((r) => r.name))).toEqual([['x']]);
  });

  it('packs compact records up to MAX_AGGREGATE_BYTES of the entries’ counted bytes, then starts the next', () => {
    const entry = (userId: string, bytes: number) => ({ partitionKey: userId, event: streamEvent(userId), bytes });
    const names = (records: ReturnType<typeof packCompactByShard<ReturnType<typeof entry>>>) =>
      records.map((record) => record.records.map((r) => r.partitionKey));
    expect(
      names(
        packCompactByShard([entry('a', 1_000), entry('b', MAX_AGGREGATE_BYTES - 1_000)], oneShard, { compress: false }),
      ),
    ).toEqual([['a', 'b']]);
    const split = packCompactByShard(
      [entry('a', 1_000), entry('b', MAX_AGGREGATE_BYTES - 999), entry('c', 1)],
      oneShard,
      {
        compress: false,
      },
    );
    expect(names(split)).toEqual([['a'], ['b', 'c']]);
    expect(split.map((record) => record.partitionKey)).toEqual(['a', 'b']);
  });

  it('reads an entry’s event from its JSON bytes when it carries no event, and refuses an entry with neither', () => {
    const event = streamEvent('from-bytes');
    const [record] = packCompactByShard(
      [{ partitionKey: 'p', data: Buffer.from(JSON.stringify(event)), bytes: 10 }],
      oneShard,
      { compress: false },
    );
    const decoded = decodeCompactRecord(record!.data, 0, DEFAULT_EVENT_LIMITS);
    if (!decoded.ok) throw new Error(decoded.rejection.message);
    expect(decoded.events.map((read) => (read.ok ? read.event : read))).toEqual([event]);
    expect(() => packCompactByShard([{ partitionKey: 'p', bytes: 10 }], oneShard, { compress: false })).toThrow(
      'a user record needs its data or its event',
    );
  });
});

describe('userRecordData: the JSON bytes of a KPL or JSON record', () => {
  const event = { userId: 'u' } as unknown as StreamEvent;
  it('takes the bytes given, else the JSON text given, else the event serialized; refuses a record with none', () => {
    const data = Buffer.from('{"given":true}');
    expect(userRecordData({ partitionKey: 'p', data, json: '{"json":1}', event, bytes: 0 })).toBe(data);
    // The text as given (its spacing too), not the event serialized again.
    expect(
      Buffer.from(userRecordData({ partitionKey: 'p', json: '{ "userId": "u" }', event, bytes: 0 })).toString(),
    ).toBe('{ "userId": "u" }');
    expect(Buffer.from(userRecordData({ partitionKey: 'p', event, bytes: 0 })).toString()).toBe('{"userId":"u"}');
    expect(() => userRecordData({ partitionKey: 'p', bytes: 0 })).toThrow('a user record needs its data or its event');
  });
});
