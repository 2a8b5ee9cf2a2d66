/**
 * Reads one shard from its checkpoint to its end (or until stopped): GetRecords → pipeline →
 * checkpoint, one batch in hand at a time, so a slow sink slows reading.
 *
 * - Flush interval: records are gathered across GetRecords calls and processed as one batch at
 *   the next instant of the reader's flush grid (`flushGridOrigin` + k × `flushIntervalMs`) after
 *   the oldest of them reached the stream (its `ApproximateArrivalTimestamp`; since it was read
 *   when that is later or unknown), and at least an interval after the grid instant of the
 *   previous flush, so each touched counter cell is written about once per interval: the
 *   interval trades freshness for DynamoDB writes (bench/README.md has the measured table).
 *   The readers of one process share the grid (the local consumer gives them one origin), so
 *   their batches reach the counter sink together and write the cells they share with one
 *   UpdateItem each (counters/cell-write-groups.ts), where readers flushing an interval after
 *   their own first record met there only by chance (`nextFlushAt`). Records that already
 *   waited in the stream while the previous batch was written do not wait another interval.
 * - Backlog: while the reader is behind the tip (a full response, or `MillisBehindLatest` > 0),
 *   records gather (unless the flush interval is 0) until the batch is full or the reader catches up (at most
 *   `BACKLOG_GATHER_MAX_MS`, so a slow read still commits), not just one flush interval: a backlog
 *   is drained in full batches, and each touched cell is written once per batch, so the writes
 *   per event fall as the batch grows (bench/README.md, "backlog drain").
 * - Memory bound: the process's batches in hand hold at most `batchBudgetBytes` record bytes and
 *   `batchBudgetUserRecords` user records after de-aggregation (a compact or KPL record carries
 *   hundreds of events), divided equally among the shards it reads (`ProcessBatchBudget`; a
 *   reader given none has the whole budget). Each GetRecords call asks only for what is left of
 *   the reader's share (its `Limit` follows the shard's record sizes: batch-budget.ts), so neither
 *   a response nor a batch grows with the backlog.
 * - Polling: once caught up with the tip, a GetRecords call is made when its records are due: at
 *   the flush of what is gathered, else at the grid instant the records arriving meanwhile are due
 *   (so with nothing gathered, one call per flush, right at its instant), and never sooner than
 *   `pollIntervalMs` after the previous call started (Kinesis allows 5 calls per second and shard;
 *   after a batch that took longer to write, the next call goes at once). Before, a reader also
 *   polled every `pollIntervalMs` between flushes and once more at each flush: two calls per
 *   250 ms interval with the defaults, 8 a second, over Kinesis's limit.
 *
 * - Expired iterator: a new one is taken after the last checkpoint (nothing lost, nothing skipped).
 * - Throttling: jittered exponential backoff (common/retry.ts).
 * - Each batch goes through the one commit step (processors/commit): retriable failures are
 *   retried with backoff, never checkpointed past (attempts out: the reader fails and the
 *   consumer restarts it from the checkpoint); a record a sink refuses for good is isolated
 *   by bisection and dead-lettered; STATE_LOST ends the reader with `state-lost`, checkpoint
 *   untouched, and the consumer does not restart it.
 * - Stop: the batch in hand is finished and checkpointed, then the reader returns.
 */
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type GetRecordsCommandOutput,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import type { Logger } from '../../common/logger.js';
import { withRetry, type RetryPolicy } from '../../common/retry.js';
import { createCommitStep } from '../commit/commit-step.js';
import { observeStage, type ProcessorMetrics } from '../metrics.js';
import type { BatchOutcome, Pipeline } from '../pipeline.js';
import type { KinesisRecord } from '../types.js';
import type { CheckpointStore } from './checkpoint-store.js';
import { BatchBudget, ProcessBatchBudget } from './batch-budget.js';
import { interruptibleSleep } from './interruptible-sleep.js';
import { isExpiredIterator, isKinesisThrottle } from '../../common/kinesis/errors.js';

/**
 * Longest time a reader behind the tip gathers one batch (from its first read) before it is
 * processed though not full: long enough for a full batch from Kinesis (2 MB/s per shard) or
 * kinesalite, short enough that a slow or throttled read still commits every few seconds.
 */
export const BACKLOG_GATHER_MAX_MS = 2_000;

/** How a reader ended. `state-lost`: the state store lost data; the shard must not advance. */
export type ShardReaderEnd = 'finished' | 'stopped' | 'lost' | 'state-lost';

/** Tuning of a shard reader; see DEFAULT_READER_OPTIONS. */
export interface ShardReaderOptions {
  /** GetRecords `Limit` (Kinesis allows up to 10,000). */
  batchMaxRecords: number;
  /**
   * Least time between the starts of two GetRecords calls once the reader has caught up with the
   * tip of the shard (a call after a longer batch goes at once).
   */
  pollIntervalMs: number;
  /**
   * Longest time a record waits, from its arrival in the stream, to be processed with the
   * records gathered after it (0: each GetRecords response alone).
   */
  flushIntervalMs: number;
  /**
   * Record bytes (before de-aggregation) the process's batches in hand hold at most, divided among
   * the shards it reads; GetRecords asks for no more than a reader's share, a larger response is split.
   */
  batchBudgetBytes: number;
  /**
   * User records after de-aggregation (estimated before decoding from the shard's earlier batches:
   * batch-budget.ts) the process's batches in hand hold at most, divided like `batchBudgetBytes`.
   */
  batchBudgetUserRecords: number;
  /** Backoff for throttled Kinesis calls. */
  throttleRetry: RetryPolicy;
  /** Backoff for a batch whose sinks failed (retriable errors). */
  batchRetry: RetryPolicy;
}

/** Everything a shard reader uses. */
export interface ShardReaderDeps {
  kinesis: KinesisClient;
  streamName: string;
  shardId: string;
  pipeline: Pipeline;
  checkpoints: CheckpointStore;
  logger: Logger;
  metrics: ProcessorMetrics;
  options: ShardReaderOptions;
  signal: AbortSignal;
  /** Called after each batch is checkpointed, with the commit time (epoch ms). */
  onBatchCommitted?: (outcome: BatchOutcome, committedAt: number) => void;
  /**
   * The process budget this reader reads its share of (the consumer joins it while the reader runs);
   * default: one of its own, the whole budget in `options`.
   */
  processBudget?: ProcessBatchBudget;
  /**
   * Origin (epoch ms) of the flush grid: caught up, batches flush at origin + k × flushIntervalMs
   * (`nextFlushAt`). Readers given the same origin flush together; default 0 (the epoch).
   */
  flushGridOrigin?: number;
}

/**
 * When a caught-up reader flushes what it gathered: the first instant of the flush grid
 * (`origin` + k × `intervalMs`) after `arrivedAt`, the arrival of the oldest gathered record,
 * and no earlier than an interval after `lastFlushAt`'s grid instant (the instant at or before
 * the previous flush), so records read just after a flush, though they arrived before its
 * instant, wait for the next one instead of making a batch of their own. A past answer means
 * at once (records that waited while the previous batch was written). `intervalMs` 0: at once.
 *
 * @example
 *   nextFlushAt(1_030, -Infinity, 250, 0) // → 1_250: the grid instant after the arrival
 *   nextFlushAt(1_240, 1_255, 250, 0)     // → 1_500: arrived before 1_250, read after that flush
 *   nextFlushAt(1_030, -Infinity, 250, 100) // → 1_100: another origin, another grid
 */
export function nextFlushAt(arrivedAt: number, lastFlushAt: number, intervalMs: number, origin: number): number {
  if (intervalMs <= 0) return arrivedAt;
  const after = origin + (Math.floor((arrivedAt - origin) / intervalMs) + 1) * intervalMs;
  // Before the first flush (-Infinity) the last instant is -Infinity too, and `after` stands.
  const lastInstant = origin + Math.floor((lastFlushAt - origin) / intervalMs) * intervalMs;
  return Math.max(after, lastInstant + intervalMs);
}

function toRawRecords(out: GetRecordsCommandOutput): KinesisRecord[] {
  return (out.Records ?? []).map((record) => ({
    sequenceNumber: record.SequenceNumber!,
    partitionKey: record.PartitionKey ?? '',
    data: record.Data ?? new Uint8Array(),
    ...(record.ApproximateArrivalTimestamp
      ? { approximateArrivalTimestamp: record.ApproximateArrivalTimestamp.getTime() }
      : {}),
  }));
}

/**
 * Runs the read loop of one shard. Resolves with how it ended; rejects when the shard cannot
 * make progress (the caller restarts it from the checkpoint).
 */
export async function readShard(deps: ShardReaderDeps): Promise<ShardReaderEnd> {
  const { kinesis, streamName, shardId, options, signal, metrics } = deps;
  const logger = deps.logger.child({ shardId });
  const throttled = (api: string) => (error: unknown, attempt: number, delayMs: number) => {
    metrics.throttles.inc({ api });
    logger.warn({ err: error, attempt, delayMs }, `${api} throttled; backing off`);
  };

  const checkpoint = await deps.checkpoints.read(shardId);
  if (checkpoint?.finished) return 'finished';
  let committed = checkpoint?.sequenceNumber;

  const newIterator = async (): Promise<string | undefined> => {
    const out = await withRetry(
      () =>
        kinesis.send(
          new GetShardIteratorCommand({
            StreamName: streamName,
            ShardId: shardId,
            ...(committed
              ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: committed }
              : { ShardIteratorType: 'TRIM_HORIZON' }),
          }),
        ),
      { policy: options.throttleRetry, shouldRetry: isKinesisThrottle, onRetry: throttled('GetShardIterator') },
    );
    return out.ShardIterator;
  };

  const commitStep = createCommitStep({
    pipeline: deps.pipeline,
    logger: deps.logger,
    metrics,
    retry: options.batchRetry,
    signal,
    ...(deps.onBatchCommitted ? { onBatchCommitted: deps.onBatchCommitted } : {}),
  });

  // The reader's share of its process's budget, read before every decision (the consumer divides it).
  const processBudget = deps.processBudget ?? processBatchBudget(options);
  const budget = new BatchBudget(() => processBudget.share());

  /** Commits `records` (the gathered batch) in slices within the batch bounds, learning their density. */
  const commitGathered = async (
    records: KinesisRecord[],
    shardEnded: boolean,
  ): Promise<Exclude<ShardReaderEnd, 'finished'> | undefined> => {
    const last = records.at(-1)!.sequenceNumber;
    for (const slice of budget.slices(records)) {
      let userRecords = 0;
      const result = await commitStep.commit({ shardId, records: slice }, async (outcome) => {
        userRecords += outcome.userRecords;
        const finished = shardEnded && outcome.lastSequenceNumber === last;
        const write = await deps.checkpoints.save(shardId, outcome.lastSequenceNumber, { finished });
        if (write === 'ok') committed = outcome.lastSequenceNumber;
        return write;
      });
      switch (result.status) {
        case 'committed':
          budget.learn(slice, userRecords);
          break;
        case 'lease-lost':
          logger.warn(
            { sequenceNumber: result.resumeAt?.sequenceNumber },
            'a newer checkpoint exists; giving up the shard',
          );
          return 'lost';
        case 'state-lost':
          return 'state-lost';
        case 'stopped':
          return 'stopped';
        case 'retries-exhausted':
          throw result.error;
      }
    }
    return undefined;
  };

  let iterator = await newIterator();
  logger.info({ from: committed ?? 'TRIM_HORIZON' }, 'reading shard');
  let gathered: KinesisRecord[] = [];
  /** Bytes and estimated user records of `gathered`. */
  let gatheredSize = { records: 0, bytes: 0, userRecords: 0 };
  /** When the first gathered record was read, and when it reached the stream (epoch ms). */
  let gatheringSince = 0;
  let arrivedAt = 0;
  /** When the last GetRecords call started: polls are spaced from it. */
  let lastPollAt = Number.NEGATIVE_INFINITY;
  /** When the last batch was flushed: the next caught-up flush is at least an interval later on the grid. */
  let lastFlushAt = Number.NEGATIVE_INFINITY;
  const flushGridOrigin = deps.flushGridOrigin ?? 0;
  while (iterator && !signal.aborted) {
    let out: GetRecordsCommandOutput;
    // No more than what is left of the batch: a response never holds more than one batch.
    const limit = budget.nextLimit(gatheredSize);
    try {
      const current = iterator;
      lastPollAt = Date.now();
      out = await withRetry(() => kinesis.send(new GetRecordsCommand({ ShardIterator: current, Limit: limit })), {
        policy: options.throttleRetry,
        shouldRetry: isKinesisThrottle,
        onRetry: throttled('GetRecords'),
      });
    } catch (error) {
      if (!isExpiredIterator(error)) throw error;
      metrics.iteratorRenewals.inc();
      logger.info({ after: committed }, 'shard iterator expired; renewing from the checkpoint');
      // The new iterator starts after the checkpoint: what was gathered is read again.
      gathered = [];
      gatheredSize = { records: 0, bytes: 0, userRecords: 0 };
      iterator = await newIterator();
      continue;
    }
    if (out.MillisBehindLatest !== undefined)
      metrics.millisBehindLatest.set({ shard: shardId }, out.MillisBehindLatest);
    const records = toRawRecords(out);
    const shardEnded = !out.NextShardIterator;
    if (records.length > 0) {
      if (gathered.length === 0) {
        gatheringSince = Date.now();
        const arrival = records[0]!.approximateArrivalTimestamp;
        if (arrival !== undefined) observeStage(metrics, 'stream_to_read', (gatheringSince - arrival) / 1000);
        arrivedAt = Math.min(gatheringSince, arrival ?? gatheringSince);
      }
      budget.sample(records);
      const userRecords = budget.observe(records);
      for (const record of records) {
        gathered.push(record);
        gatheredSize.bytes += record.data.byteLength;
      }
      gatheredSize.records += records.length;
      gatheredSize.userRecords += userRecords;
    }
    const caughtUp = records.length < limit && !(out.MillisBehindLatest && out.MillisBehindLatest > 0);
    // Caught up, the gathered records are due at the grid instant after the first one arrived (nothing more
    // is waiting to join them); behind, they keep gathering until the batch is full (or BACKLOG_GATHER_MAX_MS).
    // Without a flush interval (0) every response is a batch of its own, behind or not.
    const flushAt = caughtUp
      ? nextFlushAt(arrivedAt, lastFlushAt, options.flushIntervalMs, flushGridOrigin)
      : options.flushIntervalMs === 0
        ? gatheringSince
        : gatheringSince + Math.max(options.flushIntervalMs, BACKLOG_GATHER_MAX_MS);
    const flushDue =
      gathered.length > 0 && (shardEnded || signal.aborted || Date.now() >= flushAt || budget.isFull(gatheredSize));
    if (flushDue) {
      lastFlushAt = Date.now();
      observeStage(metrics, 'gather', (lastFlushAt - gatheringSince) / 1000);
      const batch = gathered;
      gathered = [];
      gatheredSize = { records: 0, bytes: 0, userRecords: 0 };
      const ended = await commitGathered(batch, shardEnded);
      if (ended) return ended;
    } else if (shardEnded && gathered.length === 0) {
      await deps.checkpoints.save(shardId, undefined, { finished: true });
      metrics.checkpoints.inc({ result: 'ok' });
    }
    if (shardEnded) {
      logger.info({ sequenceNumber: committed }, 'shard finished (SHARD_END)');
      return 'finished';
    }
    iterator = out.NextShardIterator;
    if (caughtUp) {
      // The next call reads what the next flush takes: at the flush of what is gathered, else at the instant the
      // records arriving from now on are due; never sooner than a poll interval after the previous call started
      // (Kinesis allows 5 GetRecords calls per second and shard). A call between flushes would only hold records
      // for the next one.
      const now = Date.now();
      const dueAt =
        gathered.length > 0 ? flushAt : nextFlushAt(lastPollAt, lastFlushAt, options.flushIntervalMs, flushGridOrigin);
      await interruptibleSleep(Math.max(0, lastPollAt + options.pollIntervalMs - now, dueAt - now), signal);
    }
  }
  if (gathered.length > 0) {
    // Stopped while gathering: finish what is in hand (nothing is lost either way: it is not checkpointed).
    const ended = await commitGathered(gathered, false);
    if (ended) return ended;
  }
  return 'stopped';
}

/** A process budget of the consumer options' bounds (a reader given none has one of its own: the whole budget). */
export function processBatchBudget(options: ShardReaderOptions): ProcessBatchBudget {
  return new ProcessBatchBudget({
    maxRecords: options.batchMaxRecords,
    maxBytes: options.batchBudgetBytes,
    maxUserRecords: options.batchBudgetUserRecords,
  });
}
