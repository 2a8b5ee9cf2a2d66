import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeTableCommand, ResourceNotFoundException as TableNotFound } from '@aws-sdk/client-dynamodb';
import { DescribeStreamSummaryCommand, ResourceNotFoundException as StreamNotFound } from '@aws-sdk/client-kinesis';
import { afterEach, describe, expect, it } from 'vitest';
import { createDynamoClient, createKinesisClient } from '../common/aws-clients.js';
import type { StreamEvent } from '../common/event-contract.js';
import { testConfig, waitFor } from '../local/test-support/test-config.js';
import { createCheckpointStore } from './consumer/checkpoint-store.js';
import { putPayloads } from './test-support/consumer-streams.js';
import { computeExpectedCounters, type CounterTable } from './test-support/counter-ground-truth.js';
import { readCounters } from './test-support/read-counters.js';
import { generateWorkload } from '../local/test-support/counter-workload.js';
import { startProcessors, type RunningProcessors } from './main.js';
import { provisionPipeline } from '../local/provision.js';
import type { BatchOutcome } from './pipeline.js';

const sorted = (table: CounterTable) => [...table.entries()].sort(([a], [b]) => a.localeCompare(b));
const byUser = (events: readonly StreamEvent[]) => events.map((event) => ({ partitionKey: event.userId, data: event }));

const running: RunningProcessors[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((processors) => processors.stop()));
});

describe('startProcessors (kinesalite + dynalite, real counter and dead-letter sinks)', () => {
  it(
    'turns a workload into exactly the expected counters and reports each committed batch',
    { timeout: 60_000 },
    async () => {
      const config = testConfig({ KINESIS_SHARD_COUNT: '2', PROCESSOR_POLL_INTERVAL_MS: '20' });
      await provisionPipeline(config);
      const committed: { outcome: BatchOutcome; at: number }[] = [];
      const processors = await startProcessors(config, {
        onBatchCommitted: (outcome, at) => committed.push({ outcome, at }),
        consumerOptions: { shardRefreshMs: 200 },
      });
      running.push(processors);
      const events = generateWorkload({ seed: 7, events: 400, users: 60, experimentPrefix: 'main' });
      const kinesis = createKinesisClient(config);
      await putPayloads(kinesis, config.kinesis.streamName, [
        ...byUser(events),
        { partitionKey: 'poison', data: Buffer.from('{"broken') },
      ]);
      const expected = sorted(computeExpectedCounters(events, { segmentValueCap: config.processors.segmentValueCap }));
      const dynamo = createDynamoClient(config);
      const userRecords = () => committed.reduce((sum, c) => sum + c.outcome.userRecords, 0);
      await waitFor(() => userRecords() >= 401, 40_000, 'every record to be committed');
      expect(userRecords()).toBe(401);
      expect(sorted(await readCounters(dynamo, config.dynamodb.countersTable))).toEqual(expected);
      expect(committed.reduce((sum, c) => sum + c.outcome.deadLettered, 0)).toBe(1);
      expect(committed.every((c) => c.outcome.receivedAt.every((receivedAt) => receivedAt <= c.at))).toBe(true);
      const metrics = await processors.metrics.registry.metrics();
      expect(metrics).toContain('processor_dead_letters_total{reason="json"} 1');
      expect(metrics).toMatch(/processor_event_freshness_seconds_count 40\d/);
    },
  );

  it(
    'as a child process, refuses to start without a durable state store, naming the variables',
    { timeout: 60_000 },
    async () => {
      const config = testConfig();
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        AWS_ENDPOINT_URL_KINESIS: config.aws.kinesisEndpoint,
        AWS_ENDPOINT_URL_DYNAMODB: config.aws.dynamodbEndpoint,
        KINESIS_STREAM_NAME: config.kinesis.streamName,
        DYNAMODB_TABLE_NAME: config.dynamodb.countersTable,
        PROCESSORS_METRICS_PORT: '0',
      };
      for (const name of ['PROCESSOR_STATE_STORE', 'STATE_REDIS_URL', 'REDIS_URL']) delete env[name];
      const child = spawn(process.execPath, ['--import', 'tsx', 'processors/main.ts'], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
      expect(code).not.toBe(0);
      expect(output).toMatch(/CONFIG_INVALID|durable exactly-once state store/);
      expect(output).toContain('STATE_REDIS_URL');
      expect(output).toContain('PROCESSOR_STATE_STORE=embedded');
    },
  );

  it('creates no stream or table: with none provisioned it fails to start and leaves them absent', async () => {
    const config = testConfig();
    await expect(startProcessors(config)).rejects.toThrow();
    const dynamo = createDynamoClient(config);
    const kinesis = createKinesisClient(config);
    for (const table of [config.dynamodb.countersTable, config.dynamodb.checkpointTable]) {
      await expect(dynamo.send(new DescribeTableCommand({ TableName: table }))).rejects.toBeInstanceOf(TableNotFound);
    }
    for (const stream of [config.kinesis.streamName, config.kinesis.dlqStreamName]) {
      await expect(kinesis.send(new DescribeStreamSummaryCommand({ StreamName: stream }))).rejects.toBeInstanceOf(
        StreamNotFound,
      );
    }
    dynamo.destroy();
    kinesis.destroy();
  });

  it(
    'as a child process, serves /metrics on PROCESSORS_METRICS_HOST (not LISTEN_HOST), fits its batch budget to a small heap, and exits 0 on SIGTERM after checkpointing what it read',
    { timeout: 90_000 },
    async () => {
      const config = testConfig({ KINESIS_SHARD_COUNT: '1' });
      await provisionPipeline(config);
      const env = {
        ...process.env,
        AWS_ENDPOINT_URL_KINESIS: config.aws.kinesisEndpoint,
        AWS_ENDPOINT_URL_DYNAMODB: config.aws.dynamodbEndpoint,
        KINESIS_STREAM_NAME: config.kinesis.streamName,
        KINESIS_DLQ_STREAM_NAME: config.kinesis.dlqStreamName,
        KINESIS_SHARD_COUNT: '1',
        DYNAMODB_TABLE_NAME: config.dynamodb.countersTable,
        DYNAMODB_CHECKPOINT_TABLE_NAME: config.dynamodb.checkpointTable,
        PROCESSOR_POLL_INTERVAL_MS: '20',
        LOG_LEVEL: 'info',
        // A free port: several consumers may run at once in the test run.
        PROCESSORS_METRICS_PORT: '0',
        // The processors' listener has its own host setting: LISTEN_HOST (the collector's and the
        // query API's) is an address this machine cannot bind (TEST-NET-1), so using it would fail.
        LISTEN_HOST: '192.0.2.1',
        PROCESSORS_METRICS_HOST: '127.0.0.1',
        // What `npm start` runs: the durable embedded state store in a directory.
        PROCESSOR_STATE_STORE: 'embedded',
        PROCESSOR_STATE_DIR: await mkdtemp(join(tmpdir(), 'processors-state-')),
      };
      // A 96 MiB old space (a 144 MiB heap limit): too small for the default budget of 200,000 user records.
      const child = spawn(process.execPath, ['--max-old-space-size=96', '--import', 'tsx', 'processors/main.ts'], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      try {
        await waitFor(() => output.includes('local consumer started'), 45_000, 'the consumer to start');
        // (144 − 100 MiB reserve) ÷ 1 KiB per user record in flight = 45,056, said with what to change.
        const lowered = output.split('\n').find((line) => line.includes('"code":"BATCH_BUDGET_LOWERED"'));
        expect(lowered).toBeDefined();
        expect(JSON.parse(lowered!)).toMatchObject({
          level: 'warn',
          userRecords: 45_056,
          configured: 200_000,
          heapLimitMiB: 144,
          msg: expect.stringContaining('--max-old-space-size in NODE_OPTIONS'),
        });
        expect(output).toContain('OpenSearch indexing is off');
        const metricsUrl = await waitFor(
          () => /"url":"(http:\/\/127\.0\.0\.1:\d+)\/metrics","msg":"processors metrics served"/.exec(output)?.[1],
          10_000,
          'the metrics listener',
        );
        const scraped = await fetch(`${metricsUrl}/metrics`);
        expect(scraped.status).toBe(200);
        expect(await scraped.text()).toContain('processor_');
        const kinesis = createKinesisClient(config);
        await putPayloads(
          kinesis,
          config.kinesis.streamName,
          byUser(generateWorkload({ seed: 3, events: 20, users: 5 })),
        );
        const checkpoints = createCheckpointStore(createDynamoClient(config), config.dynamodb.checkpointTable);
        await waitFor(
          async () => (await checkpoints.read('shardId-000000000000'))?.sequenceNumber,
          20_000,
          'a checkpoint',
        );
        child.kill('SIGTERM');
        expect(await exited).toBe(0);
        expect(output).toContain('batches in hand finished and checkpointed');
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    },
  );
});
