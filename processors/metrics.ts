/**
 * Prometheus metrics of the processors, in one registry per processor instance so tests
 * and in-process benches never collide on the global registry. Label sets stay small
 * (reason, sink, shard) so cardinality is bounded by configuration, not by traffic.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The metrics every processors component records into. */
export interface ProcessorMetrics {
  readonly registry: Registry;
  readonly kinesisRecordsIn: Counter<'shard'>;
  readonly userRecordsIn: Counter;
  /** Events out, by explicit outcome: counted, duplicate, replayed, dead_lettered. */
  readonly eventsOut: Counter<'outcome'>;
  readonly deadLetters: Counter<'reason'>;
  readonly dynamodbWrites: Counter<'table'>;
  readonly sinkLatency: Histogram<'sink'>;
  readonly batchDuration: Histogram;
  readonly batchFailures: Counter<'shard'>;
  readonly checkpoints: Counter<'result'>;
  readonly throttles: Counter<'api'>;
  readonly iteratorRenewals: Counter;
  readonly millisBehindLatest: Gauge<'shard'>;
  /** Event received by the collector → its counters committed, in seconds. */
  readonly freshness: Histogram;
  /** 1 once the exactly-once state store reported lost state (STATE_LOST): shards stopped, not ready. */
  readonly stateLost: Gauge;
  /**
   * Seconds one batch spent in each stage between the collector and the checkpoint, observed once
   * per batch (never per event), label `stage` (one of {@link FRESHNESS_STAGES}).
   */
  readonly stageDuration: Histogram<'stage'>;
}

/**
 * The stages of `processor_stage_seconds`, in the order an event goes through them (each observed
 * once per batch; "first record" is the batch's oldest record):
 *
 * - `collector_to_stream`: the batch's first event received by the collector → its Kinesis record's
 *   `ApproximateArrivalTimestamp` (the collector's PutRecords linger and call; two clocks, so in AWS
 *   it includes the skew between the collector's clock and Kinesis')
 * - `stream_to_read`: the first record's arrival → the GetRecords response that returned it (poll wait)
 * - `gather`: that response → the batch's flush (the flush interval, `PROCESSOR_FLUSH_INTERVAL_MS`)
 * - `decode`: de-aggregation, decoding and validation of the batch
 * - `state`: the exactly-once state step (`UserStateStore.apply`)
 * - `cell_writes`: every conditional counter `UpdateItem` of the batch
 * - `mark_committed`: the shard's committed position in the state store
 * - `checkpoint`: the adapter's checkpoint write
 */
export const FRESHNESS_STAGES = [
  'collector_to_stream',
  'stream_to_read',
  'gather',
  'decode',
  'state',
  'cell_writes',
  'mark_committed',
  'checkpoint',
] as const;

/** One stage of {@link FRESHNESS_STAGES}. */
export type FreshnessStage = (typeof FRESHNESS_STAGES)[number];

/**
 * Records `seconds` for `stage` (negative values, from clock skew between two machines, count as 0).
 *
 * @example
 *   observeStage(metrics, 'cell_writes', (performance.now() - startedAt) / 1000);
 */
export function observeStage(metrics: Pick<ProcessorMetrics, 'stageDuration'>, stage: FreshnessStage, seconds: number) {
  metrics.stageDuration.observe({ stage }, Math.max(0, seconds));
}

/** What `GET /ready` answers: `state-lost` while {@link ProcessorMetrics.stateLost} is set. */
export type ProcessorReadiness = 'ready' | 'state-lost';

/**
 * Readiness from the metrics: not ready once state was lost (nothing may advance until an
 * operator follows the runbook and restarts the processors).
 *
 * @example
 *   if ((await readinessOf(metrics)) === 'state-lost') alarm();
 */
export async function readinessOf(metrics: ProcessorMetrics): Promise<ProcessorReadiness> {
  const value = (await metrics.stateLost.get()).values[0]?.value ?? 0;
  return value > 0 ? 'state-lost' : 'ready';
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const FRESHNESS_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300];
const STAGE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2.5, 5, 10, 30];

/**
 * Creates the processors' metrics in `registry` (a fresh one by default).
 *
 * @example
 *   const metrics = createProcessorMetrics();
 *   const text = await metrics.registry.metrics(); // Prometheus exposition format
 */
export function createProcessorMetrics(registry: Registry = new Registry()): ProcessorMetrics {
  const registers = [registry];
  return {
    registry,
    kinesisRecordsIn: new Counter({
      name: 'processor_kinesis_records_in_total',
      help: 'Kinesis records handed to the pipeline',
      labelNames: ['shard'],
      registers,
    }),
    userRecordsIn: new Counter({
      name: 'processor_user_records_in_total',
      help: 'User records after KPL de-aggregation',
      registers,
    }),
    eventsOut: new Counter({
      name: 'processor_events_out_total',
      help: 'User records by final outcome (counted, duplicate, replayed, dead_lettered)',
      labelNames: ['outcome'],
      registers,
    }),
    deadLetters: new Counter({
      name: 'processor_dead_letters_total',
      help: 'Dead letters by the first rule they broke',
      labelNames: ['reason'],
      registers,
    }),
    dynamodbWrites: new Counter({
      name: 'processor_dynamodb_writes_total',
      help: 'DynamoDB write requests, by table',
      labelNames: ['table'],
      registers,
    }),
    sinkLatency: new Histogram({
      name: 'processor_sink_latency_seconds',
      help: 'Time for a sink to acknowledge one batch',
      labelNames: ['sink'],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    batchDuration: new Histogram({
      name: 'processor_batch_duration_seconds',
      help: 'Decode plus all sinks, per batch',
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    batchFailures: new Counter({
      name: 'processor_batch_failures_total',
      help: 'Batch attempts that failed (then retried, bisected, or given up on)',
      labelNames: ['shard'],
      registers,
    }),
    checkpoints: new Counter({
      name: 'processor_checkpoints_total',
      help: 'Checkpoint writes, by result (ok, stale)',
      labelNames: ['result'],
      registers,
    }),
    throttles: new Counter({
      name: 'processor_throttles_total',
      help: 'Throttled Kinesis calls, by API',
      labelNames: ['api'],
      registers,
    }),
    iteratorRenewals: new Counter({
      name: 'processor_iterator_renewals_total',
      help: 'Shard iterators renewed after expiry',
      registers,
    }),
    millisBehindLatest: new Gauge({
      name: 'processor_millis_behind_latest',
      help: 'How far the reader is behind the tip of the shard (GetRecords MillisBehindLatest)',
      labelNames: ['shard'],
      registers,
    }),
    freshness: new Histogram({
      name: 'processor_event_freshness_seconds',
      help: 'Collector receive time to counters committed, per event',
      buckets: FRESHNESS_BUCKETS,
      registers,
    }),
    stateLost: new Gauge({
      name: 'processor_state_lost',
      help: '1 once the exactly-once state store reported lost state: shards stopped (see the runbook)',
      registers,
    }),
    stageDuration: new Histogram({
      name: 'processor_stage_seconds',
      help: 'Time one batch spent in each stage from collector to checkpoint (stage label), per batch',
      labelNames: ['stage'],
      buckets: STAGE_BUCKETS,
      registers,
    }),
  };
}
