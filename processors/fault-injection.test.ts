/**
 * The proof: counters stay exact under everything at-least-once infrastructure does.
 *
 * 1. The local consumer runs as a child process and is SIGKILLed at random points (right
 *    after a batch reached the sinks, before or while it is checkpointed, or mid-write)
 *    at least 10 times while it runs, then restarted; producers keep adding waves.
 * 2. The Lambda adapter is driven through a simulated event source mapping (the service
 *    cannot run here) with bisect-on-error and injected failures before and after writes.
 *
 * Real kinesalite, dynalite and Redis throughout. Every counter cell is then compared with
 * `computeExpectedCounters`, computed independently from the events: exact equality.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { build } from 'esbuild';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDynamoClient, createKinesisClient } from '../common/aws-clients.js';
import type { Config } from '../common/config.js';
import { createSilentLogger } from '../common/logger.js';
import { testConfig, waitFor } from '../local/test-support.js';
import { createCheckpointStore } from './consumer/checkpoint-store.js';
import { toWorkloadRecords, type WorkloadRecord } from './consumer/workload-records.js';
import { computeExpectedCounters, createCounterSink, readCounters, type CounterTable } from './counters/index.js';
import { generateWorkload, seededRandom } from './counters/test-workload.js';
import { readDeadLetters } from './dead-letters/reader.js';
import { createKinesisBatchHandler } from './lambda/batch-handler.js';
import { driveEventSourceMapping, readAsLambdaRecords } from './lambda/test-support.js';
import { createProcessorMetrics } from './metrics.js';
import { createPipeline } from './pipeline.js';
import { ensureLocalResources } from './pipeline-from-config.js';
import { POISON_USER_PREFIX, isPoison } from './commit/test-support/poison-workload.js';
import { refusingCounterSink } from './commit/test-support/refusing-counter-sink.js';
import { MemoryDeadLetterSink, faultyCounterSink } from './pipeline/test-doubles.js';
import { createRedisUserStateStore } from './state/index.js';
import { compareSequenceNumbers } from './sequence-number.js';

const KILLS = 10;
const SEED = 20_261_124;
const sorted = (table: CounterTable) => [...table.entries()].sort(([a], [b]) => a.localeCompare(b));

let buildDir: string;
const redisPrefixes: string[] = [];

beforeAll(async () => {
  // Bundled once so each restart costs a node start, not a TypeScript compile.
  buildDir = await mkdtemp(join(tmpdir(), 'fault-injection-'));
  await symlink(join(process.cwd(), 'node_modules'), join(buildDir, 'node_modules'));
  await build({
    entryPoints: ['processors/main.ts'],
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    outfile: join(buildDir, 'processors-main.mjs'),
    logLevel: 'silent',
  });
});

afterAll(async () => {
  await rm(buildDir, { recursive: true, force: true });
  const redis = new Redis(inject('redisUrl'));
  for (const prefix of redisPrefixes) {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  await redis.quit();
});

interface PutPosition {
  shardId: string;
  sequenceNumber: string;
}

async function putRecords(kinesis: KinesisClient, streamName: string, records: readonly WorkloadRecord[]) {
  const positions: PutPosition[] = [];
  for (let start = 0; start < records.length; start += 500) {
    const chunk = records.slice(start, start + 500);
    const out = await kinesis.send(
      new PutRecordsCommand({
        StreamName: streamName,
        Records: chunk.map((record) => ({ PartitionKey: record.partitionKey, Data: record.data })),
      }),
    );
    if (out.FailedRecordCount) throw new Error(`${out.FailedRecordCount} records were not put`);
    for (const entry of out.Records ?? [])
      positions.push({ shardId: entry.ShardId!, sequenceNumber: entry.SequenceNumber! });
  }
  return positions;
}

function consumerEnv(config: Config): NodeJS.ProcessEnv {
  return {
    ...process.env,
    AWS_ENDPOINT_URL_KINESIS: config.aws.kinesisEndpoint,
    AWS_ENDPOINT_URL_DYNAMODB: config.aws.dynamodbEndpoint,
    KINESIS_STREAM_NAME: config.kinesis.streamName,
    KINESIS_DLQ_STREAM_NAME: config.kinesis.dlqStreamName,
    KINESIS_SHARD_COUNT: String(config.kinesis.shardCount),
    DYNAMODB_TABLE_NAME: config.dynamodb.countersTable,
    DYNAMODB_CHECKPOINT_TABLE_NAME: config.dynamodb.checkpointTable,
    REDIS_URL: config.redis.url,
    PROCESSOR_BATCH_MAX_RECORDS: String(config.processors.batchMaxRecords),
    PROCESSOR_POLL_INTERVAL_MS: '20',
    LOG_LEVEL: 'debug',
    // A free port: several consumers may run at once in the test run.
    PROCESSORS_METRICS_PORT: '0',
  };
}

/** The consumer child process, with a count of batches it reported as acknowledged by the sinks. */
function spawnConsumer(config: Config) {
  const child = spawn(process.execPath, [join(buildDir, 'processors-main.mjs')], {
    env: consumerEnv(config),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const state = { started: false, batches: 0, output: '' };
  child.stdout.on('data', (chunk: Buffer) => {
    const text = chunk.toString();
    state.output = (state.output + text).slice(-20_000);
    if (text.includes('local consumer started')) state.started = true;
    state.batches += text.split('"msg":"batch committed to sinks"').length - 1;
    state.batches += text.split('"msg":"batch produced dead letters"').length - 1;
  });
  child.stderr.on('data', (chunk: Buffer) => (state.output = (state.output + chunk.toString()).slice(-20_000)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, state, exited };
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('fault injection (kinesalite + dynalite + Redis)', () => {
  it(
    `local consumer SIGKILLed ${KILLS} times while it runs: every counter cell equals the ground truth`,
    { timeout: 300_000 },
    async () => {
      const random = seededRandom(SEED);
      const config = testConfig({
        KINESIS_SHARD_COUNT: '2',
        REDIS_URL: inject('redisUrl'),
        PROCESSOR_BATCH_MAX_RECORDS: '25',
      });
      redisPrefixes.push(`xc:{${config.dynamodb.countersTable}}:`);
      const kinesis = createKinesisClient(config);
      const dynamo = createDynamoClient(config);
      await ensureLocalResources(config, kinesis, dynamo);

      const events = generateWorkload({
        seed: SEED,
        events: 1_000,
        users: 250,
        experiments: 3,
        countries: 6,
        duplicateRate: 0.05,
        experimentPrefix: 'fi-consumer',
      });
      const records = toWorkloadRecords(events, { random, aggregateRate: 0.2, malformed: 24 });
      const waveSize = Math.ceil(records.length / (KILLS + 1));
      const positions: PutPosition[] = [];
      const kills: { afterBatches: number; extraMs: number }[] = [];

      for (let run = 0; run <= KILLS; run++) {
        const wave = records.slice(run * waveSize, (run + 1) * waveSize);
        positions.push(...(await putRecords(kinesis, config.kinesis.streamName, wave)));
        const consumer = spawnConsumer(config);
        if (run === KILLS) {
          // Last run: no kill. Wait until every shard is checkpointed at its last record, then stop it.
          const checkpoints = createCheckpointStore(dynamo, config.dynamodb.checkpointTable);
          const lastByShard = new Map<string, string>();
          for (const { shardId, sequenceNumber } of positions) {
            const known = lastByShard.get(shardId);
            if (!known || compareSequenceNumbers(sequenceNumber, known) > 0) lastByShard.set(shardId, sequenceNumber);
          }
          await waitFor(
            async () => {
              for (const [shardId, last] of lastByShard) {
                if ((await checkpoints.read(shardId))?.sequenceNumber !== last) return false;
              }
              return true;
            },
            120_000,
            `every shard checkpointed at its last record (${JSON.stringify([...lastByShard])})\n${consumer.state.output}`,
          );
          consumer.child.kill('SIGTERM');
          expect(await consumer.exited).toEqual({ code: 0, signal: null });
          break;
        }
        // A random kill point: right after start-up, or after 1–2 batches reached the sinks, plus
        // 0–30 ms (so the kill lands mid-write, between sinks and checkpoint, or mid-checkpoint).
        const afterBatches = Math.floor(random() * 3);
        const extraMs = Math.floor(random() * 30);
        await waitFor(
          () => (consumer.state.started && consumer.state.batches >= afterBatches) || consumer.child.exitCode !== null,
          45_000,
          `run ${run}: ${afterBatches} batches at the sinks\n${consumer.state.output}`,
        );
        await delay(extraMs);
        consumer.child.kill('SIGKILL');
        expect((await consumer.exited).signal).toBe('SIGKILL');
        kills.push({ afterBatches, extraMs });
      }
      expect(kills).toHaveLength(KILLS);

      const expected = computeExpectedCounters(events, { segmentValueCap: config.processors.segmentValueCap });
      const actual = await readCounters(dynamo, config.dynamodb.countersTable);
      expect(actual.size).toBe(expected.size);
      expect(sorted(actual)).toEqual(sorted(expected));

      // Nothing lost on the other path either: every malformed record reached the dead-letter stream.
      const malformedPositions = new Set(
        records.flatMap((record, i) => (record.events.length === 0 ? [positions[i]!.sequenceNumber] : [])),
      );
      const { letters } = await readDeadLetters({ kinesis, streamName: config.kinesis.dlqStreamName, limit: 1_000 });
      const lettered = new Set(letters.flatMap((l) => (l.decoding.ok ? [l.decoding.envelope.sequenceNumber] : [])));
      expect([...malformedPositions].filter((seq) => !lettered.has(seq))).toEqual([]);
      expect(malformedPositions.size).toBe(24);
    },
  );

  it(
    'Lambda adapter through bisected and partially failed batches: every counter cell equals the ground truth',
    { timeout: 120_000 },
    async () => {
      const random = seededRandom(SEED + 1);
      const config = testConfig({ KINESIS_SHARD_COUNT: '2' });
      const keyPrefix = `xc:${config.dynamodb.countersTable}:`;
      redisPrefixes.push(keyPrefix);
      const kinesis = createKinesisClient(config);
      const dynamo = createDynamoClient(config);
      await ensureLocalResources(config, kinesis, dynamo);
      const events = generateWorkload({
        seed: SEED + 1,
        events: 900,
        users: 120,
        experiments: 2,
        duplicateRate: 0.08,
        experimentPrefix: 'fi-lambda',
      });
      const records = toWorkloadRecords(events, { random, aggregateRate: 0.25, malformed: 10 });
      // Records a sink refuses for good: the handler's commit step isolates and dead-letters them.
      for (let i = 0; i < 6; i++) {
        const poison = {
          ...events[i]!,
          eventId: `00000000-0000-4000-8000-00000000000${i}`,
          userId: `${POISON_USER_PREFIX}${i}`,
        };
        const at = Math.floor(random() * records.length);
        records.splice(at, 0, { partitionKey: poison.userId, data: Buffer.from(JSON.stringify(poison)), events: [] });
      }
      await putRecords(kinesis, config.kinesis.streamName, records);

      const state = createRedisUserStateStore({
        redisUrl: inject('redisUrl'),
        keyPrefix,
        segmentValueCap: config.processors.segmentValueCap,
        dedupWindowSeconds: config.processors.dedupWindowSeconds,
      });
      const counters = createCounterSink({
        dynamo,
        tableName: config.dynamodb.countersTable,
        state,
        writeConcurrency: 8,
      });
      const faultRandom = seededRandom(SEED + 2);
      const deadLetters = new MemoryDeadLetterSink();
      const pipeline = createPipeline({
        counters: refusingCounterSink(
          faultyCounterSink(counters, () => {
            const roll = faultRandom();
            return roll < 0.2 ? 'fail-before-write' : roll < 0.45 ? 'fail-after-write' : 'ok';
          }),
          isPoison,
        ),
        deadLetters,
        logger: createSilentLogger(),
        metrics: createProcessorMetrics(),
        limits: config.events,
      });
      // One attempt per invocation: the (simulated) event source mapping does the retrying.
      const handler = createKinesisBatchHandler(pipeline, createSilentLogger(), {
        batchRetry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
      });
      const totals = { invocations: 0, failed: 0, bisections: 0 };
      try {
        for (const shardRecords of (await readAsLambdaRecords(kinesis, config.kinesis.streamName)).values()) {
          const report = await driveEventSourceMapping(handler, shardRecords, {
            batchSize: 100,
            bisectOnError: true,
            maxInvocations: 2_000,
          });
          totals.invocations += report.invocations;
          totals.failed += report.failedInvocations;
          totals.bisections += report.bisections;
        }
      } finally {
        await state.close();
      }
      expect(totals.failed).toBeGreaterThanOrEqual(3);
      expect(totals.bisections).toBeGreaterThanOrEqual(3);
      expect(deadLetters.letters.filter((letter) => letter.reasons[0]?.rule === 'sink-rejected')).toHaveLength(6);
      const expected = computeExpectedCounters(events, { segmentValueCap: config.processors.segmentValueCap });
      expect(sorted(await readCounters(dynamo, config.dynamodb.countersTable))).toEqual(sorted(expected));
    },
  );
});
