/**
 * `npm run bench -- pipeline-core`: what the processors' pipeline core costs per event, on
 * one core, against the floor of any JSON consumer: a plain `JSON.parse` loop over the very
 * same record bytes, measured alternately in the same run.
 *
 *   baseline:            for each record: JSON.parse(bytes.toString())
 *   pipeline core:       createPipeline → de-aggregate, decode, validate, outcome per batch (no-op sinks)
 *   + counter aggregation: the same, with the real counter sink's state and cell aggregation
 *                        (in-process state store, DynamoDB replaced by a no-op client)
 *
 * Throughput is events per CPU-second of this process (process.cpuUsage), so a busy machine
 * does not distort the ratio; wall-clock events/s is shown beside it.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createSilentLogger } from '../../common/logger.js';
import { createCounterSink } from '../../processors/counters/index.js';
import { generateWorkload } from '../../processors/counters/test-workload.js';
import { createProcessorMetrics } from '../../processors/metrics.js';
import { createPipeline } from '../../processors/pipeline.js';
import { createInProcessUserStateStore } from '../../processors/state/index.js';
import type { CounterSink, RawKinesisRecord, ShardBatch } from '../../processors/types.js';
import { benchEnvironment, type BenchReport, type BenchRow } from '../report.js';
import type { BenchScenario } from '../scenario.js';

const LIMITS = { maxEventBytes: 8192, maxSegments: 10 };
const TARGET_RATIO = 0.5;

interface Measurement {
  events: number;
  cpuSeconds: number;
  wallSeconds: number;
}

async function measure(events: number, work: () => Promise<void> | void): Promise<Measurement> {
  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  await work();
  const cpu = process.cpuUsage(cpuBefore);
  return {
    events,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    wallSeconds: (performance.now() - wallBefore) / 1000,
  };
}

const best = (runs: Measurement[]): Measurement =>
  runs.reduce((a, b) => (a.events / a.cpuSeconds >= b.events / b.cpuSeconds ? a : b));

function toBatches(payloads: Buffer[], batchSize: number): ShardBatch[] {
  const batches: ShardBatch[] = [];
  for (let start = 0, sequence = 1; start < payloads.length; start += batchSize) {
    const records: RawKinesisRecord[] = payloads.slice(start, start + batchSize).map((data) => ({
      sequenceNumber: `4959${String(sequence++).padStart(52, '0')}`,
      partitionKey: 'bench',
      data,
    }));
    batches.push({ shardId: 'shardId-000000000000', records });
  }
  return batches;
}

/** A DynamoDB client that accepts every write and does nothing: isolates the CPU cost. */
const noOpDynamo = { send: () => Promise.resolve({}) } as unknown as DynamoDBClient;

function pipelineWith(counters: CounterSink) {
  return createPipeline({
    counters,
    deadLetters: { send: () => Promise.resolve() },
    logger: createSilentLogger(),
    metrics: createProcessorMetrics(),
    limits: LIMITS,
  });
}

export const pipelineCoreScenario: BenchScenario = {
  name: 'pipeline-core',
  description: "Processors' pipeline core (decode, validate, aggregate; no-op sinks) vs. a plain JSON.parse loop",
  options: [
    { flags: '--events <n>', description: 'events per pass', defaultValue: '100000' },
    { flags: '--batch <n>', description: 'records per shard batch (GetRecords page)', defaultValue: '1000' },
    { flags: '--passes <n>', description: 'measured passes per variant (best is reported)', defaultValue: '5' },
  ],
  async run(context) {
    const startedAt = new Date();
    const eventCount = Number(context.options.events ?? 100_000);
    const batchSize = Number(context.options.batch ?? 1000);
    const passes = Number(context.options.passes ?? 5);
    const events = generateWorkload({
      seed: 42,
      events: eventCount,
      users: Math.ceil(eventCount / 10),
      duplicateRate: 0,
    });
    const payloads = events.map((event) => Buffer.from(JSON.stringify(event)));
    const batches = toBatches(payloads, batchSize);

    let sink = 0; // keeps the baseline's results alive so the JIT cannot drop the parse
    const baseline = () => {
      for (const batch of batches) {
        for (const record of batch.records)
          sink += (JSON.parse((record.data as Buffer).toString()) as { value: number }).value;
      }
    };
    const countingNoOp: CounterSink = {
      writeBatch: (_shardId, valid) =>
        Promise.resolve({ counted: valid.length, duplicates: 0, cells: 0, writeRequests: 0, refused: [] }),
    };
    const core = pipelineWith(countingNoOp);
    const runCore = async () => {
      for (const batch of batches) await core.processBatch(batch);
    };
    // Aggregation needs fresh state per pass (otherwise every pass after the first is a replay).
    const runAggregated = async () => {
      const pipeline = pipelineWith(
        createCounterSink({
          dynamo: noOpDynamo,
          tableName: 'bench',
          state: createInProcessUserStateStore({ segmentValueCap: 50 }),
          writeConcurrency: 16,
        }),
      );
      for (const batch of batches) await pipeline.processBatch(batch);
    };

    // Two phases, each alternating with its own baseline passes: the aggregation variant
    // builds per-user state, and its garbage must not be collected on the core's time.
    const runs = {
      baseline: [] as Measurement[],
      core: [] as Measurement[],
      aggregationBaseline: [] as Measurement[],
      aggregated: [] as Measurement[],
    };
    await measure(eventCount, baseline); // warm-up: JIT and caches
    await measure(eventCount, runCore);
    for (let pass = 0; pass < passes; pass++) {
      runs.baseline.push(await measure(eventCount, baseline));
      runs.core.push(await measure(eventCount, runCore));
      context.progress((pass + 1) / (2 * passes), `core pass ${pass + 1}/${passes}`);
    }
    await measure(eventCount, runAggregated);
    for (let pass = 0; pass < passes; pass++) {
      runs.aggregationBaseline.push(await measure(eventCount, baseline));
      runs.aggregated.push(await measure(eventCount, runAggregated));
      context.progress((passes + pass + 1) / (2 * passes), `aggregation pass ${pass + 1}/${passes}`);
    }
    const rows: BenchRow[] = [];
    const perCpu = (m: Measurement) => m.events / m.cpuSeconds;
    const row = (name: string, m: Measurement): BenchRow => ({
      name,
      metrics: {
        'events/CPU-s': Math.round(perCpu(m)),
        'events/s (wall)': Math.round(m.events / m.wallSeconds),
        'µs/event (CPU)': (m.cpuSeconds / m.events) * 1e6,
      },
    });
    const [b, c, b2, a] = [best(runs.baseline), best(runs.core), best(runs.aggregationBaseline), best(runs.aggregated)];
    rows.push(
      row('baseline: JSON.parse loop', b),
      row('pipeline core (no-op sinks)', c),
      row('baseline: JSON.parse loop (aggregation phase)', b2),
      row('+ counter aggregation (in-process state, no-op DynamoDB)', a),
    );
    const coreRatio = perCpu(c) / perCpu(b);
    const aggregatedRatio = perCpu(a) / perCpu(b2);
    const report: BenchReport = {
      scenario: 'pipeline-core',
      title: 'Pipeline core vs. plain JSON.parse (events per CPU-second, one core)',
      command: context.command,
      startedAt: startedAt.toISOString(),
      durationMs: Date.now() - startedAt.getTime(),
      environment: benchEnvironment(),
      parameters: {
        events: eventCount,
        batchSize,
        passes,
        averageRecordBytes: Math.round(payloads.reduce((s, p) => s + p.length, 0) / payloads.length),
      },
      rows,
      ratios: {
        'pipeline core / JSON.parse': coreRatio,
        'pipeline core + aggregation / JSON.parse': aggregatedRatio,
      },
      targets: [
        {
          description: `pipeline core (decode + validate, no-op sinks) ≥ ${TARGET_RATIO * 100}% of JSON.parse`,
          measured: `${(coreRatio * 100).toFixed(0)}%`,
          met: coreRatio >= TARGET_RATIO,
        },
        {
          description: `pipeline core + counter aggregation ≥ ${TARGET_RATIO * 100}% of JSON.parse`,
          measured: `${(aggregatedRatio * 100).toFixed(0)}%`,
          met: aggregatedRatio >= TARGET_RATIO,
        },
      ],
      notes: [
        'Same record bytes for every variant, measured alternately with a baseline in the same process (core phase, then aggregation phase); best of the passes.',
        'Throughput is per CPU-second of this process, i.e. per core: the pipeline runs on one thread.',
        `Baseline checksum ${sink > 0 ? 'ok' : 'zero'} (keeps the parse from being optimised away).`,
      ],
    };
    return report;
  },
};
