/**
 * Operator: counts each outcome into the metrics as it passes, once per batch (never per event).
 */
import { tap, type MonoTypeOperatorFunction } from 'rxjs';
import type { ProcessorMetrics } from '../metrics.js';
import type { BatchOutcome } from './batch-outcome.js';

/** Records a batch outcome: records in, events out by outcome, dead letters by reason, DynamoDB writes. */
export function recordOutcome(metrics: ProcessorMetrics, outcome: BatchOutcome): void {
  metrics.kinesisRecordsIn.inc({ shard: outcome.shardId }, outcome.records);
  metrics.userRecordsIn.inc(outcome.userRecords);
  metrics.eventsOut.inc({ outcome: 'counted' }, outcome.counted);
  metrics.eventsOut.inc({ outcome: 'duplicate' }, outcome.duplicates);
  metrics.eventsOut.inc({ outcome: 'replayed' }, outcome.replayed);
  metrics.eventsOut.inc({ outcome: 'dead_lettered' }, outcome.deadLettered);
  for (const [reason, count] of Object.entries(outcome.deadLetterReasons)) metrics.deadLetters.inc({ reason }, count);
  if (outcome.indexRejected > 0) metrics.deadLetters.inc({ reason: 'index-rejected' }, outcome.indexRejected);
  metrics.dynamodbWrites.inc({ table: 'counters' }, outcome.counterWrites);
  metrics.batchDuration.observe(outcome.durationMs / 1000);
}

/** Operator form of {@link recordOutcome}. */
export function recordOutcomeMetrics(metrics: ProcessorMetrics): MonoTypeOperatorFunction<BatchOutcome> {
  return tap((outcome) => recordOutcome(metrics, outcome));
}
