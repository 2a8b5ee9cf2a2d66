/**
 * Operator: decoded batches → outcomes, after every sink acknowledged. The counter write
 * runs beside the index → dead-letter chain (the index's permanent rejections join the
 * batch's dead letters). All sinks are awaited even when one fails, so a retry of the
 * batch never runs while a write of the failed attempt is still in flight (one writer per
 * shard is what the exactly-once protocol relies on).
 */
import { concatMap, type OperatorFunction } from 'rxjs';
import { PipelineError, isPipelineError, isRetriable } from '../../common/errors.js';
import { validSourceOf, type DecodedBatch } from '../decode/decode-shard-batch.js';
import type { ProcessorMetrics } from '../metrics.js';
import type {
  CounterRefusal,
  CounterSink,
  CounterWriteResult,
  DeadLetter,
  DeadLetterSink,
  DeliverySink,
  EventIndexSink,
  IndexResult,
} from '../types.js';
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
    const source = validSourceOf(decoded, position);
    if (!valid || !source) throw new PipelineError('INTERNAL', 'index rejected an event that is not in the batch');
    return {
      id: valid.id,
      partitionKey: source.partitionKey,
      data: source.data,
      reasons: [{ index: position, field: '(event)', rule: 'index-rejected', message: reason }],
      // The counters take every valid event of the batch: a replay must send this one to the index only.
      takenBy: ['counters'],
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

const NO_COUNTER_WRITES: CounterWriteResult = { counted: 0, duplicates: 0, cells: 0, writeRequests: 0, refused: [] };
const NO_INDEX_WRITES: IndexResult = { indexed: 0, rejected: [] };

/** Dead letters for the events the counters refused; `indexed` says whether the index took them. */
function refusalLetters(decoded: DecodedBatch, refused: readonly CounterRefusal[], indexed: boolean): DeadLetter[] {
  return refused.map(({ event, rule, message }) => {
    const position = decoded.valid.indexOf(event);
    const source = validSourceOf(decoded, position);
    if (!source) throw new PipelineError('INTERNAL', 'the counters refused an event that is not in the batch');
    return {
      id: event.id,
      partitionKey: source.partitionKey,
      data: source.data,
      reasons: [{ index: position, field: 'value', rule, message }],
      takenBy: indexed ? ['index'] : [],
    };
  });
}

/**
 * One dead letter per record: an event both refused by the counters and rejected by the
 * index carries both reasons and no sink in `takenBy`.
 */
function mergeLetters(letters: readonly DeadLetter[]): DeadLetter[] {
  const byRecord = new Map<string, DeadLetter>();
  for (const letter of letters) {
    const key = `${letter.id.sequenceNumber}.${letter.id.subSequenceNumber}`;
    const seen = byRecord.get(key);
    if (!seen) {
      byRecord.set(key, letter);
      continue;
    }
    const takenBy = (seen.takenBy ?? []).filter((sink) => (letter.takenBy ?? []).includes(sink));
    byRecord.set(key, { ...seen, reasons: [...seen.reasons, ...letter.reasons], takenBy });
  }
  return [...byRecord.values()];
}

/**
 * The error a failed delivery rejects with. `STATE_LOST` wins (counting must stop); then a
 * retriable failure (the batch is retried as a whole); a permanent failure carries
 * `details.takenBy`, the sinks that did take the batch, so the commit step can dead-letter
 * an isolated record for the other sinks only.
 */
function deliveryError(
  counters: PromiseSettledResult<unknown>,
  index: PromiseSettledResult<unknown>,
  indexOn: boolean,
): unknown {
  const failures: unknown[] = [counters, index].flatMap((result) =>
    result.status === 'rejected' ? [result.reason as unknown] : [],
  );
  const stateLost = failures.find((error) => isPipelineError(error) && error.code === 'STATE_LOST');
  if (stateLost) return stateLost;
  const retriable = failures.find((error) => isRetriable(error));
  if (retriable) return retriable;
  const permanent = failures[0];
  if (!isPipelineError(permanent)) return permanent;
  const takenBy: DeliverySink[] = [];
  if (counters.status === 'fulfilled') takenBy.push('counters');
  if (indexOn && index.status === 'fulfilled') takenBy.push('index');
  return new PipelineError(permanent.code, permanent.message, { cause: permanent, details: { takenBy } });
}

/**
 * Delivers one decoded batch to the sinks and builds its outcome: counters and index in
 * parallel, then one dead-letter write for the batch (invalid records, index rejections,
 * counter refusals). Rejects with a `PipelineError` when any sink failed (see deliveryError).
 */
export async function deliverBatch(
  decoded: DecodedBatch,
  sinks: PipelineSinks,
  metrics: ProcessorMetrics,
): Promise<BatchOutcome> {
  const startedAt = performance.now();
  const hasValid = decoded.valid.length > 0;
  const indexOn = sinks.index !== undefined && hasValid;
  const [counters, index] = await Promise.allSettled([
    hasValid
      ? timed(metrics, 'counters', () => sinks.counters.writeBatch(decoded.shardId, decoded.valid))
      : Promise.resolve(NO_COUNTER_WRITES),
    indexOn ? timed(metrics, 'index', () => sinks.index!.index(decoded.valid)) : Promise.resolve(NO_INDEX_WRITES),
  ]);
  if (counters.status === 'rejected' || index.status === 'rejected') throw deliveryError(counters, index, indexOn);

  const { counted, duplicates, cells, writeRequests, refused } = counters.value;
  const refusedLetters = refusalLetters(decoded, refused, indexOn);
  const letters = mergeLetters([
    ...decoded.deadLetters,
    ...indexRejectionLetters(decoded, index.value.rejected),
    ...refusedLetters,
  ]);
  if (letters.length > 0) await timed(metrics, 'dead_letters', () => sinks.deadLetters.send(letters));
  return {
    shardId: decoded.shardId,
    lastSequenceNumber: decoded.lastSequenceNumber,
    records: decoded.records,
    userRecords: decoded.userRecords,
    counted,
    duplicates,
    replayed: decoded.valid.length - counted - duplicates - refused.length,
    deadLettered: decoded.deadLetters.length + refused.length,
    indexed: index.value.indexed,
    indexRejected: index.value.rejected.length,
    counterCells: cells,
    counterWrites: writeRequests,
    deadLetterReasons: countReasons([...decoded.deadLetters, ...refusedLetters]),
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
