import { MergeShardsCommand, SplitShardCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../common/config.js';
import { createSilentLogger } from '../../common/logger.js';
import { ensureStream } from '../../local/provision.js';
import { testConfig, waitFor } from '../../local/test-support.js';
import { createProcessorMetrics, type ProcessorMetrics } from '../metrics.js';
import { createPipeline } from '../pipeline.js';
import { MemoryCounterSink, MemoryDeadLetterSink, sampleEvent } from '../pipeline/test-doubles.js';
import type { CounterSink } from '../types.js';
import { createCheckpointStore } from './checkpoint-store.js';
import { createLocalConsumer, type LocalConsumer, type LocalConsumerOptions } from './local-consumer.js';
import { interceptKinesis, kinesisServiceError, provisionConsumer, putPayloads } from './test-support.js';

const FAST: Partial<LocalConsumerOptions> = {
  pollIntervalMs: 20,
  shardRefreshMs: 100,
  readerRestartDelayMs: 20,
  throttleRetry: { maxAttempts: 10, baseDelayMs: 5, maxDelayMs: 20 },
  batchRetry: { maxAttempts: 10, baseDelayMs: 5, maxDelayMs: 20 },
};

const running: LocalConsumer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((consumer) => consumer.stop()));
});

interface Harness {
  config: Config;
  kinesis: KinesisClient;
  dynamo: DynamoDBClient;
}

function startConsumer(
  harness: Harness,
  sinks: { counters: CounterSink },
  extra: { kinesis?: KinesisClient; options?: Partial<LocalConsumerOptions>; metrics?: ProcessorMetrics } = {},
) {
  const metrics = extra.metrics ?? createProcessorMetrics();
  const logger = createSilentLogger();
  const checkpoints = createCheckpointStore(harness.dynamo, harness.config.dynamodb.checkpointTable);
  const pipeline = createPipeline({
    counters: sinks.counters,
    deadLetters: new MemoryDeadLetterSink(),
    logger,
    metrics,
    limits: harness.config.events,
  });
  const consumer = createLocalConsumer({
    kinesis: extra.kinesis ?? harness.kinesis,
    streamName: harness.config.kinesis.streamName,
    checkpoints,
    pipeline,
    logger,
    metrics,
    options: { ...FAST, ...extra.options },
  });
  running.push(consumer);
  return { consumer, checkpoints, metrics };
}

const events = (count: number, prefix: string) =>
  Array.from({ length: count }, (_, i) => ({
    partitionKey: `${prefix}-${i % 7}`,
    data: sampleEvent({ userId: `${prefix}-${i}` }),
  }));

const seenUsers = (sink: MemoryCounterSink) => sink.batches.flatMap((b) => b.events.map((e) => e.event.userId));

async function harness(shards = 2): Promise<Harness> {
  const config = testConfig();
  return { config, ...(await provisionConsumer(config, shards)) };
}

describe('local consumer (kinesalite + dynalite)', () => {
  it('reads every shard, checkpoints, and resumes after a restart without reprocessing', async () => {
    const h = await harness(3);
    await putPayloads(h.kinesis, h.config.kinesis.streamName, events(120, 'a'));
    const sink = new MemoryCounterSink();
    const first = startConsumer(h, { counters: sink });
    await first.consumer.start();
    await waitFor(() => sink.applied.size === 120, 15_000, '120 events');
    await first.consumer.stop();
    const checkpoints = await first.checkpoints.readAll();
    expect(checkpoints.size).toBeGreaterThanOrEqual(2);

    await putPayloads(h.kinesis, h.config.kinesis.streamName, events(30, 'b'));
    const second = new MemoryCounterSink();
    const restarted = startConsumer(h, { counters: second });
    await restarted.consumer.start();
    await waitFor(() => second.applied.size === 30, 15_000, '30 new events');
    expect(seenUsers(second).every((user) => user.startsWith('b-'))).toBe(true);
  });

  it('reads a split parent to its end before its children, then marks it finished', async () => {
    const h = await harness(1);
    const stream = h.config.kinesis.streamName;
    await putPayloads(h.kinesis, stream, events(40, 'parent'));
    await h.kinesis.send(
      new SplitShardCommand({
        StreamName: stream,
        ShardToSplit: 'shardId-000000000000',
        NewStartingHashKey: (2n ** 127n).toString(),
      }),
    );
    await ensureStream(h.kinesis, stream, 1);
    await putPayloads(h.kinesis, stream, events(40, 'child'));
    const sink = new MemoryCounterSink();
    const { consumer, checkpoints } = startConsumer(h, { counters: sink });
    await consumer.start();
    await waitFor(() => sink.applied.size === 80, 15_000, 'all 80 events');
    const order = seenUsers(sink);
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
    await putPayloads(h.kinesis, stream, events(10, 'merged'));
    await waitFor(() => sink.applied.size === 90, 15_000, 'events of the merged shard');
    expect(await checkpoints.read('shardId-000000000001')).toMatchObject({ finished: true });
    expect(await checkpoints.read('shardId-000000000002')).toMatchObject({ finished: true });
  });

  it('renews an expired iterator from the checkpoint (expiry injected: kinesalite iterators last 5 min)', async () => {
    const h = await harness(1);
    await putPayloads(h.kinesis, h.config.kinesis.streamName, events(20, 'x'));
    let getRecordsCalls = 0;
    const kinesis = interceptKinesis(h.kinesis, (name) => {
      if (name === 'GetRecordsCommand' && ++getRecordsCalls === 2)
        throw kinesisServiceError('ExpiredIteratorException');
    });
    const sink = new MemoryCounterSink();
    const { consumer, metrics } = startConsumer(h, { counters: sink }, { kinesis, options: { batchMaxRecords: 10 } });
    await consumer.start();
    await waitFor(() => sink.applied.size === 20, 15_000, 'all events');
    expect((await metrics.iteratorRenewals.get()).values[0]?.value).toBe(1);
    // after renewal, reading resumed right after the checkpoint: no record delivered twice
    expect(sink.batches.flatMap((b) => b.events)).toHaveLength(20);
  });

  it('backs off on throttling and loses nothing (throttling injected: kinesalite never throttles)', async () => {
    const h = await harness(2);
    await putPayloads(h.kinesis, h.config.kinesis.streamName, events(50, 't'));
    let calls = 0;
    const kinesis = interceptKinesis(h.kinesis, (name) => {
      if (name === 'GetRecordsCommand' && ++calls % 2 === 1 && calls < 12)
        throw kinesisServiceError('ProvisionedThroughputExceededException');
    });
    const sink = new MemoryCounterSink();
    const { consumer, metrics } = startConsumer(h, { counters: sink }, { kinesis });
    await consumer.start();
    await waitFor(() => sink.applied.size === 50, 15_000, 'all events');
    const throttles = (await metrics.throttles.get()).values.find((v) => v.labels.api === 'GetRecords');
    expect(throttles?.value).toBeGreaterThanOrEqual(2);
  });

  it('retries a batch whose sink failed and checkpoints only after it succeeded', async () => {
    const h = await harness(1);
    await putPayloads(h.kinesis, h.config.kinesis.streamName, events(15, 'f'));
    const sink = new MemoryCounterSink();
    sink.failNext = 3;
    const { consumer, checkpoints, metrics } = startConsumer(h, { counters: sink });
    let checkpointBeforeSuccess: unknown = 'unread';
    const original = sink.writeBatch.bind(sink);
    sink.writeBatch = async (shardId, batch) => {
      if (sink.failNext === 0 && checkpointBeforeSuccess === 'unread')
        checkpointBeforeSuccess = await checkpoints.read(shardId);
      return original(shardId, batch);
    };
    await consumer.start();
    await waitFor(() => sink.applied.size === 15, 15_000, 'all events');
    expect(checkpointBeforeSuccess).toBeUndefined();
    await waitFor(async () => (await checkpoints.read('shardId-000000000000'))?.sequenceNumber, 5_000, 'checkpoint');
    expect((await metrics.batchFailures.get()).values[0]?.value).toBe(3);
  });

  it('holds one batch per shard: a blocked sink stops reading; stop() finishes and checkpoints it', async () => {
    const h = await harness(1);
    await putPayloads(h.kinesis, h.config.kinesis.streamName, events(30, 's'));
    let getRecordsCalls = 0;
    const kinesis = interceptKinesis(h.kinesis, (name) => {
      if (name === 'GetRecordsCommand') getRecordsCalls += 1;
    });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const inner = new MemoryCounterSink();
    let entered = 0;
    const blocking: CounterSink = {
      writeBatch: async (shardId, batch) => {
        entered += 1;
        await gate;
        return inner.writeBatch(shardId, batch);
      },
    };
    const { consumer, checkpoints } = startConsumer(
      h,
      { counters: blocking },
      { kinesis, options: { batchMaxRecords: 10 } },
    );
    await consumer.start();
    await waitFor(() => entered === 1, 10_000, 'the first batch to reach the sink');
    const callsWhileBlocked = getRecordsCalls;
    const stopped = consumer.stop();
    release();
    await stopped;
    expect(callsWhileBlocked).toBe(1);
    expect(inner.applied.size).toBe(10);
    const checkpoint = await checkpoints.read('shardId-000000000000');
    expect(checkpoint?.sequenceNumber).toBe(inner.batches[0]!.events.at(-1)!.id.sequenceNumber);
  });
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
