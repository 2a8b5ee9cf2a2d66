/**
 * Shares PutRecords calls between concurrent requests. Entries wait at most `lingerMs`
 * (or until a call is full: 500 records / 5 MB) and are then written together. A caller's
 * promise resolves only when Kinesis has accepted each of its entries (or they failed
 * for good), which is what lets the collector answer 202 durably.
 *
 * Failed entries (throttling, internal failures) are retried alone, with full-jitter
 * backoff, up to `maxAttempts`; what still fails is reported per entry, never dropped.
 * The buffer is bounded in bytes: when full, `submit` refuses the whole request with
 * `BACKPRESSURE` instead of growing.
 */
import type { KinesisClient, PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { PipelineError } from '../common/errors.js';
import { PUT_RECORDS_LIMITS, putRecordsRetryingFailed } from '../common/kinesis/put-records.js';
import type { Logger } from '../common/logger.js';
import { MicroBatcher } from '../common/micro-batcher.js';
import type { RetryPolicy } from '../common/retry.js';
import type { StreamEvent } from '../common/event-contract.js';
import { aggregateByShard, packCompactByShard, userRecordData, type UserRecord } from './kpl-aggregation.js';
import type { ShardMap } from './shard-map.js';

const PUT_RECORDS_MAX_ENTRIES = PUT_RECORDS_LIMITS.maxRecords;
const PUT_RECORDS_MAX_BYTES = PUT_RECORDS_LIMITS.maxBytes;

/**
 * One event to write: its JSON bytes (what a `json` stream carries and the byte limits count),
 * or the event with its JSON text and that text's exact UTF-8 length (the collector's JSON
 * records: the bytes are encoded only when the PutRecords call is built, so no Buffer per event
 * waits out the linger), or — for a compact-record batcher — the event alone with an upper bound
 * of its JSON length (`jsonByteBound`), which the byte limits count instead. A batcher that
 * writes JSON or KPL records serializes an event given alone.
 */
export type StreamEntry =
  | {
      partitionKey: string;
      data: Uint8Array;
      /** The event itself, for the compact format (parsed from `data` when absent). */
      event?: StreamEvent;
    }
  | {
      partitionKey: string;
      data?: undefined;
      event: StreamEvent;
      /** The UTF-8 length of `json` when given, else an upper bound of the event's JSON length. */
      jsonBytes: number;
      /** The event as JSON, when the caller has it (serialized from `event` when absent). */
      json?: string;
      /** The eventId's 16 bytes from `eventIdAt`, when the caller has them (compact records take them as they are). */
      eventIdBytes?: Uint8Array;
      eventIdAt?: number;
    };

export type EntryOutcome =
  { ok: true; shardId: string; sequenceNumber: string } | { ok: false; errorCode: string; message: string };

/** Observations for metrics; all optional. */
export interface BatcherObserver {
  onPutRecords?(durationMs: number, records: number, failedRecords: number): void;
  onThrottled?(entries: number): void;
}

export interface PutRecordsBatcherOptions {
  kinesis: Pick<KinesisClient, 'send'>;
  streamName: string;
  lingerMs: number;
  maxBufferBytes: number;
  /** PutRecords calls in flight at once. */
  concurrency: number;
  retryPolicy: RetryPolicy;
  /** When set, entries are packed per destination shard: KPL aggregates, or compact records with `compact`. */
  shardMap?: () => ShardMap;
  /** Pack entries into compact records (common/compact-records.ts); needs `shardMap`. */
  compact?: { compress: boolean };
  observer?: BatcherObserver;
  logger?: Logger;
}

/**
 * One `submit` call: its entries' outcomes, filled in as each is decided, and one promise for
 * all of them (not one per entry: a request of 100 events allocates one promise, not 100).
 */
class SubmitSlot {
  readonly outcomes: (EntryOutcome | undefined)[];
  private undecided: number;

  constructor(
    count: number,
    private readonly resolve: (outcomes: EntryOutcome[]) => void,
  ) {
    this.outcomes = new Array<EntryOutcome | undefined>(count);
    this.undecided = count;
  }

  /** Records the outcome of entry `index`; the first outcome decided for an entry stands. */
  settle(index: number, outcome: EntryOutcome): void {
    if (this.outcomes[index] !== undefined) return;
    this.outcomes[index] = outcome;
    if (--this.undecided === 0) this.resolve(this.outcomes as EntryOutcome[]);
  }
}

/** An entry waiting to be written: the user record the packers take, and where its outcome goes. */
interface PendingEntry extends UserRecord {
  bytes: number;
  slot: SubmitSlot;
  /** Position in its `submit` call. */
  index: number;
}

/** One Kinesis record of a call and the pending entries it carries (several when aggregated). */
interface OutgoingRecord {
  request: PutRecordsRequestEntry;
  entries: PendingEntry[];
}

const entryBytes = (entry: StreamEntry): number =>
  (entry.data === undefined ? entry.jsonBytes : entry.data.byteLength) + Buffer.byteLength(entry.partitionKey);

const settleAll = (entries: readonly PendingEntry[], outcome: EntryOutcome): void => {
  for (const pending of entries) pending.slot.settle(pending.index, outcome);
};

export class PutRecordsBatcher {
  private readonly options: PutRecordsBatcherOptions;
  private readonly batcher: MicroBatcher<PendingEntry>;

  constructor(options: PutRecordsBatcherOptions) {
    this.options = options;
    this.batcher = new MicroBatcher<PendingEntry>({
      limits: {
        // With aggregation a call carries far more than 500 entries (about 50 per record); without, up to 500.
        maxCount: options.shardMap ? PUT_RECORDS_MAX_ENTRIES * 50 : PUT_RECORDS_MAX_ENTRIES,
        // Leave headroom for aggregation framing and partition keys.
        maxBytes: PUT_RECORDS_MAX_BYTES - 64 * 1024,
      },
      lingerMs: options.lingerMs,
      concurrency: options.concurrency,
      sizeOf: (pending) => pending.bytes,
      send: (taken) => this.writeCall(this.toRecords(taken)),
      onSendError: (taken, error) => {
        // writeCall resolves every entry itself; reaching here is a bug worth logging loudly.
        this.options.logger?.error({ err: error }, 'unexpected error in PutRecords batcher');
        settleAll(taken, { ok: false, errorCode: 'INTERNAL', message: 'internal error' });
      },
    });
  }

  /** Bytes held (waiting or being written). */
  get bufferedBytes(): number {
    return this.batcher.bufferedBytes;
  }

  /**
   * Queues entries for writing. Resolves, in entry order, when each is written or failed for good.
   * Throws `BACKPRESSURE` at once when the entries do not fit in the buffer.
   */
  submit(entries: readonly StreamEntry[]): Promise<EntryOutcome[]> {
    // Each entry measured once (a partition key's UTF-8 length is a native call).
    const sizes = new Array<number>(entries.length);
    let total = 0;
    for (let index = 0; index < entries.length; index++) {
      const bytes = entryBytes(entries[index] as StreamEntry);
      sizes[index] = bytes;
      total += bytes;
    }
    if (this.bufferedBytes + total > this.options.maxBufferBytes) {
      throw new PipelineError('BACKPRESSURE', 'the collector buffer is full; retry after the indicated delay', {
        details: { retryAfterSeconds: 1 },
      });
    }
    if (entries.length === 0) return Promise.resolve([]);
    return new Promise<EntryOutcome[]>((resolve) => {
      const slot = new SubmitSlot(entries.length, resolve);
      const pending: PendingEntry[] = new Array<PendingEntry>(entries.length);
      for (let index = 0; index < entries.length; index++) {
        const entry = entries[index] as StreamEntry;
        const alone = entry.data === undefined;
        pending[index] = {
          partitionKey: entry.partitionKey,
          data: entry.data,
          json: alone ? entry.json : undefined,
          event: entry.event,
          eventIdBytes: alone ? entry.eventIdBytes : undefined,
          eventIdAt: alone ? entry.eventIdAt : undefined,
          bytes: sizes[index] as number,
          slot,
          index,
        };
      }
      this.batcher.add(pending, total);
    });
  }

  /** Writes everything queued now and resolves when nothing is pending or in flight (shutdown). */
  drain(): Promise<void> {
    return this.batcher.drain();
  }

  /** The Kinesis records of one call's entries: one each, or packed per destination shard. */
  private toRecords(taken: PendingEntry[]): OutgoingRecord[] {
    if (!this.options.shardMap) {
      return taken.map((pending) => ({
        request: { PartitionKey: pending.partitionKey, Data: userRecordData(pending) },
        entries: [pending],
      }));
    }
    const aggregates = this.options.compact
      ? packCompactByShard(taken, this.options.shardMap(), this.options.compact)
      : aggregateByShard(taken, this.options.shardMap());
    return aggregates.map((aggregate) => ({
      request: {
        PartitionKey: aggregate.partitionKey,
        ExplicitHashKey: aggregate.explicitHashKey,
        Data: aggregate.data,
      },
      entries: aggregate.records,
    }));
  }

  /** Sends one call, retrying failed records alone (common/kinesis/put-records.ts), and resolves every entry it carries. */
  private async writeCall(records: OutgoingRecord[]): Promise<void> {
    const { retryPolicy, streamName, kinesis, observer, logger } = this.options;
    const { unwritten, fatal, attempts } = await putRecordsRetryingFailed(records, {
      kinesis,
      streamName,
      policy: retryPolicy,
      toEntry: (record) => record.request,
      // Every entry of an aggregated record shares the record's outcome (one object, read-only).
      onWritten: (record, shardId, sequenceNumber) => settleAll(record.entries, { ok: true, shardId, sequenceNumber }),
      onCall: (durationMs, sent, failed, throttled) => {
        observer?.onPutRecords?.(durationMs, sent, failed);
        if (throttled > 0) observer?.onThrottled?.(throttled);
      },
    });
    if (unwritten.length === 0) return;
    if (fatal !== undefined) {
      logger?.error({ err: fatal, records: unwritten.length }, 'PutRecords failed with a non-retriable error');
    } else {
      logger?.warn(
        { failed: unwritten.length, attempts, errorCode: unwritten[0]?.errorCode },
        'PutRecords entries failed after all retries',
      );
    }
    for (const f of unwritten) this.failAll([f.record], f.errorCode, f.message);
  }

  private failAll(records: OutgoingRecord[], errorCode: string, message: string): void {
    const outcome: EntryOutcome = { ok: false, errorCode, message };
    for (const record of records) settleAll(record.entries, outcome);
  }
}
