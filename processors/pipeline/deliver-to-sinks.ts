/**
 * Operator: decoded batches → outcomes, after every sink acknowledged. The counter write
 * runs beside the index → dead-letter chain (the index's permanent rejections join the
 * batch's dead letters). All sinks are awaited even when one fails, so a retry of the
 * batch never runs while a write of the failed attempt is still in flight (one writer per
 * shard is what the exactly-once protocol relies on).
 */
import { concatMap, type OperatorFunction } from 'rxjs';
import { PipelineError, isPipelineError } from '../../common/errors.js';
import type { DecodedBatch } from '../decode/decode-shard-batch.js';
import type { ProcessorMetrics } from '../metrics.js';
import type { CounterSink, CounterWriteResult, DeadLetter, DeadLetterSink, EventIndexSink } from '../types.js';
import type { BatchOutcome } from './batch-outcome.js';

/** The sinks a batch is delivered to. */
export interface PipelineSinks {
  counters: CounterSink;
  deadLetters: DeadLetterSink;
  /** Absent when indexing is off. */
  index?: EventIndexSink;
}

type SinkName = 'counters' | 'dead_letters' | 'index';

async function timed<T>(metrics: ProcessorMetrics, sink: SinkName, work: () => Promise<T>): Promise<T> {
  const stop = metrics.sinkLatency.startTimer({ sink });
  try {
    return await work();
  } catch (error) {
    if (isPipelineError(error)) throw error;
    throw new PipelineError('SINK_FAILED', `${sink} sink failed: ${(error as Error)?.message ?? String(error)}`, {
      cause: error,
    });
  } finally {
    stop();
  }
}

function indexRejectionLetters(decoded: DecodedBatch, rejected: { event: unknown; reason: string }[]): DeadLetter[] {
  return rejected.map(({ event, reason }) => {
    const position = decoded.valid.indexOf(event as DecodedBatch['valid'][number]);
    const valid = decoded.valid[position];
    const source = decoded.validSources[position];
    if (!valid || !source) throw new PipelineError('INTERNAL', 'index rejected an event that is not in the batch');
    return {
      id: valid.id,
      partitionKey: source.partitionKey,
      data: source.data,
      reasons: [{ index: position, field: '(event)', rule: 'index-rejected', message: reason }],
    };
  });
}

function countReasons(letters: readonly DeadLetter[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const letter of letters) {
    const rule = letter.reasons[0]?.rule ?? 'unknown';
    counts[rule] = (counts[rule] ?? 0) + 1;
  }
  return counts;
}

const NO_COUNTER_WRITES: CounterWriteResult = { counted: 0, duplicates: 0, cells: 0, writeRequests: 0 };

/**
 * Delivers one decoded batch to the sinks and builds its outcome. Rejects with a retriable
 * `PipelineError` (code of the failing sink's error, `SINK_FAILED` otherwise) when any sink failed.
 */
export async function deliverBatch(
  decoded: DecodedBatch,
  sinks: PipelineSinks,
  metrics: ProcessorMetrics,
): Promise<BatchOutcome> {
  const startedAt = performance.now();
  const counterWrite =
    decoded.valid.length === 0
      ? Promise.resolve(NO_COUNTER_WRITES)
      : timed(metrics, 'counters', () => sinks.counters.writeBatch(decoded.shardId, decoded.valid));
  const indexThenDeadLetters = (async () => {
    const indexResult =
      sinks.index && decoded.valid.length > 0
        ? await timed(metrics, 'index', () => sinks.index!.index(decoded.valid))
        : { indexed: 0, rejected: [] };
    const letters = decoded.deadLetters.concat(indexRejectionLetters(decoded, indexResult.rejected));
    if (letters.length > 0) await timed(metrics, 'dead_letters', () => sinks.deadLetters.send(letters));
    return { indexResult, letters };
  })();
  const [counters, rest] = await Promise.allSettled([counterWrite, indexThenDeadLetters]);
  if (counters.status === 'rejected') throw counters.reason;
  if (rest.status === 'rejected') throw rest.reason;

  const { counted, duplicates, cells, writeRequests } = counters.value;
  return {
    shardId: decoded.shardId,
    lastSequenceNumber: decoded.lastSequenceNumber,
    records: decoded.records,
    userRecords: decoded.userRecords,
    counted,
    duplicates,
    replayed: decoded.valid.length - counted - duplicates,
    deadLettered: decoded.deadLetters.length,
    indexed: rest.value.indexResult.indexed,
    indexRejected: rest.value.indexResult.rejected.length,
    counterCells: cells,
    counterWrites: writeRequests,
    deadLetterReasons: countReasons(decoded.deadLetters),
    receivedAt: decoded.valid.map((valid) => valid.event.receivedAt),
    durationMs: performance.now() - (decoded.startedAt ?? startedAt),
  };
}

/** Delivers batches one after the other (order within a shard matters for checkpoints). */
export function deliverToSinks(
  sinks: PipelineSinks,
  metrics: ProcessorMetrics,
): OperatorFunction<DecodedBatch, BatchOutcome> {
  return concatMap((decoded) => deliverBatch(decoded, sinks, metrics));
}
