/**
 * Replays dead letters after a fix, sending each one ONLY to the sinks that did not take
 * it before it was dead-lettered (the envelope's `takenBy`), whatever its age:
 *
 *   takenBy []                     → the main stream: the ORIGINAL bytes under the ORIGINAL
 *                                    partition key, so the pipeline sees exactly what the
 *                                    producer sent and the record lands on its shard
 *   takenBy ['counters']           → the OpenSearch index directly (never the main stream:
 *   (e.g. `index-rejected`)          the counters would count it again once the eventId
 *                                    de-dup window has passed); with indexing off
 *                                    (no OPENSEARCH_ENDPOINT) skipped and counted as such
 *   takenBy ['counters', 'index']  → nothing left to do: skipped
 *
 * A letter the index took but the counters did not goes to the main stream: the index
 * gets it again, which is harmless because documents use `_id = eventId` (a re-index
 * overwrites). Counters are the one sink that must never see a record twice.
 *
 * Repeating a replay: the dead-letter stream is read from TRIM_HORIZON every time, so a
 * second replay sends the same letters again. For the index that is harmless (`_id =
 * eventId`). For the main stream it is harmless only within the de-dup window
 * (PROCESSOR_DEDUP_WINDOW_SECONDS, 24 h by default), in which the counters recognise the
 * eventId; after it, a letter replayed (and counted) once counts again. Use `--reason` to
 * replay only what the fix addressed. Letters still invalid after the "fix" are dead-lettered
 * again with fresh reasons (by the pipeline, or here for letters sent to the index, keeping
 * their `takenBy`). Truncated letters (see envelope.ts) and undecodable records are skipped
 * and counted.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { EventRejection } from '../../common/event-contract.js';
import type { Logger } from '../../common/logger.js';
import type { RetryPolicy } from '../../common/retry.js';
import { decodeEvent, type DecodeLimits } from '../decode/decode-user-record.js';
import type { DeadLetter, DeadLetterSink, EventIndexSink, RecordIdentity, ValidEvent } from '../types.js';
import { INDEX_REJECTED_RULE, normalizedSinks, originalBytes, type DeadLetterEnvelope } from './envelope.js';
import { chunkPutEntries, type PutEntry } from '../../common/kinesis/put-records.js';
import { putRecordsDurably } from './put-records.js';
import { readDeadLetters, type ReadStop } from './reader.js';

/** Letters sent to the index per `index()` call: bounds memory and paces the progress bar. */
const INDEX_CHUNK_SIZE = 500;

/** Where replay sends letters the counters already took. */
export interface IndexReplayTarget {
  /** The OpenSearch sink, as the pipeline builds it from config (processors/opensearch/from-config.ts). */
  sink: EventIndexSink;
  /** Where letters the index refuses again (or that no longer decode) are dead-lettered again. */
  deadLetters: DeadLetterSink;
  /** The pipeline's decode limits (`config.events`): a letter is re-validated before it is indexed. */
  limits: DecodeLimits;
}

export interface ReplayOptions {
  kinesis: KinesisClient;
  dlqStreamName: string;
  /** The main stream the pipeline reads (`KINESIS_STREAM_NAME`). */
  targetStreamName: string;
  /**
   * The index, for letters the counters already took. Absent when indexing is off: those
   * letters are then skipped (`skippedAlreadyCounted`), never sent to the main stream.
   */
  index?: IndexReplayTarget;
  /** At most this many dead letters are read (and replayed). */
  limit: number;
  /** Count what would be replayed where, without writing anything. */
  dryRun: boolean;
  /** Replays only letters this returns true for (e.g. one rejection rule). */
  letterFilter?: (envelope: DeadLetterEnvelope) => boolean;
  maxDurationMs?: number;
  retryPolicy?: RetryPolicy;
  logger?: Logger;
  /** Called once the plan is known (nothing done yet) and after every write. */
  onProgress?: (progress: ReplayProgress) => void;
}

/** How far a replay is: letters handled so far, in all and per destination. */
export interface ReplayProgress {
  done: number;
  total: number;
  toMainStream: number;
  toIndex: number;
}

/** What a replay did (or, with `dryRun`, would do). */
export interface ReplaySummary {
  /** Dead letters read (after the filter). */
  read: number;
  /** Letters no sink had taken, written to the main stream. */
  toMainStream: number;
  /** Letters the counters had taken, sent directly to the index (= `indexed` + `deadLetteredAgain`). */
  toIndex: number;
  /** Of `toIndex`, the documents the index accepted (0 in a dry run). */
  indexed: number;
  /** Of `toIndex`, letters the index refused again or that are no longer valid events: dead-lettered again. */
  deadLetteredAgain: number;
  /** Letters the counters had taken, not replayed because indexing is off. */
  skippedAlreadyCounted: number;
  /** Letters every sink had taken: nothing left to replay. */
  skippedAlreadyDelivered: number;
  /** Letters of a record an earlier letter of this replay carries (the dead-letter stream is at least once). */
  skippedRepeated: number;
  skippedTruncated: number;
  skippedUndecodable: number;
  dryRun: boolean;
  stoppedBy: ReadStop;
}

/** Where one letter goes. */
export type ReplayRoute =
  'main-stream' | 'index' | 'skip-already-counted' | 'skip-already-delivered' | 'skip-truncated';

/** Where a letter of a planned replay goes: its route, or nowhere when an earlier letter carries the same record. */
export type PlannedRoute = ReplayRoute | 'skip-repeated';

/**
 * The route of one letter: only to the sinks that did not take it (see the module comment).
 * Pure.
 *
 * @example
 *   replayRoute(envelope, { indexing: false }); // 'skip-already-counted' for an index-rejected letter
 */
export function replayRoute(envelope: DeadLetterEnvelope, options: { indexing: boolean }): ReplayRoute {
  if (envelope.truncated) return 'skip-truncated';
  if (!envelope.takenBy.includes('counters')) return 'main-stream';
  if (envelope.takenBy.includes('index')) return 'skip-already-delivered';
  return options.indexing ? 'index' : 'skip-already-counted';
}

/** Letters grouped by route. */
export type ReplayPlan = Record<PlannedRoute, DeadLetterEnvelope[]>;

/** The record a letter carries: its source stream, shard, sequence and sub-sequence number. */
const recordKeyOf = (envelope: DeadLetterEnvelope): string =>
  `${envelope.sourceStream}\u0000${envelope.shardId}\u0000${envelope.sequenceNumber}\u0000${envelope.subSequenceNumber}`;

/**
 * Groups letters by {@link replayRoute}, keeping their order. Pure.
 *
 * A record is replayed once however many letters carry it: the dead-letter stream is at least
 * once (a batch retried after its dead letters were written writes them again, and so does a
 * Lambda retry that repeats an isolation), and a record sent to the main stream twice would be
 * counted twice once the de-dup window has passed. The first letter of a record is routed with
 * every sink any of its letters says took it; the others are `skip-repeated`.
 *
 * @example
 *   const plan = planReplay(envelopes, { indexing: true });
 *   plan['main-stream'].length; // letters for the main stream
 */
export function planReplay(envelopes: readonly DeadLetterEnvelope[], options: { indexing: boolean }): ReplayPlan {
  const plan: ReplayPlan = {
    'main-stream': [],
    index: [],
    'skip-already-counted': [],
    'skip-already-delivered': [],
    'skip-truncated': [],
    'skip-repeated': [],
  };
  const firstOfRecord = new Map<string, DeadLetterEnvelope>();
  for (const envelope of envelopes) {
    const key = recordKeyOf(envelope);
    const first = firstOfRecord.get(key);
    if (first === undefined) firstOfRecord.set(key, envelope);
    else {
      plan['skip-repeated'].push(envelope);
      if (envelope.takenBy.some((sink) => !first.takenBy.includes(sink))) {
        firstOfRecord.set(key, { ...first, takenBy: normalizedSinks([...first.takenBy, ...envelope.takenBy]) });
      }
    }
  }
  for (const envelope of firstOfRecord.values()) plan[replayRoute(envelope, options)].push(envelope);
  return plan;
}

/** The PutRecords entry that puts a letter back as the producer's record. */
export function replayEntry(envelope: DeadLetterEnvelope): PutEntry {
  return {
    data: originalBytes(envelope),
    partitionKey: envelope.partitionKey.length > 0 ? envelope.partitionKey : envelope.shardId,
  };
}

/** The identity of the record a letter carries, on its source stream. */
const identityOf = (envelope: DeadLetterEnvelope): RecordIdentity => ({
  shardId: envelope.shardId,
  sequenceNumber: envelope.sequenceNumber,
  subSequenceNumber: envelope.subSequenceNumber,
});

/** The letter again, with fresh reasons and the sinks that had taken it. */
function letterAgain(envelope: DeadLetterEnvelope, reasons: EventRejection[]): DeadLetter {
  return {
    id: identityOf(envelope),
    partitionKey: envelope.partitionKey,
    data: originalBytes(envelope),
    reasons,
    takenBy: envelope.takenBy,
  };
}

/** Indexes one chunk of letters; returns how many were indexed and how many dead-lettered again. */
async function indexChunk(
  target: IndexReplayTarget,
  chunk: readonly DeadLetterEnvelope[],
): Promise<{ indexed: number; deadLetteredAgain: number }> {
  const events: ValidEvent[] = [];
  const envelopeOf = new Map<ValidEvent, DeadLetterEnvelope>();
  const again: DeadLetter[] = [];
  for (const envelope of chunk) {
    const decoding = decodeEvent(originalBytes(envelope), 0, target.limits);
    if (!decoding.ok) {
      again.push(letterAgain(envelope, decoding.rejections));
      continue;
    }
    const event: ValidEvent = {
      id: identityOf(envelope),
      event: decoding.event,
    };
    events.push(event);
    envelopeOf.set(event, envelope);
  }
  const result = events.length > 0 ? await target.sink.index(events) : { indexed: 0, rejected: [] };
  for (const { event, reason } of result.rejected) {
    const envelope = envelopeOf.get(event);
    if (envelope) {
      again.push(letterAgain(envelope, [{ index: 0, field: '(event)', rule: INDEX_REJECTED_RULE, message: reason }]));
    }
  }
  if (again.length > 0) await target.deadLetters.send(again);
  return { indexed: result.indexed, deadLetteredAgain: again.length };
}

function chunksOf<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let start = 0; start < items.length; start += size) chunks.push(items.slice(start, start + size));
  return chunks;
}

/**
 * Reads up to `limit` dead letters and sends each to the sinks that did not take it: the
 * main stream for letters no sink took, the index directly for letters the counters took.
 * Rejects (with the sinks' typed errors) when a write fails for good; what was written
 * before stays written, and repeating the replay is safe for the index (see the module comment).
 *
 * @example
 *   const summary = await replayDeadLetters({ kinesis, dlqStreamName, targetStreamName, limit: 1000, dryRun: false,
 *     index: { sink: indexSink, deadLetters, limits: config.events } });
 *   console.log(summary.toMainStream, summary.toIndex, summary.skippedAlreadyCounted);
 */
export async function replayDeadLetters(options: ReplayOptions): Promise<ReplaySummary> {
  const { letters, stoppedBy } = await readDeadLetters({
    kinesis: options.kinesis,
    streamName: options.dlqStreamName,
    limit: options.limit,
    letterFilter: options.letterFilter,
    maxDurationMs: options.maxDurationMs,
    retryPolicy: options.retryPolicy,
  });
  const decoded = letters.flatMap((letter) => (letter.decoding.ok ? [letter.decoding.envelope] : []));
  const plan = planReplay(decoded, { indexing: options.index !== undefined });
  const toMainStream = plan['main-stream'];
  const toIndex = plan.index;
  const summary: ReplaySummary = {
    read: letters.length,
    toMainStream: 0,
    toIndex: 0,
    indexed: 0,
    deadLetteredAgain: 0,
    skippedAlreadyCounted: plan['skip-already-counted'].length,
    skippedAlreadyDelivered: plan['skip-already-delivered'].length,
    skippedRepeated: plan['skip-repeated'].length,
    skippedTruncated: plan['skip-truncated'].length,
    skippedUndecodable: letters.length - decoded.length,
    dryRun: options.dryRun,
    stoppedBy,
  };
  if (summary.skippedAlreadyCounted > 0) {
    options.logger?.warn(
      { skippedAlreadyCounted: summary.skippedAlreadyCounted },
      'dead letters already counted are not replayed: OpenSearch indexing is off (OPENSEARCH_ENDPOINT not set)',
    );
  }
  const total = toMainStream.length + toIndex.length;
  const progress = () =>
    options.onProgress?.({
      done: summary.toMainStream + summary.toIndex,
      total,
      toMainStream: summary.toMainStream,
      toIndex: summary.toIndex,
    });
  progress();
  if (options.dryRun) {
    summary.toMainStream = toMainStream.length;
    summary.toIndex = toIndex.length;
    progress();
    return summary;
  }
  // The index first: a misconfigured cluster then fails the replay before anything reached the stream.
  const target = options.index;
  if (target) {
    for (const chunk of chunksOf(toIndex, INDEX_CHUNK_SIZE)) {
      const { indexed, deadLetteredAgain } = await indexChunk(target, chunk);
      summary.indexed += indexed;
      summary.deadLetteredAgain += deadLetteredAgain;
      summary.toIndex += chunk.length;
      progress();
    }
  }
  for (const chunk of chunkPutEntries(toMainStream.map(replayEntry))) {
    await putRecordsDurably(options.kinesis, options.targetStreamName, chunk, {
      policy: options.retryPolicy,
      logger: options.logger,
    });
    summary.toMainStream += chunk.length;
    progress();
  }
  return summary;
}
