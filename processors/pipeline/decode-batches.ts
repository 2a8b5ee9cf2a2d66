/**
 * Operator: shard batches → decoded batches. Synchronous and pure; per-record failures
 * are already outcomes (dead letters) so nothing here can error the stream.
 */
import { map, type OperatorFunction } from 'rxjs';
import { decodeShardBatch, type DecodedBatch } from '../decode/decode-shard-batch.js';
import type { DecodeLimits } from '../decode/decode-user-record.js';
import type { ShardBatch } from '../types.js';

/** Decodes each batch with `limits`, stamping when the batch's processing started. */
export function decodeBatches(limits: DecodeLimits): OperatorFunction<ShardBatch, DecodedBatch> {
  return map((batch) => {
    const startedAt = performance.now();
    return { ...decodeShardBatch(batch, limits), startedAt };
  });
}
