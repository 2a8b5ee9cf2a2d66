/**
 * `npm run bench` (default scenario): the whole pipeline under load on one machine.
 *
 *   phase A, live:    workload ──HTTP──▶ collector ──▶ kinesalite ──▶ processors ──▶ dynalite counters
 *                     (events/s accepted and counted, freshness, lag over time, writes, memory)
 *   phase B, backlog: the same stream drained from TRIM_HORIZON by (1) fresh processors and
 *                     (2) the per-event `UpdateItem ADD` baseline — side by side, same data
 *   correctness:      every counter cell of both processor runs compared with the ground truth
 *                     of the generated workload; any difference fails the run.
 *
 * kinesalite, dynalite, the collector, the processors and the baseline each run in their
 * own process; this process only generates load and measures.
 *
 * `--dynamodb no-op` separates our cost from the counter store's: the processors and the baseline
 * write to an endpoint that keeps nothing and answers at once (support/no-op-dynamodb.ts, in a process
 * of its own, in dynalite's place) instead of dynalite, so freshness and the drain show what the
 * pipeline itself adds. Nothing is stored, so that run checks no counter: its report
 * (`pipeline-no-op-dynamodb`) says so.
 */
import { processorsNodeArgs } from '../../processors/node-args.js';
import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { createDynamoClient, createKinesisClient } from '../../common/aws-clients.js';
import {
  COUNTER_PARTITION_KEY,
  COUNTER_SORT_KEY,
  EXPOSURE_METRIC,
  encodeCellKey,
} from '../../common/counter-layout.js';
import type { StreamEvent } from '../../common/event-contract.js';
import { ensureCheckpointTable, ensureCountersTable, ensureStream } from '../../local/provision.js';
import { startStandIn } from '../../local/stand-ins.js';
import { computeExpectedCounters } from '../../processors/test-support/counter-ground-truth.js';
import { readCounters } from '../../processors/test-support/read-counters.js';
import { describeDifferences, diffCounters } from '../counter-diff.js';
import { benchEnvironment, RESULTS_DIR, type BenchReport, type BenchRow, type BenchTarget } from '../report.js';
import type { BenchScenario, ScenarioContext } from '../scenario.js';
import {
  cpuSecondsOf,
  currentRssOf,
  rssSplitOf,
  startChildService,
  type ChildService,
  type RssSplitMiB,
} from '../support/child-service.js';
import { describeStageTotals, describeStages } from '../support/describe-stages.js';
import type { ProcessorStats } from '../support/processors-target.js';
import { renderLineChart } from '../svg-chart.js';
import type { WorkloadShape } from '../workload.js';
import {
  acceptedEvents,
  eventBound,
  prepareLoad,
  sendLoad,
  uniqueAcceptedCount,
  type PreparedLoad,
  type SendOptions,
} from '../support/load-generator.js';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';

const SUPPORT = new URL('../support/', import.meta.url).pathname;
const SEGMENT_VALUE_CAP = 50;
const SETTLE_TIMEOUT_MS = 120_000;
/** The note of a phase run against the no-op DynamoDB: there is no counter to check. */
const NOT_CHECKED = (label: string) =>
  `${label}: counters NOT checked: --dynamodb no-op keeps nothing (this run measures what the pipeline adds; the default run checks every cell)`;

interface Sample {
  t: number;
  accepted: number;
  counted: number;
  lagMs: number;
  rssMiB: Record<string, number | undefined>;
}

/** The issue's bound on the processors' resident memory, live and draining any backlog. */
const PROCESSORS_RSS_LIMIT_MIB = 512;
/** Issue #20: the processors drain a backlog at least this many times faster than the per-event baseline. */
const DRAIN_TARGET_RATIO = 20;

/**
 * What the processors' memory is made of over one phase (MiB): VmHWM (the kernel's peak RSS), the
 * largest sampled anonymous (heaps, buffers) and file-backed (code, memory maps such as LMDB's) RSS,
 * and the largest V8 heap and external memory their stats lines reported (`process.memoryUsage()`).
 */
export interface MemoryPeaks {
  rss: number;
  anon: number;
  file: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
}

const emptyPeaks = (): MemoryPeaks => ({ rss: 0, anon: 0, file: 0, heapUsed: 0, heapTotal: 0, external: 0 });

/** Raises `peaks` to a /proc sample and/or a stats line's `process.memoryUsage()`. */
function notePeaks(peaks: MemoryPeaks, split?: RssSplitMiB, heap?: ProcessorStats['memoryMiB']): void {
  if (split) {
    peaks.rss = Math.max(peaks.rss, split.rss);
    peaks.anon = Math.max(peaks.anon, split.anon);
    peaks.file = Math.max(peaks.file, split.file);
  }
  if (heap) {
    peaks.heapUsed = Math.max(peaks.heapUsed, heap.heapUsed);
    peaks.heapTotal = Math.max(peaks.heapTotal, heap.heapTotal);
    peaks.external = Math.max(peaks.external, heap.external);
  }
}

const describePeaks = (label: string, peaks: MemoryPeaks): string =>
  `${label}: processors peak RSS ${peaks.rss.toFixed(0)} MiB (VmHWM); largest samples: ${peaks.anon.toFixed(0)} MiB anonymous, ${peaks.file.toFixed(0)} MiB file-backed; V8 heap ${peaks.heapUsed.toFixed(0)} MiB used of ${peaks.heapTotal.toFixed(0)} MiB, external ${peaks.external.toFixed(0)} MiB`;

export interface RunSettings {
  shape: WorkloadShape;
  durationSeconds?: number;
  rate: number;
  shards: number;
  kpl: boolean;
  format: 'json' | 'compact';
  /** Processor processes draining the backlog (phase B), each with a static share of the shards. */
  processors: number;
  concurrency: number;
  baselineSeconds: number;
  redisUrl?: string;
  injectMiscount: boolean;
  resultsDir: string;
  /** Counter writes go to an endpoint that keeps nothing (`--dynamodb no-op`): no counter can be checked. */
  noOpDynamoDB: boolean;
}

function settingsFrom(options: ScenarioContext['options']): RunSettings {
  const number = (name: string): number => {
    const value = Number(options[name]);
    if (!Number.isFinite(value) || value < 0)
      throw new Error(`--${name} must be a non-negative number (got ${String(options[name])})`);
    return value;
  };
  const durationSeconds = options.duration === undefined ? undefined : number('duration');
  const dynamodb = String(options.dynamodb ?? 'dynalite');
  if (dynamodb !== 'dynalite' && dynamodb !== 'no-op')
    throw new Error(`--dynamodb must be dynalite or no-op (got ${dynamodb})`);
  if (dynamodb === 'no-op' && options.injectMiscount === true)
    throw new Error('--inject-miscount needs --dynamodb dynalite: the no-op endpoint keeps no counter to miscount');
  return {
    shape: {
      seed: number('seed'),
      events: durationSeconds ? Number.MAX_SAFE_INTEGER : number('events'),
      eventsPerRequest: 100,
      users: number('users'),
      experiments: number('experiments'),
      variants: number('variants'),
      metrics: number('metrics'),
      segmentValues: Math.min(number('segmentValues'), SEGMENT_VALUE_CAP),
      segmentDimensions: Math.min(3, number('segmentDimensions')),
      duplicateShare: number('duplicates'),
      malformedShare: number('malformed'),
    },
    durationSeconds,
    rate: number('rate'),
    shards: number('shards'),
    kpl: options.kpl !== false,
    format: options.format === 'json' ? 'json' : 'compact',
    processors: options.processors === undefined ? 1 : Math.max(1, Math.floor(number('processors'))),
    concurrency: Math.max(1, number('concurrency')),
    baselineSeconds: number('baselineSeconds'),
    redisUrl: options.redis ? String(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379') : undefined,
    injectMiscount: options.injectMiscount === true,
    resultsDir: typeof options.resultsDir === 'string' ? options.resultsDir : RESULTS_DIR,
    noOpDynamoDB: dynamodb === 'no-op',
  };
}

/** The load generator's send options for a run's settings (support/load-generator.ts). */
export function sendOptionsOf(collectorUrl: string, settings: RunSettings): SendOptions {
  return {
    url: `${collectorUrl}/api/v1/events`,
    rate: settings.rate,
    concurrency: settings.concurrency,
    ...(settings.durationSeconds === undefined ? {} : { durationSeconds: settings.durationSeconds }),
  };
}

/** Prepares a run's workload before its phase (support/load-generator.ts). */
export const prepareWorkload = (settings: RunSettings): PreparedLoad =>
  prepareLoad(settings.shape, { maxEvents: eventBound(settings.shape, settings.rate, settings.durationSeconds) });

export async function waitUntil(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return true;
}

export async function startProcessors(
  env: Record<string, string>,
  onStats: (stats: ProcessorStats) => void,
): Promise<ChildService> {
  // The processors' Node flags are npm start's (processors/node-args.ts: the old-space cap), unless
  // BENCH_PROCESSORS_NODE_ARGS="--max-old-space-size=320 …" names others (bench/README.md).
  const flags = process.env.BENCH_PROCESSORS_NODE_ARGS;
  const execArgv = flags === undefined ? processorsNodeArgs(process.env) : flags.split(' ').filter((arg) => arg !== '');
  return startChildService(`${SUPPORT}processors-target.ts`, [], env, {
    execArgv,
    onMessage: (message) => {
      if (message.stats) onStats(message.stats as ProcessorStats);
    },
  });
}

/**
 * The live phase's CPU per accepted event of every process on the machine's cores, and the rate at which they
 * would fill them: `cpuSeconds` in the order collector, processors, kinesalite, dynalite, this process (the load
 * generator and the bench).
 */
function liveCpuNote(cpuSeconds: readonly number[], acceptedEvents: number, counterStore: string): string {
  const perEvent = cpuSeconds.map((seconds) => (seconds / Math.max(1, acceptedEvents)) * 1e6);
  const total = perEvent.reduce((sum, micros) => sum + micros, 0);
  const cores = availableParallelism();
  const [collector, processors, kinesalite, dynalite, bench] = perEvent.map((micros) => micros.toFixed(1));
  return (
    `phase A (live): CPU per accepted event, µs: collector ${collector}, processors ${processors}, kinesalite ${kinesalite}, ` +
    `${counterStore} ${dynalite}, load generator and bench ${bench}; ${total.toFixed(1)} in all, so the ${cores} cores are full at ` +
    `${Math.round((cores / total) * 1e6).toLocaleString('en-US')} events/s`
  );
}

/**
 * What the drain's CPU allows on this machine: with `processorsUs` + `standInsUs` of CPU per event in all
 * (the processors and the stand-ins they wait on), `cores` cores drain at most cores / total events per
 * second, even if every process were busy all the time and their work overlapped perfectly. Against
 * the baseline that is the highest ratio this run's CPU per event allows, and the drain's share of it says
 * how much of the machine the drain used; the CPU per event that the 20× target needs is beside it.
 *
 * @example
 *   drainCeilingNote(28.3, 7.4, 39_485, 2_946, 2)
 *   // '… 35.7 µs of CPU per event in all (processors 28.3, kinesalite and dynalite 7.4): 2 cores drain at most
 *   //  56,022 events/s, 19.0× the baseline; the drain reached 39,485 (70%); 20× needs at most 33.9 µs per event in all'
 */
export function drainCeilingNote(
  processorsUs: number,
  standInsUs: number,
  drainPerSecond: number,
  baselinePerSecond: number,
  cores: number,
): string {
  const total = processorsUs + standInsUs;
  const ceiling = (cores / total) * 1e6;
  const neededUs = (cores / (DRAIN_TARGET_RATIO * baselinePerSecond)) * 1e6;
  return (
    `phase B (backlog), what the drain's CPU allows: ${total.toFixed(1)} µs of CPU per event in all (processors ${processorsUs.toFixed(1)}, ` +
    `kinesalite and dynalite ${standInsUs.toFixed(1)}): ${cores} cores drain at most ${Math.round(ceiling).toLocaleString('en-US')} events/s, ` +
    `${(ceiling / baselinePerSecond).toFixed(1)}× the baseline; the drain reached ${Math.round(drainPerSecond).toLocaleString('en-US')} ` +
    `(${((drainPerSecond / ceiling) * 100).toFixed(0)}%); ${DRAIN_TARGET_RATIO}× needs at most ${neededUs.toFixed(1)} µs per event in all`
  );
}

export async function checkCorrectness(
  label: string,
  dynamo: ReturnType<typeof createDynamoClient>,
  table: string,
  expected: ReturnType<typeof computeExpectedCounters>,
  notes: string[],
): Promise<boolean> {
  const actual = await readCounters(dynamo, table);
  const differences = diffCounters(expected, actual);
  if (differences.length === 0) {
    notes.push(`${label}: all ${expected.size} counter cells equal the ground truth exactly`);
    return true;
  }
  notes.push(
    `CORRECTNESS FAILURE: ${label}: ${differences.length} of ${expected.size} cells differ from the ground truth\n${describeDifferences(differences)}`,
  );
  return false;
}

export const pipelineScenario: BenchScenario = {
  name: 'pipeline',
  description:
    'End to end: collector → kinesalite → processors → exactly-once counters in dynalite, vs the per-event UpdateItem ADD baseline; checks every counter',
  options: [
    {
      flags: '--events <n>',
      description: 'events to send (incl. duplicates and malformed); also the backlog phase B drains',
      defaultValue: '100000',
    },
    {
      flags: '--duration <seconds>',
      description: 'sustained mode: send for this long instead of --events (memory curve included)',
    },
    { flags: '--rate <events/s>', description: 'target send rate; 0 = as fast as it goes', defaultValue: '0' },
    { flags: '--shards <n>', description: 'stream shards', defaultValue: '2' },
    {
      flags: '--processors <n>',
      description: 'processor processes draining the backlog, each reading a fixed share of the shards',
      defaultValue: '1',
    },
    {
      flags: '--format <format>',
      description: 'stream record format: compact (one compact record per shard and call) or json',
      defaultValue: 'compact',
    },
    { flags: '--no-kpl', description: 'with --format json: one Kinesis record per event (KPL aggregation off)' },
    {
      flags: '--duplicates <share>',
      description: 'share of producer-retry duplicates (same eventId)',
      defaultValue: '0.02',
    },
    {
      flags: '--malformed <share>',
      description: 'share of malformed events (rejected by the collector)',
      defaultValue: '0.01',
    },
    { flags: '--users <n>', description: 'distinct users', defaultValue: '20000' },
    { flags: '--experiments <n>', description: 'experiments', defaultValue: '3' },
    { flags: '--variants <n>', description: 'variants per experiment', defaultValue: '3' },
    { flags: '--metrics <n>', description: 'conversion metrics', defaultValue: '3' },
    { flags: '--segment-values <n>', description: 'distinct values per segment dimension (≤ 50)', defaultValue: '20' },
    {
      flags: '--segment-dimensions <n>',
      description:
        'segment dimensions per event, 0–3 (country, device, browser); each adds a cell per event, two or more add pair cells',
      defaultValue: '1',
    },
    { flags: '--concurrency <n>', description: 'HTTP requests in flight (100 events each)', defaultValue: '8' },
    { flags: '--baseline-seconds <s>', description: 'how long the per-event baseline may run', defaultValue: '15' },
    {
      flags: '--redis',
      description:
        'keep processor state in Redis (REDIS_URL, default redis://127.0.0.1:6379) instead of the embedded LMDB store npm start uses',
    },
    { flags: '--seed <n>', description: 'workload seed', defaultValue: '42' },
    {
      flags: '--dynamodb <store>',
      description:
        'dynalite (checked against the ground truth), or no-op: an endpoint that keeps nothing and answers at once (what the pipeline adds, unchecked)',
      defaultValue: 'dynalite',
    },
    { flags: '--inject-miscount', description: 'add one to a counter before the check (proves the check catches it)' },
    { flags: '--results-dir <dir>', description: 'where the SVG charts go (reports always go to bench/results)' },
  ],
  async run(context) {
    const settings = settingsFrom(context.options);
    const started = Date.now();
    const runId = `${Date.now().toString(36)}`;
    const names = {
      stream: `bench-events-${runId}`,
      dlq: `bench-dlq-${runId}`,
      counters: `bench-counters-${runId}`,
      checkpoints: `bench-checkpoints-${runId}`,
      backlogCounters: `bench-backlog-counters-${runId}`,
      backlogCheckpoints: `bench-backlog-checkpoints-${runId}`,
      baseline: `bench-baseline-${runId}`,
    };
    const notes: string[] = [];
    const stateRoot = await mkdtemp(join(tmpdir(), 'bench-state-'));
    const rows: BenchRow[] = [];
    const samples: Sample[] = [];
    /** kinesalite and the counter store (dynalite, or the no-op endpoint in its place): the processes we wait on. */
    const standIns: { endpoint: string; process: ChildService['process']; stop(): Promise<void> }[] = [];
    const services: ChildService[] = [];
    /** What the no-op endpoint answered, by operation (its last report). */
    let noOpRequests: Record<string, number> | undefined;
    const counterStoreName = settings.noOpDynamoDB ? 'no-op DynamoDB' : 'dynalite';
    try {
      context.progress(0.01, `starting kinesalite and ${counterStoreName}`);
      standIns.push(
        await startStandIn('kinesalite'),
        settings.noOpDynamoDB
          ? await startChildService(
              `${SUPPORT}no-op-dynamodb-target.ts`,
              [],
              {},
              {
                onMessage: (message) => {
                  if (message.requests) noOpRequests = message.requests as Record<string, number>;
                },
              },
            ).then((child) => ({ ...child, endpoint: child.url }))
          : await startStandIn('dynalite'),
      );
      const [kinesalite, dynalite] = standIns as [(typeof standIns)[0], (typeof standIns)[0]];
      const awsConfig = {
        aws: { region: 'us-east-1', kinesisEndpoint: kinesalite.endpoint, dynamodbEndpoint: dynalite.endpoint },
      };
      const kinesis = createKinesisClient(awsConfig);
      const dynamo = createDynamoClient(awsConfig);
      await ensureStream(kinesis, names.stream, settings.shards);
      await ensureStream(kinesis, names.dlq, 1);
      for (const table of [names.counters, names.backlogCounters, names.baseline]) {
        await ensureCountersTable(dynamo, table, { metricIndex: false });
      }
      for (const table of [names.checkpoints, names.backlogCheckpoints]) await ensureCheckpointTable(dynamo, table);

      const env = (counters: string, checkpoints: string): Record<string, string> => ({
        AWS_ENDPOINT_URL_KINESIS: kinesalite.endpoint,
        AWS_ENDPOINT_URL_DYNAMODB: dynalite.endpoint,
        KINESIS_STREAM_NAME: names.stream,
        KINESIS_DLQ_STREAM_NAME: names.dlq,
        DYNAMODB_TABLE_NAME: counters,
        DYNAMODB_CHECKPOINT_TABLE_NAME: checkpoints,
        PROCESSOR_SEGMENT_VALUE_CAP: String(SEGMENT_VALUE_CAP),
        INGEST_KPL_AGGREGATION: String(settings.kpl),
        INGEST_RECORD_FORMAT: settings.format,
        LOG_LEVEL: 'warn',
        // The state store npm start uses (embedded LMDB, one directory per counters table), or Redis with --redis.
        ...(settings.redisUrl
          ? { REDIS_URL: settings.redisUrl }
          : { PROCESSOR_STATE_STORE: 'embedded', PROCESSOR_STATE_DIR: join(stateRoot, counters) }),
      });

      // Phase A: live.
      context.progress(0.03, 'phase A: starting collector and processors');
      let live: ProcessorStats | undefined;
      const livePeaks = emptyPeaks();
      const processors = await startProcessors(env(names.counters, names.checkpoints), (stats) => {
        live = stats;
        notePeaks(livePeaks, undefined, stats.memoryMiB);
      });
      services.push(processors);
      const collector = await startChildService(
        `${SUPPORT}ingest-target.ts`,
        ['collector'],
        env(names.counters, names.checkpoints),
      );
      services.push(collector);
      const sendCounters = { accepted: 0, rejected: 0, failedRequests: 0 };
      const sampler = setInterval(() => {
        notePeaks(livePeaks, rssSplitOf(processors.process.pid));
        samples.push({
          t: (Date.now() - started) / 1000,
          accepted: sendCounters.accepted,
          counted: live?.counted ?? 0,
          lagMs: live?.lagMs ?? 0,
          rssMiB: {
            collector: currentRssOf(collector.process.pid),
            processors: currentRssOf(processors.process.pid),
            kinesalite: currentRssOf(kinesalite.process.pid),
            dynalite: currentRssOf(dynalite.process.pid),
          },
        });
      }, 1000);
      // Whose CPU the live phase took, per process (the 2 cores are shared: this separates ours from the stand-ins').
      const liveCpuOf = (): number[] => {
        const bench = process.cpuUsage();
        return [
          ...[collector, processors, kinesalite, dynalite].map((child) => cpuSecondsOf(child.process.pid) ?? 0),
          (bench.user + bench.system) / 1e6,
        ];
      };
      // Prepared before the CPU counts start: producers run on machines of their own.
      context.progress(0.04, 'phase A: preparing the workload');
      const load = prepareWorkload(settings);
      const liveCpuBefore = liveCpuOf();
      const sent = await sendLoad(load, sendOptionsOf(collector.url, settings), sendCounters, (fraction) =>
        context.progress(
          0.05 + 0.45 * Math.min(1, fraction),
          `phase A: ${sendCounters.accepted.toLocaleString('en-US')} events accepted, ${(live?.counted ?? 0).toLocaleString('en-US')} counted`,
        ),
      );
      const { startedAt, endedAt } = sent;
      const uniqueAccepted = uniqueAcceptedCount(load, sent);
      context.progress(0.5, 'phase A: waiting for the processors to catch up');
      const caughtUp = await waitUntil(() => (live?.counted ?? 0) >= uniqueAccepted, SETTLE_TIMEOUT_MS);
      clearInterval(sampler);
      const liveCpu = liveCpuOf().map((seconds, index) => seconds - (liveCpuBefore[index] ?? 0));
      const collectorPeak = collector.peakRssMiB();
      const processorsPeak = processors.peakRssMiB();
      livePeaks.rss = Math.max(livePeaks.rss, processorsPeak ?? 0);
      await collector.stop();
      await processors.stop();
      if (!caughtUp)
        notes.push(
          `CORRECTNESS FAILURE: phase A: processors counted ${live?.counted ?? 0} of ${uniqueAccepted} unique accepted events within ${SETTLE_TIMEOUT_MS / 1000} s`,
        );
      const liveStats = live;
      const sendSeconds = (endedAt - startedAt) / 1000;
      const e2eSeconds = ((liveStats?.lastCommitAt ?? endedAt) - startedAt) / 1000;
      const acceptedPerSecond = sendCounters.accepted / sendSeconds;
      rows.push({
        name: 'A. live: collector → processors → counters',
        metrics: {
          'events/s': sendCounters.accepted / Math.max(e2eSeconds, sendSeconds),
          'accepted/s': acceptedPerSecond,
          'freshness p50 ms': liveStats?.freshnessMs.p50 ?? '—',
          'p95 ms': liveStats?.freshnessMs.p95 ?? '—',
          'p99 ms': liveStats?.freshnessMs.p99 ?? '—',
          'writes/1k events': ((liveStats?.counterWrites ?? 0) / Math.max(1, liveStats?.userRecords ?? 1)) * 1000,
          'peak RSS MiB (collector/processors)': `${collectorPeak?.toFixed(0) ?? '—'} / ${processorsPeak?.toFixed(0) ?? '—'}`,
        },
      });
      notes.push(
        `phase A: ${sendCounters.accepted} events accepted (${sendCounters.rejected} malformed rejected by the collector), ${uniqueAccepted} unique; processors counted ${liveStats?.counted ?? 0}, skipped ${liveStats?.duplicates ?? 0} duplicates; ${((liveStats?.userRecords ?? 0) / Math.max(1, liveStats?.kinesisRecords ?? 1)).toFixed(1)} events per Kinesis record (${settings.format} records); max lag ${Math.max(0, ...samples.map((s) => s.lagMs))} ms${sendCounters.failedRequests > 0 ? `; ${sendCounters.failedRequests} requests given up after 5 answers of 429 or 503 (their events are not in the ground truth)` : ''}`,
      );

      notes.push(liveCpuNote(liveCpu, sendCounters.accepted, counterStoreName));
      if (liveStats) {
        notes.push(
          `phase A (live), where a batch's time goes (p50 / p99 ms over ${liveStats.batches} batches): ${describeStages(liveStats.stagesMs)}`,
        );
      }

      const accepted = acceptedEvents(load, sent);
      const expected = computeExpectedCounters(accepted, { segmentValueCap: SEGMENT_VALUE_CAP });
      if (settings.injectMiscount) {
        const victim = accepted[0] as StreamEvent;
        await dynamo.send(
          new UpdateItemCommand({
            TableName: names.counters,
            Key: {
              [COUNTER_PARTITION_KEY]: { S: victim.experimentId },
              [COUNTER_SORT_KEY]: {
                S: encodeCellKey({ variantId: victim.variantId, metricKey: victim.metric ?? EXPOSURE_METRIC }),
              },
            },
            UpdateExpression: 'ADD events :one',
            ExpressionAttributeValues: { ':one': { N: '1' } },
          }),
        );
        notes.push('--inject-miscount: added 1 to one counter cell before the check');
      }
      context.progress(0.55, 'checking every counter of phase A');
      if (settings.noOpDynamoDB) notes.push(NOT_CHECKED('phase A (live)'));
      else await checkCorrectness('phase A (live)', dynamo, names.counters, expected, notes);

      // Phase B: the same backlog, drained by fresh processors, then by the baseline.
      context.progress(0.6, 'phase B: processors draining the backlog');
      // One or more processor processes, each given a fixed set of shards (PROCESSOR_SHARD_ASSIGNMENT).
      const backlogStats: (ProcessorStats | undefined)[] = Array.from({ length: settings.processors });
      const backlogPeaks = emptyPeaks();
      const backlogMemory: { t: number; rss: number; anon: number; file: number }[] = [];
      const backlogStart = Date.now();
      const standInCpuBefore = standIns.map((standIn) => cpuSecondsOf(standIn.process.pid) ?? 0);
      // Started together, so their module loading overlaps and the drain window starts once.
      const backlogProcessors: ChildService[] = await Promise.all(
        Array.from({ length: settings.processors }, (_, index) =>
          startProcessors(
            {
              ...env(names.backlogCounters, names.backlogCheckpoints),
              PROCESSOR_SHARD_ASSIGNMENT: `${index}/${settings.processors}`,
            },
            (stats) => {
              backlogStats[index] = stats;
              notePeaks(backlogPeaks, undefined, stats.memoryMiB);
            },
          ),
        ),
      );
      services.push(...backlogProcessors);
      // Sampled 4× a second: a backlog's peak is short (one large batch).
      const backlogSampler = setInterval(() => {
        const splits = backlogProcessors.map((child) => rssSplitOf(child.process.pid));
        for (const split of splits) notePeaks(backlogPeaks, split);
        const sum = (key: keyof RssSplitMiB) => splits.reduce((total, split) => total + (split?.[key] ?? 0), 0);
        backlogMemory.push({ t: (Date.now() - started) / 1000, rss: sum('rss'), anon: sum('anon'), file: sum('file') });
      }, 250);
      const countedInBacklog = () => backlogStats.reduce((sum, stats) => sum + (stats?.counted ?? 0), 0);
      await waitUntil(() => countedInBacklog() >= uniqueAccepted, SETTLE_TIMEOUT_MS);
      clearInterval(backlogSampler);
      for (const child of backlogProcessors) await child.stop();
      const finishedStats = backlogStats.filter((stats): stats is ProcessorStats => stats !== undefined);
      // From the processors' own start (module loading excluded: the baseline runs in this process).
      const drainStart =
        finishedStats.length > 0 ? Math.min(...finishedStats.map((stats) => stats.startedAt)) : backlogStart;
      const drainEnd = Math.max(...finishedStats.map((stats) => stats.lastCommitAt ?? Date.now()));
      const backlogSeconds = (drainEnd - drainStart) / 1000;
      const backlogEvents = finishedStats.reduce((sum, stats) => sum + stats.userRecords, 0);
      const backlogWrites = finishedStats.reduce((sum, stats) => sum + stats.counterWrites, 0);
      const oursPerSecond = backlogEvents / backlogSeconds;
      const oursWritesPerK = (backlogWrites / Math.max(1, backlogEvents)) * 1000;
      const peakRss = Math.max(...backlogProcessors.map((child) => child.peakRssMiB() ?? 0));
      backlogPeaks.rss = Math.max(backlogPeaks.rss, peakRss);
      notes.push(describePeaks('phase A (live)', livePeaks), describePeaks('phase B (backlog)', backlogPeaks));
      // Whose CPU the drain took: ours (the processors, module loading excluded) and the stand-ins'.
      const processorsCpu = finishedStats.reduce((sum, stats) => sum + stats.cpuSeconds, 0);
      const processorsMainThreadCpu = finishedStats.every((stats) => stats.mainThreadCpuSeconds !== undefined)
        ? finishedStats.reduce((sum, stats) => sum + (stats.mainThreadCpuSeconds ?? 0), 0)
        : undefined;
      const standInCpu = standIns.reduce(
        (sum, standIn, i) => sum + ((cpuSecondsOf(standIn.process.pid) ?? 0) - (standInCpuBefore[i] ?? 0)),
        0,
      );
      const perEvent = (seconds: number) => (seconds / Math.max(1, backlogEvents)) * 1e6;
      rows.push({
        name: `B. backlog: processors (micro-batch, exactly once${settings.processors > 1 ? `, ${settings.processors} processes` : ''})`,
        metrics: {
          'events/s': oursPerSecond,
          ...(settings.processors > 1 ? { 'events/s per process': oursPerSecond / settings.processors } : {}),
          'writes/1k events': oursWritesPerK,
          'CPU µs/event: processors / kinesalite+dynalite': `${perEvent(processorsCpu).toFixed(1)} / ${perEvent(standInCpu).toFixed(1)}`,
          'peak RSS MiB': peakRss > 0 ? peakRss : '—',
          'RSS anon / file MiB': `${backlogPeaks.anon.toFixed(0)} / ${backlogPeaks.file.toFixed(0)}`,
          'V8 heap used / total MiB': `${backlogPeaks.heapUsed.toFixed(0)} / ${backlogPeaks.heapTotal.toFixed(0)}`,
        },
      });
      if (processorsMainThreadCpu !== undefined) {
        notes.push(
          `phase B (backlog): the processors' ${perEvent(processorsCpu).toFixed(1)} µs of CPU per event are ${perEvent(processorsMainThreadCpu).toFixed(1)} on the main thread (JavaScript, LMDB, system calls) and ${perEvent(processorsCpu - processorsMainThreadCpu).toFixed(1)} on their other threads (V8's garbage-collector and compiler threads, LMDB's flush thread)`,
        );
      }
      notes.push(
        `phase B (backlog), where the readers' time went (ms summed over ${finishedStats.reduce((sum, stats) => sum + stats.batches, 0)} batches of ${settings.shards} shard readers): ${describeStageTotals(
          finishedStats.map((stats) => stats.stagesMs),
          drainEnd - drainStart,
          settings.shards,
        )}`,
      );
      if (settings.noOpDynamoDB) notes.push(NOT_CHECKED('phase B (backlog, fresh processors)'));
      else
        await checkCorrectness('phase B (backlog, fresh processors)', dynamo, names.backlogCounters, expected, notes);

      context.progress(0.8, 'phase B: baseline (one UpdateItem ADD per event)');
      let baselineStats = { events: 0, writes: 0, at: Date.now() };
      const baselineStart = Date.now();
      let baselineDone = false;
      const baseline = await startChildService(
        `${SUPPORT}baseline-target.ts`,
        [String(settings.baselineSeconds)],
        env(names.baseline, names.checkpoints),
        {
          onMessage: (message) => {
            if (message.stats) baselineStats = message.stats as typeof baselineStats;
            if (message.done) baselineDone = true;
          },
        },
      );
      services.push(baseline);
      await waitUntil(() => baselineDone, (settings.baselineSeconds + 30) * 1000);
      await baseline.stop();
      const baselineSeconds = (baselineStats.at - baselineStart) / 1000;
      const baselinePerSecond = baselineStats.events / Math.max(0.001, baselineSeconds);
      const baselineWritesPerK = (baselineStats.writes / Math.max(1, baselineStats.events)) * 1000;
      rows.push({
        name: 'B. baseline: one UpdateItem ADD per event',
        metrics: {
          'events/s': baselinePerSecond,
          'writes/1k events': baselineWritesPerK,
          'peak RSS MiB': baseline.peakRssMiB() ?? '—',
        },
      });
      notes.push(
        `baseline processed ${baselineStats.events} of ${accepted.length} events in ${baselineSeconds.toFixed(1)} s (limit ${settings.baselineSeconds} s)`,
      );

      // Charts.
      await mkdir(settings.resultsDir, { recursive: true });
      const rate = (key: 'accepted' | 'counted'): [number, number][] =>
        samples.slice(1).map((s, i) => [s.t, s[key] - (samples[i] as Sample)[key]]);
      const throughputSvg = renderLineChart(
        [
          { name: 'accepted events/s', points: rate('accepted'), color: '#1f77b4' },
          { name: 'counted events/s', points: rate('counted'), color: '#2ca02c' },
          { name: 'reader lag ms', points: samples.map((s) => [s.t, s.lagMs]), color: '#d62728', axis: 'right' },
        ],
        { title: 'Pipeline throughput and consumer lag (phase A)', leftLabel: 'events/s', rightLabel: 'lag (ms)' },
      );
      const memorySvg = renderLineChart(
        [
          ...(['collector', 'processors', 'kinesalite', 'dynalite'] as const).map((name, i) => ({
            name: `${name} RSS MiB`,
            points: samples
              .filter((s) => s.rssMiB[name] !== undefined)
              .map((s) => [s.t, s.rssMiB[name] as number] as [number, number]),
            color: ['#1f77b4', '#2ca02c', '#ff7f0e', '#9467bd'][i] as string,
          })),
          {
            name: 'backlog processors RSS MiB',
            points: backlogMemory.map((m) => [m.t, m.rss] as [number, number]),
            color: '#d62728',
          },
          {
            name: 'backlog processors anonymous RSS MiB',
            points: backlogMemory.map((m) => [m.t, m.anon] as [number, number]),
            color: '#8c564b',
          },
        ],
        { title: 'Resident memory per process (phase A live, then phase B backlog)', leftLabel: 'MiB' },
      );
      // A no-op run's reports and charts sit beside the default run's, never over them.
      const reportName = settings.noOpDynamoDB ? 'pipeline-no-op-dynamodb' : 'pipeline';
      const charts = [`${reportName}-throughput.svg`, `${reportName}-memory.svg`];
      await writeFile(join(settings.resultsDir, charts[0] as string), throughputSvg);
      await writeFile(join(settings.resultsDir, charts[1] as string), memorySvg);

      const speedRatio = oursPerSecond / Math.max(0.001, baselinePerSecond);
      notes.push(
        drainCeilingNote(
          perEvent(processorsCpu),
          perEvent(standInCpu),
          oursPerSecond,
          Math.max(0.001, baselinePerSecond),
          availableParallelism(),
        ),
      );
      const writeRatio = baselineWritesPerK / Math.max(0.001, oursWritesPerK);
      const targets: BenchTarget[] = [
        {
          description: `processors ≥ ${DRAIN_TARGET_RATIO}× the baseline events/s (same backlog)`,
          measured: `${speedRatio.toFixed(1)}×`,
          met: speedRatio >= DRAIN_TARGET_RATIO,
        },
        {
          description: '≥ 50× fewer DynamoDB writes per event than the baseline',
          measured: `${writeRatio.toFixed(1)}×`,
          met: writeRatio >= 50,
        },
        {
          // Issue #20: ≤ 1 s at a sustained 10k events/s (`--duration 90 --rate 10000`); measured at the rate achieved.
          description: 'p99 freshness ≤ 1 s (live, at the rate achieved)',
          measured: `${liveStats?.freshnessMs.p99 ?? '—'} ms at ${acceptedPerSecond.toFixed(0)} events/s`,
          met: (liveStats?.freshnessMs.p99 ?? Infinity) <= 1000,
        },
      ];
      const processorsPeakRss = Math.max(livePeaks.rss, backlogPeaks.rss);
      targets.push({
        description: `processors peak RSS ≤ ${PROCESSORS_RSS_LIMIT_MIB} MiB, live and draining the backlog`,
        measured: `${livePeaks.rss.toFixed(0)} MiB live, ${backlogPeaks.rss.toFixed(0)} MiB backlog`,
        met: processorsPeakRss > 0 && processorsPeakRss <= PROCESSORS_RSS_LIMIT_MIB,
      });
      if (settings.durationSeconds) {
        const processorRss = samples.map((s) => s.rssMiB.processors).filter((v): v is number => v !== undefined);
        const early = processorRss[Math.floor(processorRss.length * 0.25)] ?? 0;
        const late = Math.max(...processorRss.slice(Math.floor(processorRss.length * 0.75)));
        targets.push({
          description: 'processors memory flat over the sustained run (last quarter ≤ 1.2 × first quarter)',
          measured: `${early.toFixed(0)} → ${late.toFixed(0)} MiB`,
          met: late <= early * 1.2,
        });
      }
      if (noOpRequests) {
        notes.push(
          `--dynamodb no-op: the endpoint answered ${Object.entries(noOpRequests)
            .map(([operation, count]) => `${operation} ${count.toLocaleString('en-US')}`)
            .join(', ')}; it ran in dynalite's place (its CPU is in dynalite's columns) and dynalite did not run`,
        );
      }
      const report: BenchReport = {
        scenario: reportName,
        title: settings.noOpDynamoDB
          ? 'End-to-end pipeline vs the per-event UpdateItem ADD baseline, both writing to a no-op DynamoDB endpoint'
          : 'End-to-end pipeline vs the per-event UpdateItem ADD baseline',
        command: context.command,
        startedAt: new Date(started).toISOString(),
        durationMs: Date.now() - started,
        environment: benchEnvironment(),
        parameters: {
          ...settings.shape,
          events: settings.durationSeconds ? 'sustained' : settings.shape.events,
          durationSeconds: settings.durationSeconds,
          rate: settings.rate,
          shards: settings.shards,
          kpl: settings.kpl,
          format: settings.format,
          processors: settings.processors,
          concurrency: settings.concurrency,
          redis: Boolean(settings.redisUrl),
          dynamodb: settings.noOpDynamoDB ? 'no-op' : 'dynalite',
        },
        rows,
        ratios: {
          'processors / baseline events/s': speedRatio,
          'baseline / processors DynamoDB writes per event': writeRatio,
        },
        targets,
        notes: [
          ...notes,
          'All processes share 2 cores: kinesalite, dynalite, collector, processors and the load generator compete for CPU; the baseline and the processors drain the same backlog one after the other.',
          "Phase B's drain time runs from the processors' start (their process has loaded its modules) to their last commit; the baseline runs inside the bench process, so neither pays for module loading.",
        ],
        artifacts: charts,
      };
      Object.assign(report, { timeline: samples, backlogMemory });
      kinesis.destroy();
      dynamo.destroy();
      return report;
    } finally {
      await Promise.all(services.map((service) => service.stop()));
      await Promise.all(standIns.map((standIn) => standIn.stop()));
      await rm(stateRoot, { recursive: true, force: true });
    }
  },
};
