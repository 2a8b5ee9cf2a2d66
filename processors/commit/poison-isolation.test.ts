/**
 * Poison isolation end to end (kinesalite + dynalite + Redis, real counter and dead-letter
 * sinks): records a sink refuses for good, between good records and inside KPL aggregates,
 * must not stall their shard. Every good record is counted exactly once, every poison ends
 * on the dead-letter stream with reason `sink-rejected`, within a bounded time — through the
 * local consumer, and through the Lambda adapter driven by the simulated event source
 * mapping (BisectBatchOnFunctionError + ReportBatchItemFailures + bounded retries), where
 * no good record may end in the on-failure destination.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { createDynamoClient, createKinesisClient } from '../../common/aws-clients.js';
import type { Config } from '../../common/config.js';
import { createSilentLogger } from '../../common/logger.js';
import { randomName, testConfig, waitFor } from '../../local/test-support/test-config.js';
import { createCheckpointStore } from '../consumer/checkpoint-store.js';
import { createLocalConsumer, type LocalConsumer } from '../consumer/local-consumer.js';
import { createCounterSink } from '../counters/index.js';
import { computeExpectedCounters, type CounterTable } from '../test-support/counter-ground-truth.js';
import { readCounters } from '../test-support/read-counters.js';
import { createDeadLetterSink } from '../dead-letters/dead-letter-sink.js';
import { readDeadLetters } from '../dead-letters/reader.js';
import { createKinesisBatchHandler } from '../lambda/batch-handler.js';
import { driveEventSourceMapping, readAsLambdaRecords } from '../test-support/event-source-mapping.js';
import { createProcessorMetrics, type ProcessorMetrics } from '../metrics.js';
import { createPipeline } from '../pipeline.js';
import { provisionPipeline } from '../../local/provision.js';
import { faultyCounterSink, type InjectedFault } from '../test-support/pipeline-doubles.js';
import { createRedisUserStateStore, type UserStateStore } from '../state/index.js';
import type { CounterSink } from '../types.js';
import { refusingCounterSink } from './test-support/refusing-counter-sink.js';
import { POISON_USER_PREFIX, isPoison, poisonWorkload, putAndLocate } from './test-support/poison-workload.js';

const sorted = (table: CounterTable) => [...table.entries()].sort(([a], [b]) => a.localeCompare(b));
const prefixes: string[] = [];
const stores: UserStateStore[] = [];
const consumers: LocalConsumer[] = [];

afterEach(async () => {
  await Promise.all(consumers.splice(0).map((consumer) => consumer.stop()));
  await Promise.all(stores.splice(0).map((store) => store.close()));
});
afterAll(async () => {
  const redis = new Redis(inject('redisUrl'));
  for (const prefix of prefixes) {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  await redis.quit();
});

async function provision(shards: number) {
  const config = testConfig({ KINESIS_SHARD_COUNT: String(shards) });
  const kinesis = createKinesisClient(config);
  const dynamo = createDynamoClient(config);
  await provisionPipeline(config, { kinesis, dynamo });
  return { config, kinesis, dynamo };
}

/** The real counter sink on Redis state, refusing poison events for good. */
function realSinks(config: Config, dynamo: ReturnType<typeof createDynamoClient>, wrap = (s: CounterSink) => s) {
  const keyPrefix = `${randomName('xc-poison')}:`;
  prefixes.push(keyPrefix);
  const state = createRedisUserStateStore({
    redisUrl: inject('redisUrl'),
    keyPrefix,
    segmentValueCap: config.processors.segmentValueCap,
    dedupWindowSeconds: config.processors.dedupWindowSeconds,
  });
  stores.push(state);
  const real = createCounterSink({
    dynamo,
    tableName: config.dynamodb.countersTable,
    state,
    writeConcurrency: 8,
  });
  return refusingCounterSink(wrap(real), isPoison);
}

async function expectPoisonsDeadLettered(
  config: Config,
  kinesis: ReturnType<typeof createKinesisClient>,
  poisonEventIds: ReadonlySet<string>,
): Promise<number> {
  const { letters } = await readDeadLetters({
    kinesis,
    streamName: config.kinesis.dlqStreamName,
    limit: 1_000,
    maxDurationMs: 20_000,
  });
  const refused = letters.flatMap((l) =>
    l.decoding.ok && l.decoding.envelope.reasons[0]?.rule === 'sink-rejected' ? [l.decoding.envelope] : [],
  );
  const refusedIds = refused.map(
    (envelope) => (JSON.parse(Buffer.from(envelope.data, 'base64').toString('utf8')) as { eventId: string }).eventId,
  );
  expect(new Set(refusedIds)).toEqual(poisonEventIds);
  for (const envelope of refused) {
    expect(envelope.reasons).toEqual([
      { index: 0, field: '(event)', rule: 'sink-rejected', message: expect.stringContaining('RECORD_REJECTED') },
    ]);
  }
  // the poisons inside KPL aggregates and compact records are isolated down to their user record
  // (a retry that repeats an isolation writes its letter again: the dead-letter stream is at least once)
  const isolated = refused.filter((envelope) => envelope.subSequenceNumber === 1);
  expect(new Set(isolated.map((envelope) => envelope.sequenceNumber)).size).toBe(4);
  return refused.length;
}

async function deadLetterCount(metrics: ProcessorMetrics, reason: string): Promise<number> {
  return (await metrics.deadLetters.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

describe('poison records a sink refuses for good (kinesalite + dynalite + Redis)', () => {
  it(
    'local consumer: good records counted exactly, poisons dead-lettered, every shard checkpointed at its end',
    { timeout: 90_000 },
    async () => {
      const { config, kinesis, dynamo } = await provision(2);
      const workload = poisonWorkload({
        seed: 41,
        experimentPrefix: 'isolation-consumer',
        events: 200,
        users: 30,
        plainPoisons: 4,
        aggregatePoisons: 2,
        compactPoisons: 2,
      });
      const lastByShard = await putAndLocate(kinesis, config.kinesis.streamName, workload.records);
      const logger = createSilentLogger();
      const metrics = createProcessorMetrics();
      const pipeline = createPipeline({
        counters: realSinks(config, dynamo),
        deadLetters: createDeadLetterSink({
          kinesis,
          streamName: config.kinesis.dlqStreamName,
          sourceStreamName: config.kinesis.streamName,
          logger,
        }),
        logger,
        metrics,
        limits: config.events,
      });
      const checkpoints = createCheckpointStore(dynamo, config.dynamodb.checkpointTable);
      const consumer = createLocalConsumer({
        kinesis,
        streamName: config.kinesis.streamName,
        checkpoints,
        pipeline,
        logger,
        metrics,
        options: {
          batchMaxRecords: 25,
          pollIntervalMs: 20,
          shardRefreshMs: 200,
          readerRestartDelayMs: 20,
          batchRetry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 },
        },
      });
      consumers.push(consumer);
      await consumer.start();

      await waitFor(
        async () => {
          for (const [shardId, last] of lastByShard) {
            if ((await checkpoints.read(shardId))?.sequenceNumber !== last) return false;
          }
          return true;
        },
        45_000,
        'every shard checkpointed at its last record despite the poisons',
      );
      const expected = computeExpectedCounters(workload.goodEvents, {
        segmentValueCap: config.processors.segmentValueCap,
      });
      expect(sorted(await readCounters(dynamo, config.dynamodb.countersTable))).toEqual(sorted(expected));
      expect(await expectPoisonsDeadLettered(config, kinesis, workload.poisonEventIds)).toBe(8);
      expect(await deadLetterCount(metrics, 'sink-rejected')).toBe(8);
    },
  );

  it(
    'Lambda adapter with bisect + partial batch responses + bounded retries: no good record in the on-failure destination',
    { timeout: 60_000 },
    async () => {
      const { config, kinesis, dynamo } = await provision(2);
      const workload = poisonWorkload({
        seed: 43,
        experimentPrefix: 'isolation-lambda',
        events: 200,
        users: 40,
        plainPoisons: 4,
        aggregatePoisons: 2,
        compactPoisons: 2,
      });
      await putAndLocate(kinesis, config.kinesis.streamName, workload.records);
      const logger = createSilentLogger();
      const metrics = createProcessorMetrics();
      // A few transient failures too, some in the middle of an isolation, so the mapping also
      // resumes batches mid-way (at the first unfinished part the handler reports).
      const transient = new Map<number, InjectedFault>([
        [3, 'fail-before-write'],
        [9, 'fail-after-write'],
        [17, 'fail-before-write'],
        [30, 'fail-after-write'],
      ]);
      const counters = realSinks(config, dynamo, (real) =>
        faultyCounterSink(real, (call) => transient.get(call) ?? 'ok'),
      );
      const pipeline = createPipeline({
        counters,
        deadLetters: createDeadLetterSink({
          kinesis,
          streamName: config.kinesis.dlqStreamName,
          sourceStreamName: config.kinesis.streamName,
          logger,
        }),
        logger,
        metrics,
        limits: config.events,
      });
      const handler = createKinesisBatchHandler(pipeline, logger, {
        batchRetry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
      });
      const byShard = await readAsLambdaRecords(kinesis, config.kinesis.streamName);
      const good = new Set(
        [...byShard.values()].flat().flatMap((record) => {
          const data = Buffer.from(record.kinesis.data, 'base64').toString('utf8');
          return data.includes(`"userId":"${POISON_USER_PREFIX}`) ? [] : [record.kinesis.sequenceNumber];
        }),
      );
      const totals = { failedInvocations: 0, bisections: 0, goodInDestination: 0, destination: 0 };
      for (const records of byShard.values()) {
        const report = await driveEventSourceMapping(handler, records, {
          batchSize: 50,
          bisectOnError: true,
          reportBatchItemFailures: true,
          maximumRetryAttempts: 2,
          maxInvocations: 500,
        });
        totals.failedInvocations += report.failedInvocations;
        totals.bisections += report.bisections;
        totals.destination += report.onFailureDestination.length;
        for (const { KinesisBatchInfo: info } of report.onFailureDestination) {
          const from = records.findIndex((r) => r.kinesis.sequenceNumber === info.startSequenceNumber);
          totals.goodInDestination += records
            .slice(from, from + info.batchSize)
            .filter((r) => good.has(r.kinesis.sequenceNumber)).length;
        }
      }
      expect(totals.goodInDestination).toBe(0);
      expect(totals.destination).toBe(0);
      expect(totals.failedInvocations).toBeGreaterThan(0);
      expect(totals.bisections).toBeGreaterThan(0);
      const expected = computeExpectedCounters(workload.goodEvents, {
        segmentValueCap: config.processors.segmentValueCap,
      });
      expect(sorted(await readCounters(dynamo, config.dynamodb.countersTable))).toEqual(sorted(expected));
      // A Lambda retry resumes at a whole Kinesis record, so an isolation inside one may be repeated: its letter too.
      const letters = await expectPoisonsDeadLettered(config, kinesis, workload.poisonEventIds);
      expect(letters).toBeGreaterThanOrEqual(8);
      expect(await deadLetterCount(metrics, 'sink-rejected')).toBe(letters);
    },
  );
});
