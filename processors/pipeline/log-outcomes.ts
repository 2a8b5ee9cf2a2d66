/**
 * Operator: one log line per batch (debug), raised to warn when the batch produced dead
 * letters, so poison records are visible without logging every healthy batch.
 */
import { tap, type MonoTypeOperatorFunction } from 'rxjs';
import type { Logger } from '../../common/logger.js';
import type { BatchOutcome } from './batch-outcome.js';

/** Logs each outcome with the shard and counts as bindings (no string building). */
export function logOutcomes(logger: Logger): MonoTypeOperatorFunction<BatchOutcome> {
  return tap((outcome) => {
    const { receivedAt: _receivedAt, ...summary } = outcome;
    if (outcome.deadLettered + outcome.indexRejected > 0) logger.warn(summary, 'batch produced dead letters');
    else logger.debug(summary, 'batch committed to sinks');
  });
}
