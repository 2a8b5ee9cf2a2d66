/**
 * Prometheus metrics of the collector, in a registry of its own (several collectors can
 * live in one process, as in tests), served at GET /metrics.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BatcherObserver } from './put-records-batcher.js';

export interface CollectorMetrics extends BatcherObserver {
  registry: Registry;
  accepted: Counter;
  rejected: Counter<'rule'>;
  /** Requests refused as a whole (max-events, charset, utf-8, max-depth, …), by rule or error code. */
  refused: Counter<'rule'>;
  throttled: Counter<'reason'>;
  failed: Counter<'code'>;
}

export function createCollectorMetrics(options: { defaultMetrics?: boolean } = {}): CollectorMetrics {
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry });
  const accepted = new Counter({
    name: 'collector_events_accepted_total',
    help: 'Events durably written to Kinesis',
    registers: [registry],
  });
  const rejected = new Counter({
    name: 'collector_events_rejected_total',
    help: 'Events refused by validation, by rule',
    labelNames: ['rule'] as const,
    registers: [registry],
  });
  const refused = new Counter({
    name: 'collector_requests_refused_total',
    help: 'Requests refused as a whole (nothing written), by rule or error code',
    labelNames: ['rule'] as const,
    registers: [registry],
  });
  const throttled = new Counter({
    name: 'collector_throttled_total',
    help: 'Throttling: requests refused for backpressure, and Kinesis entries throttled (retried)',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const failed = new Counter({
    name: 'collector_events_failed_total',
    help: 'Valid events that could not be written after all retries, by Kinesis error code',
    labelNames: ['code'] as const,
    registers: [registry],
  });
  const putLatency = new Histogram({
    name: 'collector_putrecords_duration_seconds',
    help: 'PutRecords call latency',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const putBatchSize = new Histogram({
    name: 'collector_putrecords_batch_records',
    help: 'Kinesis records per PutRecords call',
    buckets: [1, 5, 10, 50, 100, 250, 500],
    registers: [registry],
  });
  return {
    registry,
    accepted,
    rejected,
    refused,
    throttled,
    failed,
    onPutRecords(durationMs, records) {
      putLatency.observe(durationMs / 1000);
      putBatchSize.observe(records);
    },
    onThrottled(entries) {
      throttled.inc({ reason: 'kinesis' }, entries);
    },
  };
}
