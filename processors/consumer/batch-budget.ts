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
 * (`learn`), starting from a conservative prior (16 bytes: a compact event's eventId alone).
 *
 * The reader asks `nextLimit` before each GetRecords call: the call may return at most what is
 * left of the batch at the previous response's average record size and user records per record
 * (the first call of a shard, with nothing known, asks for `PROBE_LIMIT` records). A batch
 * is full (`isFull`) when either bound is reached, and `slices` cuts what was gathered at both
 * bounds in case the estimates were low.
 *
 * @example
 *   const budget = new BatchBudget({ maxRecords: 10_000, maxBytes: 2 << 20, maxUserRecords: 20_000 });
 *   const limit = budget.nextLimit(gathered);          // GetRecords Limit
 *   budget.observe(response.records);                  // sizes of what came back
 *   if (budget.isFull(gathered)) for (const slice of budget.slices(gathered.records)) …
 *   budget.learn(slice, outcome.userRecords);          // after the slice was decoded
 */
import { isAggregatedRecord } from '../decode/decode-shard-batch.js';
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

/** The prior bytes per user record of an aggregated record: a compact event's 16-byte eventId alone. */
export const PRIOR_BYTES_PER_USER_RECORD = 16;
/**
 * GetRecords `Limit` while a shard's record sizes are unknown (its first call, or only empty answers so far):
 * a few hundred KB of the collector's compact records (a few KB each). Real Kinesis caps a response at 10 MB.
 */
export const PROBE_LIMIT = 100;

/** Per-shard batch bounds and the estimates behind them. Not shared between shards. */
export class BatchBudget {
  #bytesPerUserRecord = PRIOR_BYTES_PER_USER_RECORD;
  #learned = false;
  /** Of the last non-empty response, per Kinesis record: average bytes, share of plain records, aggregated bytes. */
  #recordBytes: number | undefined;
  #plainShare = 1;
  #aggregatedBytes = 0;

  constructor(readonly bounds: Readonly<BatchBounds>) {}

  /**
   * Estimated user records in one Kinesis record: 1 when plain, its bytes over the learned density
   * when aggregated (a fraction, at least 1: sums of estimates match `nextLimit`'s, so a response of
   * exactly the Limit is never sliced into a batch and a sliver).
   */
  userRecordsOf(record: KinesisRecord): number {
    if (!isAggregatedRecord(record)) return 1;
    return Math.max(1, record.data.byteLength / this.#bytesPerUserRecord);
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
