/**
 * Operator: shard batches → decoded batches. Synchronous and pure; per-record failures
 * are already outcomes (dead letters) so nothing here can error the stream.
 */
import { map, type OperatorFunction } from 'rxjs';
import { decodeShardBatch, type DecodedBatch } from '../decode/decode-shard-batch.js';
import type { DecodeLimits } from '../decode/decode-user-record.js';
import { observeStage, type ProcessorMetrics } from '../metrics.js';
import type { ShardBatch } from '../types.js';

/**
 * Decodes each batch with `limits`, stamping when the batch's processing started; the decode
 * time goes to `processor_stage_seconds{stage="decode"}` when `metrics` is given.
 */
export function decodeBatches(
  limits: DecodeLimits,
  metrics?: Pick<ProcessorMetrics, 'stageDuration'>,
): OperatorFunction<ShardBatch, DecodedBatch> {
  return map((batch) => {
    const startedAt = performance.now();
    const decoded = { ...decodeShardBatch(batch, limits), startedAt };
    if (metrics) observeStage(metrics, 'decode', (performance.now() - startedAt) / 1000);
    return decoded;
  });
}
