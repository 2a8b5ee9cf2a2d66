/**
 * STATE_LOST (the exactly-once state store lost data) stops counting everywhere, never
 * absorbed: the local consumer's shard stays at its checkpoint and is not restarted,
 * `processor_state_lost` is 1 and `GET /ready` answers 503; the Lambda adapter fails the
 * invocation; the KCL record processor checkpoints nothing and gives up. The loss is
 * injected by wrapping the real counter sink (kinesalite + dynalite + Redis state).
 */
import { Writable } from 'node:stream';
import type { KclCheckpointer } from 'aws-kcl';
import { pino } from 'pino';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { createDynamoClient, createKinesisClient } from '../../common/aws-clients.js';
import type { Config } from '../../common/config.js';
import { createSilentLogger } from '../../common/logger.js';
import { randomName, testConfig, waitFor } from '../../local/test-support/test-config.js';
import { createCheckpointStore } from '../consumer/checkpoint-store.js';
import { createLocalConsumer, type LocalConsumer } from '../consumer/local-consumer.js';
import { interceptKinesis, putPayloads } from '../test-support/consumer-streams.js';
import { createCounterSink } from '../counters/index.js';
import { computeExpectedCounters, type CounterTable } from '../test-support/counter-ground-truth.js';
import { readCounters } from '../test-support/read-counters.js';
import { generateWorkload } from '../../local/test-support/counter-workload.js';
import { createKclRecordProcessor } from '../kcl/record-processor.js';
import { createKinesisBatchHandler } from '../lambda/batch-handler.js';
import { readAsLambdaRecords } from '../test-support/event-source-mapping.js';
import { createProcessorMetrics, readinessOf } from '../metrics.js';
import { startMetricsServer, type MetricsServer } from '../metrics-server.js';
import { createPipeline } from '../pipeline.js';
import { provisionPipeline } from '../../local/provision.js';
import { MemoryDeadLetterSink } from '../test-support/pipeline-doubles.js';
import { createRedisUserStateStore, type UserStateStore } from '../state/index.js';
import type { ValidEvent } from '../types.js';
import { refusingCounterSink } from './test-support/refusing-counter-sink.js';

const LOST_MARKER = 'state-lost-marker';
const isMarker = (event: ValidEvent) => event.event.userId === LOST_MARKER;
const sorted = (table: CounterTable) => [...table.entries()].sort(([a], [b]) => a.localeCompare(b));

const prefixes: string[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  const redis = new Redis(inject('redisUrl'));
  for (const prefix of prefixes) {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  await redis.quit();
});

async function provision() {
  const config = testConfig({ KINESIS_SHARD_COUNT: '1' });
  const kinesis = createKinesisClient(config);
  const dynamo = createDynamoClient(config);
  await provisionPipeline(config, { kinesis, dynamo });
  const keyPrefix = `${randomName('xc-lost')}:`;
  prefixes.push(keyPrefix);
  const state: UserStateStore = createRedisUserStateStore({ redisUrl: inject('redisUrl'), keyPrefix });
  cleanups.push(() => state.close());
  const counters = refusingCounterSink(
    createCounterSink({ dynamo, tableName: config.dynamodb.countersTable, state, writeConcurrency: 8 }),
    isMarker,
    'STATE_LOST',
  );
  return { config, kinesis, dynamo, counters };
}

function pipelineOver(config: Config, counters: ReturnType<typeof refusingCounterSink>) {
  const metrics = createProcessorMetrics();
  const deadLetters = new MemoryDeadLetterSink();
  const pipeline = createPipeline({
    counters,
    deadLetters,
    logger: createSilentLogger(),
    metrics,
    limits: config.events,
  });
  return { pipeline, metrics, deadLetters };
}

describe('STATE_LOST stops the shard (kinesalite + dynalite + Redis)', () => {
  it('local consumer: checkpoint unchanged, reader not restarted, gauge 1, /ready 503, one error log', async () => {
    const { config, kinesis, dynamo, counters } = await provision();
    const stream = config.kinesis.streamName;
    const { pipeline, metrics, deadLetters } = pipelineOver(config, counters);
    let listShards = 0;
    const counted = interceptKinesis(kinesis, (name) => {
      if (name === 'ListShardsCommand') listShards += 1;
    });
    const lines: string[] = [];
    const logger = pino(
      { level: 'warn' },
      new Writable({
        write(chunk: Buffer, _encoding, next) {
          lines.push(chunk.toString());
          next();
        },
      }),
    );
    const checkpoints = createCheckpointStore(dynamo, config.dynamodb.checkpointTable);
    const consumer: LocalConsumer = createLocalConsumer({
      kinesis: counted,
      streamName: stream,
      checkpoints,
      pipeline,
      logger,
      metrics,
      options: {
        batchMaxRecords: 10,
        pollIntervalMs: 20,
        shardRefreshMs: 50,
        readerRestartDelayMs: 20,
        batchRetry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 },
      },
    });
    cleanups.push(() => consumer.stop());
    const server: MetricsServer = await startMetricsServer(metrics.registry, '127.0.0.1', 0, {
      readiness: () => readinessOf(metrics),
    });
    cleanups.push(() => server.close());

    const before = generateWorkload({ seed: 71, events: 10, users: 4, experimentPrefix: 'lost-before' });
    await putPayloads(
      kinesis,
      stream,
      before.map((event) => ({ partitionKey: event.userId, data: event })),
    );
    await consumer.start();
    const shard = 'shardId-000000000000';
    const atBefore = await waitFor(
      async () => (await checkpoints.read(shard))?.sequenceNumber,
      20_000,
      'the first records to be checkpointed',
    );
    const ready = await fetch(`${server.url}/ready`);
    expect([ready.status, await ready.json()]).toEqual([200, { status: 'ready' }]);

    const after = generateWorkload({ seed: 72, events: 5, users: 3, experimentPrefix: 'lost-after' });
    const marker = { ...after[0]!, eventId: '8d5a2f0e-4b1c-4c6e-9f0a-3e2d1c0b9a87', userId: LOST_MARKER };
    await putPayloads(kinesis, stream, [
      { partitionKey: LOST_MARKER, data: marker },
      ...after.map((event) => ({ partitionKey: event.userId, data: event })),
    ]);
    await waitFor(async () => (await readinessOf(metrics)) === 'state-lost', 20_000, 'processor_state_lost = 1');
    const refreshesThen = listShards;
    await waitFor(() => listShards >= refreshesThen + 3, 10_000, 'three more shard-list refreshes');

    expect(consumer.activeShards()).toEqual([]);
    expect((await checkpoints.read(shard))?.sequenceNumber).toBe(atBefore);
    const notReady = await fetch(`${server.url}/ready`);
    expect([notReady.status, await notReady.json()]).toEqual([503, { status: 'state-lost' }]);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    expect(await metrics.registry.metrics()).toMatch(/^processor_state_lost 1$/m);
    // nothing after the loss was counted, nothing dead-lettered, and the operator was told once
    const expected = computeExpectedCounters(before, { segmentValueCap: config.processors.segmentValueCap });
    expect(sorted(await readCounters(dynamo, config.dynamodb.countersTable))).toEqual(sorted(expected));
    expect(deadLetters.letters).toEqual([]);
    const errors = lines.filter((line) => line.includes('"level":50') && line.includes('stays at its checkpoint'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('processors/README.md');
  });

  it('Lambda adapter: the invocation fails (throws STATE_LOST), nothing is reported as done', async () => {
    const { config, kinesis, counters } = await provision();
    const { pipeline, metrics } = pipelineOver(config, counters);
    const events = generateWorkload({ seed: 73, events: 4, users: 2, experimentPrefix: 'lost-lambda' });
    const marker = { ...events[0]!, eventId: '0b3c9d1e-2f4a-4b5c-8d6e-7f8091a2b3c4', userId: LOST_MARKER };
    await putPayloads(kinesis, config.kinesis.streamName, [
      ...events.map((event) => ({ partitionKey: event.userId, data: event })),
      { partitionKey: LOST_MARKER, data: marker },
    ]);
    const records = [...(await readAsLambdaRecords(kinesis, config.kinesis.streamName)).values()].flat();
    const handler = createKinesisBatchHandler(pipeline, createSilentLogger());
    await expect(handler({ Records: records })).rejects.toMatchObject({ code: 'STATE_LOST' });
    expect(await readinessOf(metrics)).toBe('state-lost');
  });

  it('KCL record processor: no checkpoint, onFatal (KCL daemon mocked: it cannot run here)', async () => {
    const { config, counters } = await provision();
    const { pipeline } = pipelineOver(config, counters);
    const events = generateWorkload({ seed: 74, events: 3, users: 2, experimentPrefix: 'lost-kcl' });
    const marker = { ...events[0]!, eventId: '5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b', userId: LOST_MARKER };
    const checkpointed: (string | null)[] = [];
    const checkpointer = {
      checkpoint: (sequenceNumber: string | null, callback: (error: string | null) => void) => {
        checkpointed.push(sequenceNumber);
        callback(null);
      },
    } as KclCheckpointer;
    let fatal: unknown;
    let completed = false;
    const processor = createKclRecordProcessor({
      pipeline,
      logger: createSilentLogger(),
      batchRetry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1 },
      onFatal: (error) => (fatal = error),
    });
    processor.initialize({ shardId: 'shardId-000000000000' }, () => {});
    const records = [...events, marker].map((event, i) => ({
      data: Buffer.from(JSON.stringify(event)).toString('base64'),
      partitionKey: event.userId,
      sequenceNumber: `4959${String(i + 1).padStart(52, '0')}`,
      subSequenceNumber: 0,
    }));
    processor.processRecords({ records, checkpointer }, () => (completed = true));
    await waitFor(() => fatal !== undefined, 10_000, 'onFatal');
    expect(fatal).toMatchObject({ code: 'STATE_LOST' });
    expect(checkpointed).toEqual([]);
    expect(completed).toBe(false);
  });
});
