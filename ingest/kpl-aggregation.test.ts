import { describe, expect, it } from 'vitest';
import { decodeCompactRecord, isCompactRecord } from '../common/compact-records.js';
import { DEFAULT_EVENT_LIMITS } from '../common/config.js';
import type { StreamEvent } from '../common/event-contract.js';
import { createEventIdGenerator, eventIdBytesWriter } from '../common/event-ids.js';
import { MAX_AGGREGATE_BYTES, packCompactByShard } from './kpl-aggregation.js';
import { ShardMap } from './shard-map.js';

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
      const event: StreamEvent = {
        version: 1,
        eventId,
        type: 'impression',
        experimentId: 'exp',
        variantId: i % 2 === 0 ? 'control' : 'treatment',
        userId: `user-${i}`,
        value: 1,
        timestamp: Date.UTC(2026, 10, 27, 10),
        receivedAt: Date.UTC(2026, 10, 27, 10),
      };
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
