/**
 * The local consumer against the real services: kinesalite (source and dead-letter
 * streams), dynalite (checkpoints and counters) and Redis (the counter sink's exactly-once
 * state, under a random key prefix). The sinks are the production ones
 * (processors/test-support/real-sinks.ts); every test ends by comparing the counters table
 * with `computeExpectedCounters`. Only what kinesalite cannot do (throttling, iterator
 * expiry) is injected by wrapping the real Kinesis client.
 */
import { GetRecordsCommand, MergeShardsCommand, SplitShardCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeCompactRecord } from '../../common/compact-records.js';
import type { Config } from '../../common/config.js';
import type { StreamEvent } from '../../common/event-contract.js';
import { createSilentLogger } from '../../common/logger.js';
import { ensureStream } from '../../local/provision.js';
import { testConfig, waitFor } from '../../local/test-support/test-config.js';
import { createProcessorMetrics, type ProcessorMetrics } from '../metrics.js';
import { createPipeline } from '../pipeline.js';
import { sampleEvent } from '../test-support/pipeline-doubles.js';
import { createRealSinks, deleteRedisKeys, sortedCells, type RealSinks } from '../test-support/real-sinks.js';
import type { CounterSink } from '../types.js';
import { createCheckpointStore } from './checkpoint-store.js';
import { createLocalConsumer, type LocalConsumer, type LocalConsumerOptions } from './local-consumer.js';
import {
  interceptKinesis,
  kinesisServiceError,
  provisionConsumer,
  putPayloads,
} from '../test-support/consumer-streams.js';

/** Heavy on two shared cores: real Redis, dynalite and kinesalite behind every batch. */
const TEST_TIMEOUT_MS = 60_000;
const FAST: Partial<LocalConsumerOptions> = {
  pollIntervalMs: 20,
  shardRefreshMs: 100,
  readerRestartDelayMs: 20,
  throttleRetry: { maxAttempts: 10, baseDelayMs: 5, maxDelayMs: 20 },
  batchRetry: { maxAttempts: 10, baseDelayMs: 5, maxDelayMs: 20 },
};

const running: LocalConsumer[] = [];
const openSinks: RealSinks[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((consumer) => consumer.stop()));
  const sinks = openSinks.splice(0);
  await Promise.all(sinks.map((s) => s.close()));
  await deleteRedisKeys([...new Set(sinks.map((s) => s.keyPrefix))]);
});

interface Harness {
  config: Config;
  kinesis: KinesisClient;
  dynamo: DynamoDBClient;
}

async function harness(shards = 2): Promise<Harness> {
  const config = testConfig();
  return { config, ...(await provisionConsumer(config, shards)) };
}

async function realSinks(h: Harness, options: Parameters<typeof createRealSinks>[2] = {}): Promise<RealSinks> {
  const sinks = await createRealSinks(h.config, h, options);
  openSinks.push(sinks);
  return sinks;
}

function startConsumer(
  h: Harness,
  sinks: RealSinks,
  extra: {
    counters?: CounterSink;
    kinesis?: KinesisClient;
    options?: Partial<LocalConsumerOptions>;
    metrics?: ProcessorMetrics;
  } = {},
) {
  const metrics = extra.metrics ?? createProcessorMetrics();
  const logger = createSilentLogger();
  const checkpoints = createCheckpointStore(h.dynamo, h.config.dynamodb.checkpointTable);
  const pipeline = createPipeline({
    counters: extra.counters ?? sinks.counters,
    deadLetters: sinks.deadLetters,
    logger,
    metrics,
    limits: h.config.events,
  });
  const consumer = createLocalConsumer({
    kinesis: extra.kinesis ?? h.kinesis,
    streamName: h.config.kinesis.streamName,
    checkpoints,
    pipeline,
    logger,
    metrics,
    options: { ...FAST, ...extra.options },
  });
  running.push(consumer);
  return { consumer, checkpoints, metrics };
}

/** Impressions and conversions of `count` users, with a segment, so every kind of cell is written. */
const events = (count: number, prefix: string): StreamEvent[] =>
  Array.from({ length: count }, (_, i) =>
    sampleEvent({
      experimentId: `exp-${prefix}`,
      userId: `${prefix}-${i % Math.ceil(count / 2)}`,
      variantId: i % 2 === 0 ? 'control' : 'treatment',
      segments: { country: ['US', 'FR', 'DE'][i % 3]! },
      ...(i % 4 === 3 ? { type: 'conversion' as const, metric: 'buy', value: (i % 7) + 0.25 } : {}),
    }),
  );

/** One partition key per user, as producers do: a user's events stay in order on one shard. */
const records = (list: readonly StreamEvent[]) => list.map((event) => ({ partitionKey: event.userId, data: event }));

const seenUsers = (sinks: RealSinks) => sinks.counters.batches.flatMap((b) => b.events.map((e) => e.event.userId));

/** Every counter cell equals the ground truth computed from `sent` (de-duplicated by eventId there). */
async function expectExactCounters(sinks: RealSinks, sent: readonly StreamEvent[]): Promise<void> {
  const expected = sinks.expectedCounters(sent);
  expect(expected.size).toBeGreaterThan(0);
  expect(sortedCells(await sinks.readCounters())).toEqual(sortedCells(expected));
}

describe('local consumer (kinesalite + dynalite + Redis, real sinks)', () => {
  it(
    'reads every shard, checkpoints, and resumes after a restart without reprocessing',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const h = await harness(3);
      const first = events(120, 'a');
      // Producer retries: the same events again in new records; the real sink counts them once.
      const retried = first.slice(0, 5);
      await putPayloads(h.kinesis, h.config.kinesis.streamName, [
        ...records(first),
        ...records(retried),
        { partitionKey: 'bad-1', data: Buffer.from('{"not json') },
      ]);
      const sinks = await realSinks(h);
      const run1 = startConsumer(h, sinks);
      await run1.consumer.start();
      await waitFor(() => sinks.counters.delivered === 125, 20_000, '125 events at the counter sink');
      await run1.consumer.stop();
      expect(sinks.counters.counted).toBe(120);
      expect((await run1.checkpoints.readAll()).size).toBeGreaterThanOrEqual(2);

      const second = events(30, 'b');
      await putPayloads(h.kinesis, h.config.kinesis.streamName, records(second));
      // The restarted process: a new sink over the same durable state and table.
      const restartedSinks = await realSinks(h, { keyPrefix: sinks.keyPrefix });
      const run2 = startConsumer(h, restartedSinks);
      await run2.consumer.start();
      await waitFor(() => restartedSinks.counters.delivered === 30, 20_000, '30 new events');
      expect(seenUsers(restartedSinks).every((user) => user.startsWith('b-'))).toBe(true);
      expect(restartedSinks.counters.counted).toBe(30);
      await expectExactCounters(sinks, [...first, ...retried, ...second]);
      const letters = await sinks.readDeadLetters();
      expect(letters.map((l) => l.decoding.ok && l.decoding.envelope.reasons[0]?.rule)).toEqual(['json']);
    },
  );

  it(
    'reads a split parent to its end before its children, then marks it finished',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const h = await harness(1);
      const stream = h.config.kinesis.streamName;
      const parent = events(40, 'parent');
      await putPayloads(h.kinesis, stream, records(parent));
      await h.kinesis.send(
        new SplitShardCommand({
          StreamName: stream,
          ShardToSplit: 'shardId-000000000000',
          NewStartingHashKey: (2n ** 127n).toString(),
        }),
      );
      await ensureStream(h.kinesis, stream, 1);
      const child = events(40, 'child');
      await putPayloads(h.kinesis, stream, records(child));
      const sinks = await realSinks(h);
      const { consumer, checkpoints } = startConsumer(h, sinks);
      await consumer.start();
      await waitFor(() => sinks.counters.delivered === 80, 20_000, 'all 80 events');
      const order = seenUsers(sinks);
      const lastParent = order.map((u) => u.startsWith('parent')).lastIndexOf(true);
      const firstChild = order.findIndex((u) => u.startsWith('child'));
      expect(lastParent).toBeLessThan(firstChild);
      expect(await checkpoints.read('shardId-000000000000')).toMatchObject({ finished: true });

      // merging the two children ends both; their child starts only when both are finished
      await h.kinesis.send(
        new MergeShardsCommand({
          StreamName: stream,
          ShardToMerge: 'shardId-000000000001',
          AdjacentShardToMerge: 'shardId-000000000002',
        }),
      );
      await ensureStream(h.kinesis, stream, 1);
      const merged = events(10, 'merged');
      await putPayloads(h.kinesis, stream, records(merged));
      await waitFor(() => sinks.counters.delivered === 90, 20_000, 'events of the merged shard');
      expect(await checkpoints.read('shardId-000000000001')).toMatchObject({ finished: true });
      expect(await checkpoints.read('shardId-000000000002')).toMatchObject({ finished: true });
      expect(sinks.counters.counted).toBe(90);
      await expectExactCounters(sinks, [...parent, ...child, ...merged]);
    },
  );

  it(
    'renews an expired iterator from the checkpoint (expiry injected: kinesalite iterators last 5 min)',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const h = await harness(1);
      const sent = events(20, 'x');
      await putPayloads(h.kinesis, h.config.kinesis.streamName, records(sent));
      let getRecordsCalls = 0;
      const kinesis = interceptKinesis(h.kinesis, (name) => {
        if (name === 'GetRecordsCommand' && ++getRecordsCalls === 2)
          throw kinesisServiceError('ExpiredIteratorException');
      });
      const sinks = await realSinks(h);
      const { consumer, metrics } = startConsumer(h, sinks, { kinesis, options: { batchMaxRecords: 10 } });
      await consumer.start();
      await waitFor(() => sinks.counters.counted === 20, 20_000, 'all events');
      expect((await metrics.iteratorRenewals.get()).values[0]?.value).toBe(1);
      // after renewal, reading resumed right after the checkpoint: no record delivered twice
      expect(sinks.counters.delivered).toBe(20);
      await expectExactCounters(sinks, sent);
    },
  );

  it(
    'backs off on throttling and loses nothing (throttling injected: kinesalite never throttles)',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const h = await harness(2);
      const sent = events(50, 't');
      await putPayloads(h.kinesis, h.config.kinesis.streamName, records(sent));
      let calls = 0;
      const kinesis = interceptKinesis(h.kinesis, (name) => {
        if (name === 'GetRecordsCommand' && ++calls % 2 === 1 && calls < 12)
          throw kinesisServiceError('ProvisionedThroughputExceededException');
      });
      const sinks = await realSinks(h);
      const { consumer, metrics } = startConsumer(h, sinks, { kinesis });
      await consumer.start();
      await waitFor(() => sinks.counters.counted === 50, 20_000, 'all events');
      const throttles = (await metrics.throttles.get()).values.find((v) => v.labels.api === 'GetRecords');
      expect(throttles?.value).toBeGreaterThanOrEqual(2);
      await expectExactCounters(sinks, sent);
    },
  );

  it(
    'retries a batch whose sink failed (once after its write landed) and checkpoints only after it succeeded',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const h = await harness(1);
      const sent = events(15, 'f');
      await putPayloads(h.kinesis, h.config.kinesis.streamName, records(sent));
      const checkpoints = createCheckpointStore(h.dynamo, h.config.dynamodb.checkpointTable);
      let calls = 0;
      let checkpointBeforeSuccess: unknown = 'unread';
      const sinks = await realSinks(h, {
        wrapCounters: (real) => ({
          async writeBatch(shardId, batch) {
            calls += 1;
            if (calls === 1) {
              // The write reaches DynamoDB and Redis, then the acknowledgement is lost.
              await real.writeBatch(shardId, batch);
              throw new Error('injected: connection reset after the counter write');
            }
            if (calls <= 3) throw new Error('injected: counter store unavailable');
            if (checkpointBeforeSuccess === 'unread') checkpointBeforeSuccess = await checkpoints.read(shardId);
            return real.writeBatch(shardId, batch);
          },
        }),
      });
      const { consumer, metrics } = startConsumer(h, sinks);
      await consumer.start();
      await waitFor(() => sinks.counters.delivered === 15, 20_000, 'all events acknowledged');
      expect(checkpointBeforeSuccess).toBeUndefined();
      await waitFor(async () => (await checkpoints.read('shardId-000000000000'))?.sequenceNumber, 5_000, 'checkpoint');
      expect((await metrics.batchFailures.get()).values[0]?.value).toBe(3);
      // The retry found the landed write: nothing counted twice.
      expect(sinks.counters.counted).toBe(0);
      await expectExactCounters(sinks, sent);
    },
  );

  it(
    'holds one batch per shard: a blocked sink stops reading; stop() finishes and checkpoints it',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const h = await harness(1);
      const sent = events(30, 's');
      await putPayloads(h.kinesis, h.config.kinesis.streamName, records(sent));
      let getRecordsCalls = 0;
      const kinesis = interceptKinesis(h.kinesis, (name) => {
        if (name === 'GetRecordsCommand') getRecordsCalls += 1;
      });
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let entered = 0;
      const sinks = await realSinks(h, {
        wrapCounters: (real) => ({
          writeBatch: async (shardId, batch) => {
            entered += 1;
            await gate;
            return real.writeBatch(shardId, batch);
          },
        }),
      });
      const { consumer, checkpoints } = startConsumer(h, sinks, { kinesis, options: { batchMaxRecords: 10 } });
      await consumer.start();
      await waitFor(() => entered === 1, 10_000, 'the first batch to reach the sink');
      const callsWhileBlocked = getRecordsCalls;
      const stopped = consumer.stop();
      release();
      await stopped;
      expect(callsWhileBlocked).toBe(1);
      expect(sinks.counters.delivered).toBe(10);
      const checkpoint = await checkpoints.read('shardId-000000000000');
      expect(checkpoint?.sequenceNumber).toBe(sinks.counters.batches[0]!.events.at(-1)!.id.sequenceNumber);
      await expectExactCounters(sinks, sent.slice(0, 10));
    },
  );
});

describe('checkpoint store (dynalite)', () => {
  it('never moves a checkpoint back: a stale worker gets "stale"', async () => {
    const h = await harness(1);
    const store = createCheckpointStore(h.dynamo, h.config.dynamodb.checkpointTable);
    const newer = '49650000000000000000000000000000000000000000000000000002';
    const older = '49650000000000000000000000000000000000000000000000000001';
    expect(await store.save('shard-a', newer)).toBe('ok');
    expect(await store.save('shard-a', older)).toBe('stale');
    expect(await store.save('shard-a', newer)).toBe('ok');
    expect(await store.read('shard-a')).toEqual({ sequenceNumber: newer, finished: false });
    expect(await store.save('shard-a', undefined, { finished: true })).toBe('ok');
    expect(await store.read('shard-a')).toEqual({ sequenceNumber: newer, finished: true });
  });
});

describe('local consumer: flush interval and batch bounds (kinesalite + dynalite + Redis, real sinks)', () => {
  it(
    'gathers records across GetRecords calls for the flush interval and writes them as one batch',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const h = await harness(1);
      const sent = events(12, 'flush');
      await putPayloads(h.kinesis, h.config.kinesis.streamName, records(sent));
      const sinks = await realSinks(h);
      // GetRecords returns at most 4 records: three responses before the reader is caught up.
      const run = startConsumer(h, sinks, { options: { batchMaxRecords: 4, flushIntervalMs: 2_000 } });
      await run.consumer.start();
      await waitFor(() => sinks.counters.delivered === 12, 20_000, '12 events at the counter sink');
      expect(sinks.counters.batches.map((batch) => batch.events.length)).toEqual([12]);
      await expectExactCounters(sinks, sent);
    },
  );

  it(
    'without a flush interval, writes each GetRecords response as its own batch (the control case)',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const h = await harness(1);
      const sent = events(12, 'noflush');
      await putPayloads(h.kinesis, h.config.kinesis.streamName, records(sent));
      const sinks = await realSinks(h);
      const run = startConsumer(h, sinks, { options: { batchMaxRecords: 4, flushIntervalMs: 0 } });
      await run.consumer.start();
      await waitFor(() => sinks.counters.delivered === 12, 20_000, '12 events at the counter sink');
      expect(sinks.counters.batches.map((batch) => batch.events.length)).toEqual([4, 4, 4]);
      await expectExactCounters(sinks, sent);
    },
  );

  it(
    'cuts a batch at batchBudgetBytes of record bytes (one shard: the whole budget), however long the flush interval',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const h = await harness(1);
      const sent = events(12, 'bytes');
      await putPayloads(h.kinesis, h.config.kinesis.streamName, records(sent));
      const recordBytes = Buffer.byteLength(JSON.stringify(sent[0]));
      const sinks = await realSinks(h);
      const run = startConsumer(h, sinks, {
        // Room for about three records per batch; the interval alone would wait a minute.
        options: { flushIntervalMs: 60_000, batchBudgetBytes: Math.floor(recordBytes * 3.5) },
      });
      await run.consumer.start();
      await waitFor(() => sinks.counters.delivered === 12, 20_000, '12 events at the counter sink');
      const sizes = sinks.counters.batches.map((batch) => batch.events.length);
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(12);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(3);
      await expectExactCounters(sinks, sent);
    },
  );

  it(
    'reads compact records (many events per record) and counts every event exactly',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const h = await harness(1);
      const sent = events(40, 'compact').map((e, i) => ({
        ...e,
        eventId: `0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f${String(i).padStart(4, '0')}`,
      }));
      await putPayloads(h.kinesis, h.config.kinesis.streamName, [
        { partitionKey: 'p', data: encodeCompactRecord(sent.slice(0, 25)) },
        { partitionKey: 'p', data: encodeCompactRecord(sent.slice(25), { compress: true }) },
      ]);
      const sinks = await realSinks(h);
      const run = startConsumer(h, sinks);
      await run.consumer.start();
      await waitFor(() => sinks.counters.delivered === 40, 20_000, '40 events at the counter sink');
      await expectExactCounters(sinks, sent);
    },
  );

  it(
    'cuts a batch at batchBudgetUserRecords after de-aggregation, and asks GetRecords for no more than fits',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const h = await harness(1);
      // 150 compact records of 4 events: 600 events in about 30 KB, far below the bytes bound.
      const sent = events(600, 'user-records').map((e, i) => ({
        ...e,
        eventId: `0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f${String(i).padStart(4, '0')}`,
      }));
      const compact = Array.from({ length: 150 }, (_, r) => ({
        partitionKey: `p${r}`,
        data: encodeCompactRecord(sent.slice(r * 4, r * 4 + 4)),
      }));
      await putPayloads(h.kinesis, h.config.kinesis.streamName, compact);
      const limits: number[] = [];
      const kinesis = new Proxy(h.kinesis, {
        get(target, property, receiver) {
          if (property !== 'send') return Reflect.get(target, property, receiver) as unknown;
          return (command: { input: { Limit?: number } }) => {
            if (command instanceof GetRecordsCommand) limits.push(command.input.Limit ?? 10_000);
            return target.send(command as never);
          };
        },
      });
      const sinks = await realSinks(h);
      // The interval alone would gather everything for a second: before, one batch of 600 events (one response).
      // (The last, partial batch waits that second: caught up, a batch that is not full waits its interval.)
      const run = startConsumer(h, sinks, { kinesis, options: { flushIntervalMs: 1_000, batchBudgetUserRecords: 50 } });
      await run.consumer.start();
      await waitFor(() => sinks.counters.delivered === 600, 30_000, '600 events at the counter sink');
      const sizes = sinks.counters.batches.map((batch) => batch.events.length);
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(600);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(50);
      // The first call probes with 100 records; once sizes are known, each asks for what is left of the batch
      // (12 records of 4 events), not for 10,000 records.
      expect(limits[0]).toBe(100);
      expect(Math.max(...limits.slice(1))).toBeLessThanOrEqual(12);
      await expectExactCounters(sinks, sent);
    },
  );

  it(
    'divides the batch budget among the shards it reads: two shards, half the user records each',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const h = await harness(2);
      // Plain records (one user record each, so the bound is exact) spread over both shards by their partition keys.
      const sent = events(600, 'two-shards');
      await putPayloads(h.kinesis, h.config.kinesis.streamName, records(sent));
      const sinks = await realSinks(h);
      const run = startConsumer(h, sinks, { options: { flushIntervalMs: 1_000, batchBudgetUserRecords: 400 } });
      await run.consumer.start();
      await waitFor(() => sinks.counters.delivered === 600, 30_000, '600 events at the counter sink');
      expect(new Set(sinks.counters.batches.map((batch) => batch.shardId)).size).toBe(2);
      const sizes = sinks.counters.batches.map((batch) => batch.events.length);
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(600);
      // Before: each shard's batches had the whole budget (400 user records), twice the process's bound in all.
      expect(Math.max(...sizes)).toBeLessThanOrEqual(200);
      await expectExactCounters(sinks, sent);
    },
  );
});

describe('local consumer: static shard assignment (kinesalite + dynalite + Redis, real sinks)', () => {
  it(
    'two processes with assignments 0/2 and 1/2 read disjoint shards and together count every event once',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const h = await harness(4);
      const sent = events(80, 'assigned');
      await putPayloads(h.kinesis, h.config.kinesis.streamName, records(sent));
      const first = await realSinks(h);
      // The second process shares the durable state (same key prefix) and the counters table.
      const second = await realSinks(h, { keyPrefix: first.keyPrefix });
      const a = startConsumer(h, first, { options: { assignment: { index: 0, of: 2 } } });
      const b = startConsumer(h, second, { options: { assignment: { index: 1, of: 2 } } });
      await a.consumer.start();
      await b.consumer.start();
      expect(a.consumer.activeShards().sort()).toEqual(['shardId-000000000000', 'shardId-000000000002']);
      expect(b.consumer.activeShards().sort()).toEqual(['shardId-000000000001', 'shardId-000000000003']);
      await waitFor(
        () => first.counters.delivered + second.counters.delivered === 80,
        20_000,
        '80 events across both processes',
      );
      const shardsOf = (sinks: RealSinks) => new Set(sinks.counters.batches.map((batch) => batch.shardId));
      expect([...shardsOf(first)].every((shard) => /[02]$/.test(shard))).toBe(true);
      expect([...shardsOf(second)].every((shard) => /[13]$/.test(shard))).toBe(true);
      await expectExactCounters(first, sent);
    },
  );
});
