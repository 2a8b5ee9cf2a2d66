import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { createDynamoClient, createKinesisClient } from '../../common/aws-clients.js';
import type { Config } from '../../common/config.js';
import type { StreamEvent } from '../../common/event-contract.js';
import { testConfig } from '../../local/test-support/test-config.js';
import { computeExpectedCounters, type CounterTable } from '../test-support/counter-ground-truth.js';
import { readCounters } from '../test-support/read-counters.js';
import { generateWorkload } from '../../local/test-support/counter-workload.js';
import { provisionPipeline } from '../../local/provision.js';
import { MultiLangDaemonSimulator } from './test-support/multilang-daemon-simulator.js';

const SHARD = 'shardId-000000000000';
const children: ChildProcessWithoutNullStreams[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

const sorted = (table: CounterTable) => [...table.entries()].sort(([a], [b]) => a.localeCompare(b));
const sequenceNumber = (n: number) => `4959${String(n).padStart(52, '0')}`;

/** KCL records as the daemon sends them: de-aggregated, base64, with sub-sequence numbers. */
function kclRecords(events: readonly (StreamEvent | string)[], firstSequence: number) {
  return events.map((event, i) => ({
    data: Buffer.from(typeof event === 'string' ? event : JSON.stringify(event)).toString('base64'),
    partitionKey: typeof event === 'string' ? 'poison' : event.userId,
    sequenceNumber: sequenceNumber(firstSequence + Math.floor(i / 2)),
    subSequenceNumber: i % 2,
    approximateArrivalTimestamp: 1_700_000_000_000,
  }));
}

async function startRecordProcessor(config: Config) {
  await provisionPipeline(config, { kinesis: createKinesisClient(config), dynamo: createDynamoClient(config) });
  const child = spawn(process.execPath, ['--import', 'tsx', 'processors/kcl/main.ts'], {
    env: {
      ...process.env,
      AWS_ENDPOINT_URL_KINESIS: config.aws.kinesisEndpoint,
      AWS_ENDPOINT_URL_DYNAMODB: config.aws.dynamodbEndpoint,
      KINESIS_STREAM_NAME: config.kinesis.streamName,
      KINESIS_DLQ_STREAM_NAME: config.kinesis.dlqStreamName,
      DYNAMODB_TABLE_NAME: config.dynamodb.countersTable,
      PROCESSOR_STATE_STORE: 'in-process',
      LOG_LEVEL: 'warn',
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.push(child);
  return new MultiLangDaemonSimulator(child);
}

describe('KCL record processor (KCL Java daemon simulated over the MultiLang protocol)', () => {
  it(
    'checkpoints only after the sinks, retries a throttled checkpoint, and checkpoints SHARD_END',
    { timeout: 120_000 },
    async () => {
      const config = testConfig();
      const daemon = await startRecordProcessor(config);
      const events = generateWorkload({ seed: 5, events: 40, users: 10, experimentPrefix: 'kcl' });

      daemon.send({ action: 'initialize', shardId: SHARD, sequenceNumber: 'TRIM_HORIZON', subSequenceNumber: 0 });
      expect(await daemon.next(60_000)).toEqual({ action: 'status', responseFor: 'initialize' });

      const batch = kclRecords([...events, '{"poison'], 1);
      const last = batch.at(-1)!.sequenceNumber;
      daemon.send({ action: 'processRecords', records: batch, millisBehindLatest: 0 });
      expect(await daemon.next()).toEqual({ action: 'checkpoint', sequenceNumber: last });
      const afterSinks = sorted(await readCounters(createDynamoClient(config), config.dynamodb.countersTable));
      expect(afterSinks).toEqual(sorted(computeExpectedCounters(events, { segmentValueCap: 50 })));

      daemon.send({ action: 'checkpoint', sequenceNumber: last, error: 'ThrottlingException' });
      expect(await daemon.next()).toEqual({ action: 'checkpoint', sequenceNumber: last });
      daemon.send({ action: 'checkpoint', sequenceNumber: last });
      expect(await daemon.next()).toEqual({ action: 'status', responseFor: 'processRecords' });

      // a new lease holder gets the same records again: counters do not move
      daemon.send({ action: 'processRecords', records: batch, millisBehindLatest: 0 });
      expect(await daemon.next()).toEqual({ action: 'checkpoint', sequenceNumber: last });
      daemon.send({ action: 'checkpoint', sequenceNumber: last });
      expect(await daemon.next()).toEqual({ action: 'status', responseFor: 'processRecords' });
      expect(sorted(await readCounters(createDynamoClient(config), config.dynamodb.countersTable))).toEqual(afterSinks);

      daemon.send({ action: 'shardEnded' });
      expect(await daemon.next()).toEqual({ action: 'checkpoint', sequenceNumber: null });
      daemon.send({ action: 'checkpoint', sequenceNumber: 'SHARD_END' });
      expect(await daemon.next()).toEqual({ action: 'status', responseFor: 'shardEnded' });
    },
  );

  it(
    'stops checkpointing once the lease is gone, and checkpoints its progress on shutdown requests',
    { timeout: 120_000 },
    async () => {
      const config = testConfig();
      const daemon = await startRecordProcessor(config);
      const events = generateWorkload({ seed: 9, events: 6, users: 3, experimentPrefix: 'kcl-lease' });
      daemon.send({ action: 'initialize', shardId: SHARD, sequenceNumber: 'TRIM_HORIZON' });
      expect(await daemon.next(60_000)).toMatchObject({ responseFor: 'initialize' });

      const first = kclRecords(events.slice(0, 4), 10);
      daemon.send({ action: 'processRecords', records: first });
      expect(await daemon.next()).toMatchObject({ action: 'checkpoint' });
      daemon.send({ action: 'checkpoint', sequenceNumber: first.at(-1)!.sequenceNumber });
      expect(await daemon.next()).toEqual({ action: 'status', responseFor: 'processRecords' });

      daemon.send({ action: 'shutdownRequested' });
      expect(await daemon.next()).toEqual({ action: 'checkpoint', sequenceNumber: first.at(-1)!.sequenceNumber });
      daemon.send({ action: 'checkpoint', sequenceNumber: first.at(-1)!.sequenceNumber });
      expect(await daemon.next()).toEqual({ action: 'status', responseFor: 'shutdownRequested' });

      const second = kclRecords(events.slice(4), 20);
      daemon.send({ action: 'processRecords', records: second });
      expect(await daemon.next()).toMatchObject({ action: 'checkpoint' });
      daemon.send({ action: 'checkpoint', sequenceNumber: null, error: 'ShutdownException' });
      expect(await daemon.next()).toEqual({ action: 'status', responseFor: 'processRecords' });

      daemon.send({ action: 'leaseLost' });
      expect(await daemon.next()).toEqual({ action: 'status', responseFor: 'leaseLost' });
      expect(sorted(await readCounters(createDynamoClient(config), config.dynamodb.countersTable))).toEqual(
        sorted(computeExpectedCounters(events, { segmentValueCap: 50 })),
      );
    },
  );

  it(
    'exits non-zero on a checkpoint error it cannot retry, so the lease restarts from the last checkpoint',
    { timeout: 120_000 },
    async () => {
      const config = testConfig();
      const daemon = await startRecordProcessor(config);
      const child = children.at(-1)!;
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      daemon.send({ action: 'initialize', shardId: SHARD, sequenceNumber: 'TRIM_HORIZON' });
      expect(await daemon.next(60_000)).toMatchObject({ responseFor: 'initialize' });
      const records = kclRecords(generateWorkload({ seed: 2, events: 2, users: 2, experimentPrefix: 'kcl-x' }), 30);
      daemon.send({ action: 'processRecords', records });
      expect(await daemon.next()).toMatchObject({ action: 'checkpoint' });
      daemon.send({ action: 'checkpoint', sequenceNumber: null, error: 'InvalidStateException' });
      expect(await exited).toBe(1);
    },
  );
});
