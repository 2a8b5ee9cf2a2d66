/**
 * How much a shard reader may read before its batch is full, in record bytes and in user
 * records after de-aggregation — the two things a batch's memory grows with. A compact or KPL
 * record carries hundreds of events, so a count of Kinesis records bounds nothing: one
 * GetRecords response of 10,000 such records can hold millions of events.
 *
 * User records cannot be counted before decoding (a compact record's event count sits behind
 * its string dictionary, possibly deflated; a KPL aggregate is protobuf), so they are
 * estimated: a plain record is one user record; an aggregated record holds its bytes divided by
 * the shard's bytes per aggregated user record, learned from the batches already decoded
 * (`learn`), starting from one record of the shard's first response decoded only to count
 * (`sample`), or failing that from a conservative prior (16 bytes: a compact event's eventId alone).
 *
 * The reader asks `nextLimit` before each GetRecords call: the call may return at most what is
 * left of the batch at the previous response's average record size and user records per record
 * (the first call of a shard, with nothing known, asks for `PROBE_LIMIT` records). A batch
 * is full (`isFull`) when either bound is reached, and `slices` cuts what was gathered at both
 * bounds in case the estimates were low.
 *
 * @example
 *   const budget = new BatchBudget({ maxRecords: 10_000, maxBytes: 8 << 20, maxUserRecords: 100_000 });
 *   const limit = budget.nextLimit(gathered);          // GetRecords Limit
 *   budget.sample(response.records);                   // the shard's first: count one aggregated record
 *   budget.observe(response.records);                  // sizes of what came back
 *   if (budget.isFull(gathered)) for (const slice of budget.slices(gathered.records)) …
 *   budget.learn(slice, outcome.userRecords);          // after the slice was decoded
 */
import { decodeShardBatch, isAggregatedRecord } from '../decode/decode-shard-batch.js';
import type { KinesisRecord } from '../types.js';

/** The bounds of one batch. */
export interface BatchBounds {
  /** GetRecords `Limit` ceiling (Kinesis allows 10,000). */
  maxRecords: number;
  /** Largest batch in record bytes (as read, before de-aggregation). */
  maxBytes: number;
  /** Largest batch in user records (after de-aggregation), estimated before decoding. */
  maxUserRecords: number;
}

/** What a reader has gathered so far. */
export interface Gathered {
  records: number;
  bytes: number;
  /** Estimated user records ({@link BatchBudget.userRecordsOf}). */
  userRecords: number;
}

/** Limits that reject nothing: `sample` decodes only to count (the pipeline applies the real ones). */
const COUNT_ONLY = { maxEventBytes: Number.MAX_SAFE_INTEGER, maxSegments: Number.MAX_SAFE_INTEGER };

/** The prior bytes per user record of an aggregated record: a compact event's 16-byte eventId alone. */
export const PRIOR_BYTES_PER_USER_RECORD = 16;
/**
 * GetRecords `Limit` while a shard's record sizes are unknown (its first call, or only empty answers so far):
 * a few hundred KB of the collector's compact records (a few KB each). Real Kinesis caps a response at 10 MB.
 */
export const PROBE_LIMIT = 100;

/**
 * Least share of a process budget a reader gets however many shards it reads (or the whole budget when that is
 * less), so a batch stays worth its writes: past `total ÷ MIN_SHARE` readers the batches in hand exceed the budget.
 */
export const MIN_SHARE: Readonly<Pick<BatchBounds, 'maxBytes' | 'maxUserRecords'>> = Object.freeze({
  maxBytes: 64 * 1024,
  maxUserRecords: 100,
});

/**
 * One batch budget per process, divided among the shards it reads: every reader holds one batch at
 * a time, so a process's batches in hand hold at most `total` record bytes and user records,
 * however many shards it was given. The consumer `join`s for each reader while it runs, and each
 * reader gets an equal share (`share()`: the total bytes and user records divided by the readers,
 * at least {@link MIN_SHARE};
 * `maxRecords`, a GetRecords `Limit`, is not divided). Shares follow the readers: when a shard
 * ends or a child starts, the others' next GetRecords calls and cuts use the new share (a batch
 * already gathered under a larger share is cut at the new one before it is processed).
 *
 * @example
 *   const perProcess = new ProcessBatchBudget({ maxRecords: 10_000, maxBytes: 16 << 20, maxUserRecords: 200_000 });
 *   const leave = perProcess.join();                          // a reader starts
 *   const budget = new BatchBudget(() => perProcess.share()); // 100,000 user records each while two read
 *   leave();                                                  // the reader ended
 */
export class ProcessBatchBudget {
  #readers = 0;

  constructor(readonly total: Readonly<BatchBounds>) {}

  /** Readers holding a share now. */
  get readers(): number {
    return this.#readers;
  }

  /** Takes a share for one reader; the function returned gives it back (once, however often it is called). */
  join(): () => void {
    this.#readers++;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.#readers--;
    };
  }

  /** One reader's bounds: the total divided by the readers holding a share (by 1 when none does). */
  share(): BatchBounds {
    const readers = Math.max(1, this.#readers);
    const { maxRecords, maxBytes, maxUserRecords } = this.total;
    return {
      maxRecords,
      maxBytes: Math.max(Math.min(MIN_SHARE.maxBytes, maxBytes), Math.floor(maxBytes / readers)),
      maxUserRecords: Math.max(
        Math.min(MIN_SHARE.maxUserRecords, maxUserRecords),
        Math.floor(maxUserRecords / readers),
      ),
    };
  }
}

/** Heap a processors process needs beside its batches: modules, clients, the state store's caches, the GC's room. */
export const HEAP_RESERVE_BYTES = 100 * 1024 * 1024;
/**
 * Heap one user record in flight may take at the GC's peak (its decoded event, state request and outcome, cell
 * contribution, and the garbage they leave until the next collection). Measured: the 714k Redis drain with 200,000
 * user records in flight under a 256 MiB old space peaked at 200 MiB of heap used (bench/README.md, "Memory").
 */
export const HEAP_BYTES_PER_USER_RECORD = 1024;

/**
 * The process budget lowered to what the heap holds: at most `(heap limit − HEAP_RESERVE_BYTES) ÷
 * HEAP_BYTES_PER_USER_RECORD` user records (at least MIN_SHARE's), so a small heap gets smaller batches
 * instead of a process that dies of it. Bytes and the GetRecords Limit are kept.
 *
 * @example
 *   fitBudgetToHeap({ maxRecords: 10_000, maxBytes: 16 << 20, maxUserRecords: 200_000 }, 200 * 2 ** 20)
 *   // → maxUserRecords 102,400: (200 − 100) MiB ÷ 1 KiB
 */
export function fitBudgetToHeap(total: Readonly<BatchBounds>, heapLimitBytes: number): BatchBounds {
  const fits = Math.floor((heapLimitBytes - HEAP_RESERVE_BYTES) / HEAP_BYTES_PER_USER_RECORD);
  return { ...total, maxUserRecords: Math.min(total.maxUserRecords, Math.max(MIN_SHARE.maxUserRecords, fits)) };
}

/** Per-shard batch bounds and the estimates behind them. The estimates are not shared between shards. */
export class BatchBudget {
  readonly #bounds: () => Readonly<BatchBounds>;
  #bytesPerUserRecord = PRIOR_BYTES_PER_USER_RECORD;
  #learned = false;
  /** Of the last non-empty response, per Kinesis record: average bytes, share of plain records, aggregated bytes. */
  #recordBytes: number | undefined;
  #plainShare = 1;
  #aggregatedBytes = 0;

  /** `bounds`: fixed, or read before every decision (a share of a {@link ProcessBatchBudget}). */
  constructor(bounds: Readonly<BatchBounds> | (() => Readonly<BatchBounds>)) {
    this.#bounds = typeof bounds === 'function' ? bounds : () => bounds;
  }

  /** The bounds in force now. */
  get bounds(): Readonly<BatchBounds> {
    return this.#bounds();
  }

  /**
   * Estimated user records in one Kinesis record: 1 when plain, its bytes over the learned density
   * when aggregated (a fraction, at least 1: sums of estimates match `nextLimit`'s, so a response of
   * exactly the Limit is never sliced into a batch and a sliver).
   */
  userRecordsOf(record: KinesisRecord): number {
    if (!isAggregatedRecord(record)) return 1;
    return Math.max(1, record.data.byteLength / this.#bytesPerUserRecord);
  }

  /**
   * While nothing of the shard has been decoded: learns its density from the first aggregated record of
   * `records`, decoded here only to count its user records (a fraction of a millisecond for a compact
   * record of a few hundred events). Without it a shard's first batch was its probe alone: the prior
   * counted the probe's 100 records as a full batch. Call it before `observe`.
   */
  sample(records: readonly KinesisRecord[]): void {
    if (this.#learned) return;
    const sample = records.find((record) => isAggregatedRecord(record));
    if (sample === undefined) return;
    this.learn([sample], decodeShardBatch({ shardId: 'sample', records: [sample] }, COUNT_ONLY).userRecords);
  }

  /** Notes the sizes of a GetRecords response, for the next call's Limit. Returns the response's estimated user records. */
  observe(records: readonly KinesisRecord[]): number {
    if (records.length === 0) return 0;
    let bytes = 0;
    let plain = 0;
    let aggregatedBytes = 0;
    let userRecords = 0;
    for (const record of records) {
      bytes += record.data.byteLength;
      userRecords += this.userRecordsOf(record);
      if (isAggregatedRecord(record)) aggregatedBytes += record.data.byteLength;
      else plain++;
    }
    this.#recordBytes = Math.max(1, bytes / records.length);
    this.#plainShare = plain / records.length;
    this.#aggregatedBytes = aggregatedBytes / records.length;
    return userRecords;
  }

  /** Estimated user records per Kinesis record of the last response, at the current density. */
  get #recordUserRecords(): number {
    return Math.max(1, this.#plainShare + this.#aggregatedBytes / this.#bytesPerUserRecord);
  }

  /**
   * The GetRecords `Limit` for the next call: what is left of the batch in records of the last
   * response's size, at least 1 (a batch already full is flushed before the next call).
   */
  nextLimit(gathered: Gathered): number {
    const { maxRecords, maxBytes, maxUserRecords } = this.bounds;
    if (this.#recordBytes === undefined) return Math.min(PROBE_LIMIT, maxRecords);
    const byBytes = (maxBytes - gathered.bytes) / this.#recordBytes;
    const byUserRecords = (maxUserRecords - gathered.userRecords) / this.#recordUserRecords;
    return Math.max(1, Math.min(maxRecords, Math.floor(Math.min(byBytes, byUserRecords))));
  }

  /** True when not one more record of the last response's size fits in the batch. */
  isFull(gathered: Gathered): boolean {
    const { maxBytes, maxUserRecords } = this.bounds;
    if (gathered.bytes >= maxBytes || gathered.userRecords >= maxUserRecords) return true;
    if (this.#recordBytes === undefined) return false;
    return (
      gathered.bytes + this.#recordBytes > maxBytes || gathered.userRecords + this.#recordUserRecords > maxUserRecords
    );
  }

  /**
   * Cuts `records` (in order) into slices within both bounds; a record larger than a bound
   * alone is a slice of its own. Cuts fall on Kinesis-record boundaries only.
   */
  slices(records: KinesisRecord[]): KinesisRecord[][] {
    const { maxBytes, maxUserRecords } = this.bounds;
    const slices: KinesisRecord[][] = [];
    let current: KinesisRecord[] = [];
    let bytes = 0;
    let userRecords = 0;
    for (const record of records) {
      const recordUserRecords = this.userRecordsOf(record);
      if (
        current.length > 0 &&
        (bytes + record.data.byteLength > maxBytes || userRecords + recordUserRecords > maxUserRecords)
      ) {
        slices.push(current);
        current = [];
        bytes = 0;
        userRecords = 0;
      }
      current.push(record);
      bytes += record.data.byteLength;
      userRecords += recordUserRecords;
    }
    if (current.length > 0) slices.push(current);
    return slices;
  }

  /**
   * Learns the shard's density from a decoded slice: `userRecords` is what decoding found in
   * `records`. Plain records count one each; the rest are the aggregated records' user records.
   * The first observation replaces the prior; later ones are averaged with the estimate (half each).
   */
  learn(records: readonly KinesisRecord[], userRecords: number): void {
    let aggregatedBytes = 0;
    let plain = 0;
    for (const record of records) {
      if (isAggregatedRecord(record)) aggregatedBytes += record.data.byteLength;
      else plain++;
    }
    const aggregatedUserRecords = userRecords - plain;
    if (aggregatedBytes === 0 || aggregatedUserRecords <= 0) return;
    const observed = Math.max(1, aggregatedBytes / aggregatedUserRecords);
    this.#bytesPerUserRecord = this.#learned ? (this.#bytesPerUserRecord + observed) / 2 : observed;
    this.#learned = true;
  }

  /** The current estimate of bytes per user record inside aggregated records. */
  get bytesPerUserRecord(): number {
    return this.#bytesPerUserRecord;
  }
}
