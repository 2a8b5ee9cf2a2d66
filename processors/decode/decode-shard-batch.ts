/**
 * One shard batch → valid events and dead letters, in record order. Every user record
 * ends up in exactly one of the two lists; an unexpected exception on one record becomes
 * that record's dead letter instead of stalling the shard.
 *
 * Three record formats: compact records (common/compact-records.ts, many events per record,
 * the collector's format), plain JSON records (one event each; older producers and replays)
 * and KPL aggregates of JSON records (`deaggregateRecord`).
 */
import { InvalidCompactEvent, isCompactRecord, readCompactRecord } from '../../common/compact-records.js';
import type { EventRejection } from '../../common/event-contract.js';
import type { DeadLetter, KinesisRecord, ShardBatch, ValidEvent } from '../types.js';
import { deaggregateRecord, isKplAggregate } from './deaggregate.js';
import { decodeEvent, type DecodeLimits, type EventDecoding } from './decode-user-record.js';

/** Where a user record's bytes came from: enough to dead-letter it later with the original bytes. */
export type RecordSource = Pick<KinesisRecord, 'partitionKey' | 'data'>;

/** What decoding made of a batch. `validSources[i]` holds the bytes behind `valid[i]`. */
export interface DecodedBatch {
  shardId: string;
  /** Sequence number of the batch's last Kinesis record; undefined for an empty batch. */
  lastSequenceNumber: string | undefined;
  records: number;
  userRecords: number;
  valid: ValidEvent[];
  /**
   * Original partition key and bytes of each valid event, so a later sink rejection can be
   * dead-lettered; `undefined` for an event of a compact record, whose source is derived from
   * the event itself when needed (`validSourceOf`): no object per event for the rare refusal.
   */
  validSources: (RecordSource | undefined)[];
  deadLetters: DeadLetter[];
  /** `performance.now()` when processing began, set by the pipeline to time the whole batch. */
  startedAt?: number;
}

function decodeSafely(data: Uint8Array, index: number, limits: DecodeLimits): EventDecoding {
  try {
    return decodeEvent(data, index, limits);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, rejections: [{ index, field: '(event)', rule: 'decode-failure', message }] };
  }
}

function addUserRecord(
  decoded: DecodedBatch,
  sequenceNumber: string,
  subSequenceNumber: number,
  source: RecordSource,
  limits: DecodeLimits,
): void {
  const index = decoded.userRecords++;
  const result = decodeSafely(source.data, index, limits);
  const id = { shardId: decoded.shardId, sequenceNumber, subSequenceNumber };
  if (result.ok) {
    decoded.valid.push({ id, event: result.event });
    decoded.validSources.push(source);
  } else {
    decoded.deadLetters.push({ id, partitionKey: source.partitionKey, data: source.data, reasons: result.rejections });
  }
}

/** The source behind `decoded.valid[position]` (see `DecodedBatch.validSources`); undefined past the end. */
export function validSourceOf(decoded: DecodedBatch, position: number): RecordSource | undefined {
  const valid = decoded.valid[position];
  if (valid === undefined) return undefined;
  return decoded.validSources[position] ?? new CompactEventSource(valid.event.userId, valid.event);
}

/**
 * Where a compact record's event came from: its bytes, when a dead letter needs them, are the
 * event as JSON (what a replay writes back to the stream as a plain record), made on demand.
 */
class CompactEventSource implements RecordSource {
  #data: Uint8Array | undefined;
  constructor(
    readonly partitionKey: string,
    private readonly event: Readonly<Record<string, unknown>>,
  ) {}
  get data(): Uint8Array {
    return (this.#data ??= Buffer.from(JSON.stringify(this.event)));
  }
}

/** The source of a compact record's event, valid or not: keyed by its user id when it has one. */
function compactEventSource(event: Readonly<Record<string, unknown>>, record: KinesisRecord): CompactEventSource {
  const userId = event['userId'];
  return new CompactEventSource(typeof userId === 'string' ? userId : record.partitionKey, event);
}

/** A compact record's events, each with sub-sequence number = its index inside the record. */
function addCompactRecord(
  decoded: DecodedBatch,
  record: KinesisRecord,
  recordIndex: number,
  limits: DecodeLimits,
): void {
  const result = readCompactRecord(record.data, recordIndex, limits);
  if (!result.ok) {
    addDeadRecord(decoded, record, result.rejection);
    return;
  }
  const events = result.events;
  for (let subSequenceNumber = 0; subSequenceNumber < events.length; subSequenceNumber++) {
    const event = events[subSequenceNumber] as (typeof events)[number];
    const index = decoded.userRecords++;
    const id = { shardId: decoded.shardId, sequenceNumber: record.sequenceNumber, subSequenceNumber };
    if (!(event instanceof InvalidCompactEvent)) {
      decoded.valid.push({ id, event });
      decoded.validSources.push(undefined); // derived when needed: validSourceOf
    } else {
      const source = compactEventSource(event.event, record);
      const reasons = event.rejections.map((rejection) => ({ ...rejection, index }));
      decoded.deadLetters.push({ id, partitionKey: source.partitionKey, data: source.data, reasons });
    }
  }
}

/**
 * A compact record's events as one-event records: `subSequenceNumber` is the event's index in the
 * record and `data` the event as JSON (its dead letter's bytes), so `decodeShardBatch` gives them
 * the very ids and events (or rejections) it gives the compact record. How the commit step cuts a
 * compact record when a sink refuses one of its events for good: that event is dead-lettered alone,
 * as a KPL aggregate's user record is, and the others are counted. Undefined when `record` is not
 * decoded as a compact record, does not read (decoding dead-letters it whole) or holds one event.
 *
 * @example
 *   compactEventRecords(record) // [{ sequenceNumber, subSequenceNumber: 0, data: <JSON of event 0> }, …]
 */
export function compactEventRecords(record: KinesisRecord): KinesisRecord[] | undefined {
  if (record.subSequenceNumber || !isCompactRecord(record.data)) return undefined;
  // Every event read as it is: one beyond the segment limit is refused when its own record is decoded.
  const read = readCompactRecord(record.data, 0, { maxSegments: Number.MAX_SAFE_INTEGER });
  if (!read.ok || read.events.length < 2) return undefined;
  return read.events.map((event, subSequenceNumber) => {
    const source = compactEventSource(event instanceof InvalidCompactEvent ? event.event : event, record);
    return {
      sequenceNumber: record.sequenceNumber,
      subSequenceNumber,
      partitionKey: source.partitionKey,
      data: source.data,
      ...(record.approximateArrivalTimestamp === undefined
        ? {}
        : { approximateArrivalTimestamp: record.approximateArrivalTimestamp }),
    };
  });
}

function addDeadRecord(decoded: DecodedBatch, record: KinesisRecord, rejection: EventRejection): void {
  const index = decoded.userRecords++;
  decoded.deadLetters.push({
    id: { shardId: decoded.shardId, sequenceNumber: record.sequenceNumber, subSequenceNumber: 0 },
    partitionKey: record.partitionKey,
    data: record.data,
    reasons: [{ ...rejection, index }],
  });
}

/**
 * True when a Kinesis record may carry many user records (a compact record or a KPL aggregate),
 * by the same tests `decodeShardBatch` uses to choose how to decode it; a plain record is one.
 * Costs a few byte comparisons: the shard reader uses it to estimate a batch's user records.
 */
export function isAggregatedRecord(record: Pick<KinesisRecord, 'data' | 'subSequenceNumber'>): boolean {
  if (record.subSequenceNumber !== undefined) return !record.subSequenceNumber && isCompactRecord(record.data);
  return isCompactRecord(record.data) || isKplAggregate(record.data);
}

/**
 * Decodes a whole shard batch. Pure and synchronous: the pipeline's only CPU-bound step.
 *
 * @example
 *   const decoded = decodeShardBatch({ shardId, records }, { maxEventBytes: 8192, maxSegments: 10 });
 */
export function decodeShardBatch(batch: ShardBatch, limits: DecodeLimits): DecodedBatch {
  const decoded: DecodedBatch = {
    shardId: batch.shardId,
    lastSequenceNumber: batch.records.at(-1)?.sequenceNumber,
    records: batch.records.length,
    userRecords: 0,
    valid: [],
    validSources: [],
    deadLetters: [],
  };
  for (let recordIndex = 0; recordIndex < batch.records.length; recordIndex++) {
    const record = batch.records[recordIndex]!;
    if (!record.subSequenceNumber && isCompactRecord(record.data)) {
      addCompactRecord(decoded, record, recordIndex, limits);
      continue;
    }
    if (record.subSequenceNumber !== undefined || !isKplAggregate(record.data)) {
      addUserRecord(decoded, record.sequenceNumber, record.subSequenceNumber ?? 0, record, limits);
      continue;
    }
    const split = deaggregateRecord(record, batch.shardId, recordIndex);
    if (!split.ok) {
      addDeadRecord(decoded, record, split.rejection);
      continue;
    }
    for (const userRecord of split.userRecords) {
      addUserRecord(decoded, userRecord.id.sequenceNumber, userRecord.id.subSequenceNumber, userRecord, limits);
    }
  }
  return decoded;
}
