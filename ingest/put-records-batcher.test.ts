import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKinesisClient } from '../common/aws-clients.js';
import { decodeCompactRecord } from '../common/compact-records.js';
import { DEFAULT_EVENT_LIMITS } from '../common/config.js';
import type { StreamEvent } from '../common/event-contract.js';
import { DEFAULT_RETRY_POLICY } from '../common/retry.js';
import { ensureStream } from '../local/provision.js';
import { readAllRecords } from '../local/test-support/stream-reader.js';
import { deaggregateRecord } from '../processors/decode/deaggregate.js';
import { randomName, testConfig } from '../local/test-support/test-config.js';
import { PutRecordsBatcher, type EntryOutcome, type StreamEntry } from './put-records-batcher.js';
import { loadShardMap } from './stream-shards.js';
import { FaultInjectingKinesis } from './test-support/fault-injecting-kinesis.js';

const REFUSED_USER = 'refused-user';

function entryFor(userId: string, n: number): StreamEntry {
  const event: StreamEvent = {
    version: 1,
    eventId: `0190a0b0-0000-7000-8000-${String(n).padStart(12, '0')}`,
    type: 'impression',
    experimentId: 'exp',
    variantId: 'control',
    userId,
    value: 1,
    timestamp: 1_700_000_000_000,
    receivedAt: 1_700_000_000_000,
  };
  return { partitionKey: userId, data: Buffer.from(JSON.stringify(event)), event };
}

describe('PutRecordsBatcher: outcomes per submit (kinesalite, one partition key refused by a fault-injecting wrapper)', () => {
  let kinesis: KinesisClient;
  const streamName = randomName('batcher');
  beforeAll(async () => {
    kinesis = createKinesisClient(testConfig());
    await ensureStream(kinesis, streamName, 2);
  });
  afterAll(() => kinesis.destroy());

  for (const format of ['json', 'compact'] as const) {
    it(`resolves concurrent submits sharing calls each with its own outcomes in entry order (${format})`, async () => {
      const shardMap = await loadShardMap(kinesis, streamName);
      const refusedShard = shardMap.shardFor(REFUSED_USER).shardId;
      const faulty = new FaultInjectingKinesis(kinesis, {
        // json: the refused user's own record; compact (one record per shard, keyed by its first event): its shard's.
        failEntry: (_call, key) =>
          key === REFUSED_USER || (format === 'compact' && shardMap.shardFor(key).shardId === refusedShard)
            ? 'InternalFailure'
            : undefined,
      });
      const batcher = new PutRecordsBatcher({
        kinesis: faulty,
        streamName,
        lingerMs: 20,
        maxBufferBytes: 1024 * 1024,
        concurrency: 2,
        retryPolicy: { ...DEFAULT_RETRY_POLICY, maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
        ...(format === 'compact' ? { shardMap: () => shardMap, compact: { compress: false } } : {}),
      });
      // Three requests in one linger window: their entries travel in the same PutRecords calls.
      const requests = [0, 1, 2].map((r) =>
        Array.from({ length: 5 }, (_, i) => (r === 1 && i === 3 ? REFUSED_USER : `user-${r}-${i}`)),
      );
      const outcomes = await Promise.all(
        requests.map((users, r) => batcher.submit(users.map((user, i) => entryFor(user, r * 10 + i)))),
      );
      await batcher.drain();

      expect(outcomes.map((o) => o.length)).toEqual([5, 5, 5]);
      expect(outcomes[1]?.[3]).toMatchObject({ ok: false, errorCode: 'InternalFailure' });
      requests.forEach((users, r) =>
        users.forEach((user, i) => {
          const outcome = outcomes[r]?.[i] as EntryOutcome;
          // json: only the refused user's record fails; compact: every event packed with it fails too.
          const expectFailed =
            user === REFUSED_USER || (format === 'compact' && shardMap.shardFor(user).shardId === refusedShard);
          expect(outcome.ok, `${format} request ${r} entry ${i} (${user})`).toBe(!expectFailed);
          if (outcome.ok) expect(outcome.shardId).toBe(shardMap.shardFor(user).shardId);
        }),
      );
      // Both outcomes occur beside the refused one (the names spread over both shards).
      expect(outcomes.flat().filter((o) => o.ok).length).toBeGreaterThan(0);
      expect(outcomes.flat().filter((o) => !o.ok).length).toBeGreaterThan(format === 'compact' ? 1 : 0);
      const written = outcomes.flat().filter((o): o is Extract<EntryOutcome, { ok: true }> => o.ok);
      const sequenceNumbers = new Set(written.map((o) => o.sequenceNumber));
      // json: one record per event; compact: the events of one shard share their record's sequence number.
      if (format === 'json') expect(sequenceNumbers.size).toBe(written.length);
      else expect(sequenceNumbers.size).toBe(1);
      expect(batcher.bufferedBytes).toBe(0);
    });
  }

  for (const format of ['json', 'kpl', 'compact'] as const) {
    it(`writes entries given as the event alone (what the compact collector submits) in the ${format} format, and counts their bound while buffered`, async () => {
      const stream = randomName(`alone-${format}`);
      await ensureStream(kinesis, stream, 1);
      const shardMap = await loadShardMap(kinesis, stream);
      const batcher = new PutRecordsBatcher({
        kinesis,
        streamName: stream,
        lingerMs: 20,
        maxBufferBytes: 1024 * 1024,
        concurrency: 1,
        retryPolicy: DEFAULT_RETRY_POLICY,
        ...(format === 'json' ? {} : { shardMap: () => shardMap }),
        ...(format === 'compact' ? { compact: { compress: false } } : {}),
      });
      const events = Array.from({ length: 6 }, (_, i) => entryFor(`alone-${i}`, i).event as StreamEvent);
      const alone: StreamEntry[] = events.map((event) => ({ partitionKey: event.userId, event, jsonBytes: 1000 }));
      const written = batcher.submit(alone);
      // Buffered as their bound (1000 bytes each) plus the partition key.
      expect(batcher.bufferedBytes).toBe(events.reduce((sum, e) => sum + 1000 + e.userId.length, 0));
      expect((await written).every((outcome) => outcome.ok)).toBe(true);
      const records = await readAllRecords(kinesis, stream);
      const read = records.flatMap((record, index): unknown[] => {
        if (format === 'compact') {
          const decoded = decodeCompactRecord(record.data, index, DEFAULT_EVENT_LIMITS);
          return decoded.ok ? decoded.events.map((e) => e.event) : [decoded.rejection];
        }
        const split = deaggregateRecord(record, record.shardId, index);
        return split.ok
          ? split.userRecords.map((u) => JSON.parse(Buffer.from(u.data).toString('utf8')))
          : [split.rejection];
      });
      expect(read).toEqual(events);
      expect(records).toHaveLength(format === 'json' ? events.length : 1);
    });
  }

  for (const format of ['json', 'kpl'] as const) {
    it(`writes the JSON text an entry carries (what the json collector submits) byte for byte in the ${format} format, counting its length while buffered`, async () => {
      const stream = randomName(`text-${format}`);
      await ensureStream(kinesis, stream, 1);
      const shardMap = await loadShardMap(kinesis, stream);
      const batcher = new PutRecordsBatcher({
        kinesis,
        streamName: stream,
        lingerMs: 20,
        maxBufferBytes: 1024 * 1024,
        concurrency: 1,
        retryPolicy: DEFAULT_RETRY_POLICY,
        ...(format === 'kpl' ? { shardMap: () => shardMap } : {}),
      });
      const events = Array.from({ length: 4 }, (_, i) => entryFor(`zoë-${i}`, i).event as StreamEvent);
      // Text the batcher could not have made itself (indented, non-ASCII): what it writes is the caller's.
      const texts = events.map((event) => JSON.stringify(event, null, 1));
      const entries: StreamEntry[] = events.map((event, i) => ({
        partitionKey: event.userId,
        event,
        json: texts[i],
        jsonBytes: Buffer.byteLength(texts[i] as string),
      }));
      const written = batcher.submit(entries);
      expect(batcher.bufferedBytes).toBe(
        entries.reduce(
          (sum, entry) =>
            sum + Buffer.byteLength(texts[entries.indexOf(entry)] as string) + Buffer.byteLength(entry.partitionKey),
          0,
        ),
      );
      expect((await written).every((outcome) => outcome.ok)).toBe(true);
      const records = await readAllRecords(kinesis, stream);
      const read = records.flatMap((record, index): unknown[] => {
        const split = deaggregateRecord(record, record.shardId, index);
        return split.ok ? split.userRecords.map((u) => Buffer.from(u.data).toString('utf8')) : [split.rejection];
      });
      expect(read).toEqual(texts);
    });
  }

  it('resolves an empty submit at once with no outcomes', async () => {
    const batcher = new PutRecordsBatcher({
      kinesis,
      streamName,
      lingerMs: 5,
      maxBufferBytes: 1024,
      concurrency: 1,
      retryPolicy: DEFAULT_RETRY_POLICY,
    });
    await expect(batcher.submit([])).resolves.toEqual([]);
  });
});
