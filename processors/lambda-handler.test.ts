import { readFileSync } from 'node:fs';
import type { KinesisStreamEvent } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDynamoClient, createKinesisClient } from '../common/aws-clients.js';
import type { Config } from '../common/config.js';
import { createSilentLogger } from '../common/logger.js';
import { testConfig } from '../local/test-support/test-config.js';
import { putPayloads } from './test-support/consumer-streams.js';
import { createCounterSink } from './counters/index.js';
import { computeExpectedCounters, type CounterTable } from './test-support/counter-ground-truth.js';
import { readCounters } from './test-support/read-counters.js';
import { generateWorkload } from '../local/test-support/counter-workload.js';
import { createKinesisBatchHandler } from './lambda/batch-handler.js';
import { driveEventSourceMapping, readAsLambdaRecords } from './test-support/event-source-mapping.js';
import { handler } from './lambda-handler.js';
import { createProcessorMetrics } from './metrics.js';
import { createPipeline } from './pipeline.js';
import { provisionPipeline } from '../local/provision.js';
import { POISON_USER_PREFIX, isPoison } from './commit/test-support/poison-workload.js';
import { refusingCounterSink } from './commit/test-support/refusing-counter-sink.js';
import {
  MemoryDeadLetterSink,
  faultyCounterSink,
  sampleEvent,
  type InjectedFault,
} from './test-support/pipeline-doubles.js';
import { createInProcessUserStateStore } from './state/index.js';

const fixture = JSON.parse(
  readFileSync(new URL('./lambda/fixtures/kinesis-event.json', import.meta.url), 'utf8'),
) as KinesisStreamEvent;
const sorted = (table: CounterTable) => [...table.entries()].sort(([a], [b]) => a.localeCompare(b));

async function provisioned(overrides: Record<string, string> = {}): Promise<Config> {
  const config = testConfig(overrides);
  await provisionPipeline(config, { kinesis: createKinesisClient(config), dynamo: createDynamoClient(config) });
  return config;
}

function pipelineWithFaults(config: Config, decide: (call: number) => InjectedFault) {
  const dynamo = createDynamoClient(config);
  const real = createCounterSink({
    dynamo,
    tableName: config.dynamodb.countersTable,
    state: createInProcessUserStateStore({ segmentValueCap: config.processors.segmentValueCap }),
    writeConcurrency: 8,
  });
  const deadLetters = new MemoryDeadLetterSink();
  const pipeline = createPipeline({
    // Poison events (a sink refuses them for good) are isolated by the handler's commit step.
    counters: refusingCounterSink(faultyCounterSink(real, decide), isPoison),
    deadLetters,
    logger: createSilentLogger(),
    metrics: createProcessorMetrics(),
    limits: config.events,
  });
  // One attempt per invocation: retries are left to the (simulated) event source mapping.
  const handler = createKinesisBatchHandler(pipeline, createSilentLogger(), {
    batchRetry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
  });
  return { handler, deadLetters, dynamo };
}

describe('Lambda handler (kinesalite + dynalite; the event source mapping is simulated)', () => {
  let config: Config;
  beforeAll(async () => {
    config = await provisioned();
    // The Lambda's configuration is its environment: the handler reads it on its first invocation.
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_KINESIS: config.aws.kinesisEndpoint,
      AWS_ENDPOINT_URL_DYNAMODB: config.aws.dynamodbEndpoint,
      KINESIS_STREAM_NAME: config.kinesis.streamName,
      KINESIS_DLQ_STREAM_NAME: config.kinesis.dlqStreamName,
      DYNAMODB_TABLE_NAME: config.dynamodb.countersTable,
      DYNAMODB_CHECKPOINT_TABLE_NAME: config.dynamodb.checkpointTable,
      PROCESSOR_STATE_STORE: 'in-process',
      LOG_LEVEL: 'silent',
    });
    delete process.env.OPENSEARCH_ENDPOINT;
    delete process.env.REDIS_URL;
  });

  it('counts a documented-shape Kinesis event and dead-letters its poison record, reporting no failures', async () => {
    const response = await handler(fixture);
    expect(response).toEqual({ batchItemFailures: [] });
    const counters = await readCounters(createDynamoClient(config), config.dynamodb.countersTable);
    expect(counters.get('checkout-button|green#$exposure')).toMatchObject({ events: 1, units: 1 });
    expect(counters.get('checkout-button|seg#country=US#green#$exposure')).toMatchObject({ events: 1, units: 1 });
    // a redelivery of the same event (Lambda retries) changes nothing
    await handler(fixture);
    const again = await readCounters(createDynamoClient(config), config.dynamodb.countersTable);
    expect(sorted(again)).toEqual(sorted(counters));
  });

  it('reports the first record of a failed batch as the item to resume at', async () => {
    const faulty = pipelineWithFaults(await provisioned(), () => 'fail-before-write');
    const response = await faulty.handler(fixture);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: fixture.Records[0]!.kinesis.sequenceNumber }]);
  });

  it('ends with exact counters through bisected and partially failed batches', { timeout: 120_000 }, async () => {
    const own = await provisioned({ KINESIS_SHARD_COUNT: '2' });
    const events = generateWorkload({ seed: 11, events: 300, users: 40, experimentPrefix: 'lambda' });
    const kinesis = createKinesisClient(own);
    const poisons = [0, 1, 2, 3].map((i) =>
      sampleEvent({ userId: `${POISON_USER_PREFIX}${i}`, experimentId: 'lambda-0' }),
    );
    const entries = events.map((event) => ({ partitionKey: event.userId, data: event }));
    poisons.forEach((poison, i) => entries.splice(40 + i * 70, 0, { partitionKey: poison.userId, data: poison }));
    await putPayloads(kinesis, own.kinesis.streamName, entries);
    const plan: InjectedFault[] = ['fail-after-write', 'ok', 'fail-before-write', 'fail-after-write', 'ok', 'ok'];
    const faulty = pipelineWithFaults(own, (call) => plan[call % plan.length]!);
    const totals = { records: 0, invocations: 0, failedInvocations: 0, bisections: 0 };
    for (const records of (await readAsLambdaRecords(kinesis, own.kinesis.streamName)).values()) {
      const report = await driveEventSourceMapping(faulty.handler, records, {
        batchSize: 100,
        bisectOnError: true,
        maxInvocations: 500,
      });
      totals.records += records.length;
      totals.invocations += report.invocations;
      totals.failedInvocations += report.failedInvocations;
      totals.bisections += report.bisections;
    }
    expect(totals.records).toBe(304);
    expect(totals.failedInvocations).toBeGreaterThan(1);
    // batches split where the handler reported the first unfinished record (after committed parts)
    expect(totals.bisections).toBeGreaterThan(1);
    expect(faulty.deadLetters.letters.filter((l) => l.reasons[0]?.rule === 'sink-rejected')).toHaveLength(4);
    const expected = computeExpectedCounters(events, { segmentValueCap: own.processors.segmentValueCap });
    expect(sorted(await readCounters(faulty.dynamo, own.dynamodb.countersTable))).toEqual(sorted(expected));
  });
});
