/**
 * The proof: counters stay exact under everything at-least-once infrastructure does.
 *
 * 1. The local consumer runs as a child process and is SIGKILLed 10 times while it runs,
 *    then restarted; producers keep adding waves. Each kill lands inside a batch at a
 *    known point: the child's DynamoDB traffic goes through a proxy that holds one chosen
 *    request (a cell write or a checkpoint, before or after dynalite applied it), and the
 *    kill is sent only once that request is held — a condition, not a timer.
 * 2. The Lambda adapter is driven through a simulated event source mapping (the service
 *    cannot run here) with bisect-on-error and injected failures before and after writes,
 *    into the real counter sink (Redis state) and the real dead-letter sink (kinesalite).
 *
 * Both run a workload with covariates on impressions and ratio numerator/denominator
 * conversions, for an experiment whose plan keeps capped, CUPED and ratio sums (the consumer
 * learns it from the real query API's definitions) beside experiments without extras.
 * Real kinesalite, dynalite, Redis and PostgreSQL throughout. Every counter cell is then compared with
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
import { EMPTY_COUNTER_PLAN, type CounterPlan } from '../common/counter-plan.js';
import { createSilentLogger } from '../common/logger.js';
import { testConfig, waitFor } from '../local/test-support/test-config.js';
import { createCheckpointStore } from './consumer/checkpoint-store.js';
import { toWorkloadRecords, type WorkloadRecord } from './test-support/workload-records.js';
import { createCounterSink } from './counters/index.js';
import { computeExpectedCounters, type CounterTable } from './test-support/counter-ground-truth.js';
import { readCounters } from './test-support/read-counters.js';
import {
  STATISTICS_WORKLOAD,
  generateWorkload,
  seededRandom,
  statisticsTestPlan,
} from '../local/test-support/counter-workload.js';
import { createDeadLetterSink } from './dead-letters/dead-letter-sink.js';
import { readDeadLetters } from './dead-letters/reader.js';
import { createKinesisBatchHandler } from './lambda/batch-handler.js';
import { driveEventSourceMapping, readAsLambdaRecords } from './test-support/event-source-mapping.js';
import { createProcessorMetrics } from './metrics.js';
import { createPipeline } from './pipeline.js';
import { provisionPipeline } from '../local/provision.js';
import { POISON_USER_PREFIX, isPoison } from './commit/test-support/poison-workload.js';
import { refusingCounterSink } from './commit/test-support/refusing-counter-sink.js';
import { faultyCounterSink } from './test-support/pipeline-doubles.js';
import { createRedisUserStateStore } from './state/index.js';
import { compareSequenceNumbers } from './sequence-number.js';
import {
  startDynamoGateProxy,
  type DynamoGateProxy,
  type HeldRequest,
  type HoldRule,
} from './test-support/dynamo-gate-proxy.js';
import { randomName } from '../local/test-support/test-config.js';
import { startQueryApi, type RunningQueryApi } from '../query-api/start-query-api.js';
import { createTestSchema, type TestSchema } from '../local/test-support/test-schema.js';

const KILLS = 10;
const SEED = 20_261_124;
const sorted = (table: CounterTable) => [...table.entries()].sort(([a], [b]) => a.localeCompare(b));

let buildDir: string;
const redisPrefixes: string[] = [];
let proxyToClose: DynamoGateProxy | undefined;
let queryApi: RunningQueryApi | undefined;
let schema: TestSchema | undefined;
const DEFINITIONS_KEY = 'fi-definitions-key';

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
  await proxyToClose?.close();
  await queryApi?.stop();
  await schema?.drop();
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

/**
 * The real query API (PostgreSQL schema of its own) serving the experiments' definitions, from
 * which the consumer learns its counter plans: `fi-consumer-0` keeps capped, CUPED and ratio
 * sums, `fi-consumer-1` is defined with plain metrics (no extras), `fi-consumer-2` is not
 * defined at all (404: no extras).
 */
async function startDefinitionsApi(): Promise<RunningQueryApi> {
  schema = await createTestSchema('fault_injection');
  queryApi = await startQueryApi(
    testConfig({ DATABASE_URL: schema.url, QUERY_API_PORT: '0', API_KEYS: DEFINITIONS_KEY }),
  );
  const experiments = [
    { key: 'fi-consumer-0', metrics: STATISTICS_WORKLOAD.definitionMetrics },
    { key: 'fi-consumer-1', metrics: [{ key: 'purchase', type: 'mean' }] },
  ];
  for (const { key, metrics } of experiments) {
    const response = await fetch(`${queryApi.url}/api/v1/experiments`, {
      method: 'POST',
      headers: { 'x-api-key': DEFINITIONS_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({
        key,
        name: key,
        status: 'running',
        variants: [
          { id: 'control', weight: 0.5 },
          { id: 'treatment', weight: 0.5 },
        ],
        controlVariantId: 'control',
        coverage: 1,
        metrics,
        segmentDimensions: ['country'],
      }),
    });
    expect(response.status, await response.text()).toBe(201);
  }
  return queryApi;
}

function consumerEnv(config: Config, dynamodbEndpoint: string, definitionsUrl: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PROCESSOR_DEFINITIONS_API_URL: definitionsUrl,
    PROCESSOR_DEFINITIONS_API_KEY: DEFINITIONS_KEY,
    AWS_ENDPOINT_URL_KINESIS: config.aws.kinesisEndpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynamodbEndpoint,
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

/** The consumer child process (its DynamoDB traffic through `proxy`), with a count of batches it reported as acknowledged by the sinks. */
function spawnConsumer(config: Config, proxy: DynamoGateProxy, definitionsUrl: string) {
  const child = spawn(process.execPath, [join(buildDir, 'processors-main.mjs')], {
    env: consumerEnv(config, proxy.url, definitionsUrl),
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

/**
 * Where the kills land, in turn: each is a DynamoDB request of a batch in flight, held by
 * the proxy until the process is killed. `maxNth` bounds which matching request of the run
 * is held (1 = the first): every wave has at least that many.
 */
const KILL_POINTS: { name: string; table: 'counters' | 'checkpoints'; when: HoldRule['when']; maxNth: number }[] = [
  { name: 'state applied, first cell write not sent', table: 'counters', when: 'before-forward', maxNth: 1 },
  { name: 'mid cell writes, one not sent', table: 'counters', when: 'before-forward', maxNth: 12 },
  { name: 'cell write landed, its answer lost', table: 'counters', when: 'after-forward', maxNth: 12 },
  { name: 'sinks done, checkpoint not written', table: 'checkpoints', when: 'before-forward', maxNth: 2 },
  { name: 'checkpoint written, its answer lost', table: 'checkpoints', when: 'after-forward', maxNth: 2 },
];

describe('fault injection (kinesalite + dynalite + Redis)', () => {
  it(
    `local consumer SIGKILLed ${KILLS} times while it runs: every counter cell equals the ground truth, capped, CUPED and ratio sums (plans from the real query API) included`,
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
      await provisionPipeline(config, { kinesis, dynamo });
      const proxy = await startDynamoGateProxy(inject('dynamodbEndpoint'));
      proxyToClose = proxy;

      const events = generateWorkload({
        seed: SEED,
        events: 1_000,
        users: 250,
        experiments: 3,
        countries: 6,
        duplicateRate: 0.05,
        experimentPrefix: 'fi-consumer',
        metrics: STATISTICS_WORKLOAD.metrics,
        covariateKeys: STATISTICS_WORKLOAD.covariateKeys,
      });
      const definitions = await startDefinitionsApi();
      const plan = statisticsTestPlan();
      const planOf = (experimentId: string): CounterPlan =>
        experimentId === 'fi-consumer-0' ? plan : EMPTY_COUNTER_PLAN;
      const records = toWorkloadRecords(events, { random, aggregateRate: 0.2, malformed: 24 });
      const waveSize = Math.ceil(records.length / (KILLS + 1));
      const positions: PutPosition[] = [];
      const kills: (HeldRequest & { point: string })[] = [];

      for (let run = 0; run <= KILLS; run++) {
        const wave = records.slice(run * waveSize, (run + 1) * waveSize);
        positions.push(...(await putRecords(kinesis, config.kinesis.streamName, wave)));
        const point = KILL_POINTS[run % KILL_POINTS.length]!;
        const table = point.table === 'counters' ? config.dynamodb.countersTable : config.dynamodb.checkpointTable;
        let held: HeldRequest | undefined;
        if (run < KILLS) {
          const rule = {
            operation: 'UpdateItem',
            table,
            when: point.when,
            nth: 1 + Math.floor(random() * point.maxNth),
          };
          void proxy.hold(rule).then((request) => (held = request));
        }
        const consumer = spawnConsumer(config, proxy, definitions.url);
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
        // The kill lands while the chosen request of a batch is held: inside that batch, by construction.
        await waitFor(
          () => held !== undefined || consumer.child.exitCode !== null,
          45_000,
          `run ${run}: the proxy to hold a request (${point.name})\n${consumer.state.output}`,
        );
        expect(consumer.child.exitCode, `run ${run} exited before its kill point\n${consumer.state.output}`).toBeNull();
        consumer.child.kill('SIGKILL');
        expect((await consumer.exited).signal).toBe('SIGKILL');
        kills.push({ ...held!, point: point.name });
      }
      // Every kill interrupted a batch at its point: a request of the batch was in flight, held.
      expect(kills.map((kill) => kill.point)).toEqual(
        Array.from({ length: KILLS }, (_, run) => KILL_POINTS[run % KILL_POINTS.length]!.name),
      );
      expect(kills.every((kill) => JSON.parse(kill.body).TableName === kill.table)).toBe(true);

      const expected = computeExpectedCounters(events, { segmentValueCap: config.processors.segmentValueCap, planOf });
      expect([...expected.values()].some((cell) => cell.crossSum !== undefined)).toBe(true);
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
    'Lambda adapter through bisected and partially failed batches: every counter cell equals the ground truth, capped, CUPED and ratio sums included',
    { timeout: 120_000 },
    async () => {
      const random = seededRandom(SEED + 1);
      const config = testConfig({ KINESIS_SHARD_COUNT: '2' });
      const keyPrefix = `xc:{${randomName('fi-lambda')}}:`;
      redisPrefixes.push(keyPrefix);
      const kinesis = createKinesisClient(config);
      const dynamo = createDynamoClient(config);
      await provisionPipeline(config, { kinesis, dynamo });
      const events = generateWorkload({
        seed: SEED + 1,
        events: 900,
        users: 120,
        experiments: 2,
        duplicateRate: 0.08,
        experimentPrefix: 'fi-lambda',
        metrics: STATISTICS_WORKLOAD.metrics,
        covariateKeys: STATISTICS_WORKLOAD.covariateKeys,
      });
      // fi-lambda-0 keeps capped, CUPED and ratio sums; fi-lambda-1 none. Its plan comes
      // asynchronously (as from a definitions fetch), the other synchronously (a warm cache).
      const plan = statisticsTestPlan();
      const planOf = (experimentId: string): CounterPlan =>
        experimentId === 'fi-lambda-0' ? plan : EMPTY_COUNTER_PLAN;
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
        plans: {
          planOf: (experimentId) =>
            experimentId === 'fi-lambda-0' ? Promise.resolve(planOf(experimentId)) : planOf(experimentId),
        },
      });
      const faultRandom = seededRandom(SEED + 2);
      const deadLetters = createDeadLetterSink({
        kinesis,
        streamName: config.kinesis.dlqStreamName,
        sourceStreamName: config.kinesis.streamName,
        logger: createSilentLogger(),
      });
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
      // Read back from the dead-letter stream: each poison record once or more (a letter written
      // before a later failure of its invocation is written again on the retry), each malformed one too.
      const { letters } = await readDeadLetters({ kinesis, streamName: config.kinesis.dlqStreamName, limit: 10_000 });
      const envelopes = letters.flatMap((letter) => (letter.decoding.ok ? [letter.decoding.envelope] : []));
      expect(envelopes).toHaveLength(letters.length);
      const letteredWith = (rule: string) =>
        new Set(
          envelopes.filter((e) => e.reasons[0]?.rule === rule).map((e) => `${e.sequenceNumber}.${e.subSequenceNumber}`),
        );
      expect(letteredWith('sink-rejected').size).toBe(6);
      const poisonUsers = envelopes
        .filter((e) => e.reasons[0]?.rule === 'sink-rejected')
        .map((e) => JSON.parse(Buffer.from(e.data, 'base64').toString()).userId as string);
      expect(new Set(poisonUsers)).toEqual(new Set(Array.from({ length: 6 }, (_, i) => `${POISON_USER_PREFIX}${i}`)));
      const malformedLettered = envelopes.filter((e) => e.reasons[0]?.rule !== 'sink-rejected');
      expect(new Set(malformedLettered.map((e) => `${e.sequenceNumber}.${e.subSequenceNumber}`)).size).toBe(10);
      const expected = computeExpectedCounters(events, {
        segmentValueCap: config.processors.segmentValueCap,
        planOf,
      });
      // Every extra sum is really there to compare (a plan-less sink would leave them all out).
      const extraFields = ['cappedSum', 'cappedCovariateCross', 'covariateSum', 'covariateCross', 'crossSum'] as const;
      for (const field of extraFields) {
        expect(
          [...expected.values()].some((cell) => cell[field] !== undefined),
          field,
        ).toBe(true);
      }
      expect(sorted(await readCounters(dynamo, config.dynamodb.countersTable))).toEqual(sorted(expected));
    },
  );
});
