/**
 * The processors under load, run as a child process by the pipeline bench. Config comes
 * from the environment. Prints `{"ready":"processors"}` once consuming, then every 500 ms
 * a `{"stats":…}` line: events counted, duplicates, dead letters, DynamoDB writes,
 * freshness percentiles (collector receive → counters committed), per-stage batch times and reader lag.
 */
import hdr from 'hdr-histogram-js';
import { pino } from 'pino';
import { loadConfig } from '../../common/config.js';
import { startProcessors } from '../../processors/main.js';
import { createProcessorMetrics, FRESHNESS_STAGES, type FreshnessStage } from '../../processors/metrics.js';
import { mainThreadCpuSecondsOf } from './child-service.js';

export interface ProcessorStats {
  counted: number;
  duplicates: number;
  replayed: number;
  deadLettered: number;
  userRecords: number;
  /** Kinesis records read (a compact or KPL record carries many user records). */
  kinesisRecords: number;
  counterWrites: number;
  checkpointWrites: number;
  batches: number;
  /** When the processors began to start (after this process loaded its modules): drain times start here. */
  startedAt: number;
  /** CPU seconds this process spent since `startedAt` (module loading excluded). */
  cpuSeconds: number;
  /** Of `cpuSeconds`, the main (JavaScript) thread's; the rest is V8's GC and compiler threads and LMDB's flush thread (undefined without /proc). */
  mainThreadCpuSeconds?: number | undefined;
  firstCommitAt?: number;
  lastCommitAt?: number;
  freshnessMs: { p50: number; p95: number; p99: number; max: number; count: number };
  lagMs: number;
  /** Per-batch time in each stage (`processor_stage_seconds`), ms percentiles over the run's batches, and their sum. */
  stagesMs: Partial<Record<FreshnessStage, { p50: number; p99: number; count: number; totalMs: number }>>;
  /** `process.memoryUsage()` at `at`, MiB: V8 heap used/total, external (Buffers' backing stores) and array buffers. */
  memoryMiB: { heapUsed: number; heapTotal: number; external: number; arrayBuffers: number };
  at: number;
}

/**
 * The processors' metrics, with every `processor_stage_seconds` observation also kept exactly
 * (µs, 3 significant digits) so the bench can print per-stage percentiles instead of bucket bounds.
 */
function metricsWithStageRecorder() {
  const metrics = createProcessorMetrics();
  const stages = new Map<string, hdr.Histogram>();
  const totals = new Map<string, number>();
  const observe = metrics.stageDuration.observe.bind(metrics.stageDuration);
  // Only the (labels, value) form is used by the processors (observeStage).
  metrics.stageDuration.observe = ((labels: Partial<Record<'stage', string | number>>, value: number): void => {
    observe(labels, value);
    const stage = String(labels.stage);
    let histogram = stages.get(stage);
    if (!histogram) {
      histogram = hdr.build({
        lowestDiscernibleValue: 1,
        highestTrackableValue: 3_600_000_000,
        numberOfSignificantValueDigits: 3,
      });
      stages.set(stage, histogram);
    }
    histogram.recordValue(Math.max(1, Math.round(value * 1e6)));
    totals.set(stage, (totals.get(stage) ?? 0) + Math.max(0, value) * 1000);
  }) as typeof metrics.stageDuration.observe;
  const snapshot = (): ProcessorStats['stagesMs'] => {
    const out: ProcessorStats['stagesMs'] = {};
    for (const stage of FRESHNESS_STAGES) {
      const histogram = stages.get(stage);
      if (histogram)
        out[stage] = {
          p50: histogram.getValueAtPercentile(50) / 1000,
          p99: histogram.getValueAtPercentile(99) / 1000,
          count: histogram.totalCount,
          totalMs: totals.get(stage) ?? 0,
        };
    }
    return out;
  };
  return { metrics, snapshot };
}

async function main(): Promise<void> {
  const config = loadConfig({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
  const logger = pino({ level: config.logLevel }, pino.destination(2));
  const freshness = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000,
    numberOfSignificantValueDigits: 3,
  });
  const { metrics, snapshot: stageSnapshot } = metricsWithStageRecorder();
  const cpuAtStart = process.cpuUsage();
  const mainThreadCpuAtStart = mainThreadCpuSecondsOf(process.pid);
  const stats: Omit<ProcessorStats, 'freshnessMs' | 'lagMs' | 'at' | 'cpuSeconds' | 'stagesMs' | 'memoryMiB'> = {
    counted: 0,
    duplicates: 0,
    replayed: 0,
    deadLettered: 0,
    userRecords: 0,
    kinesisRecords: 0,
    counterWrites: 0,
    checkpointWrites: 0,
    batches: 0,
    startedAt: Date.now(),
  };
  const processors = await startProcessors(config, {
    logger,
    metrics,
    onBatchCommitted(outcome, committedAt) {
      stats.batches++;
      stats.checkpointWrites++;
      stats.counted += outcome.counted;
      stats.duplicates += outcome.duplicates;
      stats.replayed += outcome.replayed;
      stats.deadLettered += outcome.deadLettered;
      stats.userRecords += outcome.userRecords;
      stats.kinesisRecords += outcome.records;
      stats.counterWrites += outcome.counterWrites;
      if (outcome.counted > 0) {
        stats.firstCommitAt ??= committedAt;
        stats.lastCommitAt = committedAt;
      }
      for (const receivedAt of outcome.receivedAt) freshness.recordValue(Math.max(1, committedAt - receivedAt));
    },
  });
  const emit = async (): Promise<void> => {
    const lag = await processors.metrics.millisBehindLatest.get();
    const cpu = process.cpuUsage(cpuAtStart);
    const mainThreadCpu = mainThreadCpuSecondsOf(process.pid);
    const memory = process.memoryUsage();
    const mib = (bytes: number) => bytes / 2 ** 20;
    const line: ProcessorStats = {
      ...stats,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      mainThreadCpuSeconds:
        mainThreadCpu === undefined || mainThreadCpuAtStart === undefined
          ? undefined
          : mainThreadCpu - mainThreadCpuAtStart,
      freshnessMs: {
        p50: freshness.getValueAtPercentile(50),
        p95: freshness.getValueAtPercentile(95),
        p99: freshness.getValueAtPercentile(99),
        max: freshness.maxValue,
        count: freshness.totalCount,
      },
      lagMs: Math.max(0, ...lag.values.map((v) => v.value)),
      stagesMs: stageSnapshot(),
      memoryMiB: {
        heapUsed: mib(memory.heapUsed),
        heapTotal: mib(memory.heapTotal),
        external: mib(memory.external),
        arrayBuffers: mib(memory.arrayBuffers),
      },
      at: Date.now(),
    };
    process.stdout.write(`${JSON.stringify({ stats: line })}\n`);
  };
  process.stdout.write(`${JSON.stringify({ ready: 'processors' })}\n`);
  const timer = setInterval(() => void emit(), 500);
  process.once('SIGTERM', () => {
    clearInterval(timer);
    processors
      .stop()
      .then(emit)
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  });
}

main().catch((error: unknown) => {
  process.stderr.write(
    `processors target failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
