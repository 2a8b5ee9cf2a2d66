/**
 * The types every processors module agrees on: how adapters hand records to the
 * pipeline, how a user record is identified for the exactly-once protocol, and the
 * counter sink's contract.
 */
import type { EventRejection, StreamEvent } from '../common/event-contract.js';
import type { KinesisRecord } from '../common/kinesis/record.js';

/** A Kinesis record as every adapter (local consumer, Lambda, KCL) hands it to the pipeline: common/kinesis/record.ts. */
export type { KinesisRecord } from '../common/kinesis/record.js';

/** Records of one shard, in sequence order. The unit of work of the pipeline. */
export interface ShardBatch {
  shardId: string;
  records: readonly KinesisRecord[];
}

/**
 * Identity of one user record: the Kinesis record plus its position inside a KPL
 * aggregate (0 for records that are not aggregated). Stable across redeliveries,
 * which is what makes replays recognisable.
 */
export interface RecordIdentity {
  shardId: string;
  sequenceNumber: string;
  subSequenceNumber: number;
}

/** A decoded, contract-valid event with the identity of the record that carried it. */
export interface ValidEvent {
  id: RecordIdentity;
  event: StreamEvent;
}

/** A record (or user record) that failed decoding or validation: bound for the dead-letter stream. */
export interface DeadLetter {
  id: RecordIdentity;
  partitionKey: string;
  /** The original bytes, untouched, so a replay after a fix sees what the producer sent. */
  data: Uint8Array;
  reasons: EventRejection[];
  /**
   * Sinks that already took this record before it was dead-lettered (e.g. `counters` for an
   * event the index refused). A replay must send it only to the others, or it counts twice.
   * Absent or empty: no sink took it.
   */
  takenBy?: readonly DeliverySink[];
}

/** The sinks a valid event is delivered to. */
export type DeliverySink = 'counters' | 'index';

/** What the counter sink did with a batch. */
export interface CounterWriteResult {
  /** Events applied to counters for the first time. */
  counted: number;
  /** Producer-retry duplicates (same eventId, different record) that were not counted again. */
  duplicates: number;
  /** Counter cells touched. */
  cells: number;
  /** DynamoDB write requests issued (UpdateItem calls, including conditional re-applies). */
  writeRequests: number;
  /** Events the counters refuse for good (nothing of them was counted): the pipeline dead-letters them. */
  refused: CounterRefusal[];
}

/** An event the counters refuse for good, and the contract-style rule it broke. */
export interface CounterRefusal {
  event: ValidEvent;
  rule: 'user-total-limit';
  message: string;
}

/**
 * Writes a shard's valid events into the counters, exactly once per record identity,
 * however often and however cut the same records are delivered.
 */
export interface CounterSink {
  writeBatch(shardId: string, events: readonly ValidEvent[]): Promise<CounterWriteResult>;
}

/** Sends dead letters to the dead-letter stream. Resolves only when every letter is durably written. */
export interface DeadLetterSink {
  send(letters: readonly DeadLetter[]): Promise<void>;
}

/** What the raw-event index did with a batch. */
export interface IndexResult {
  indexed: number;
  /** Events the index refused for good (mapping errors): the pipeline dead-letters them. */
  rejected: { event: ValidEvent; reason: string }[];
}

/**
 * Indexes raw events (document `_id` = eventId, so replays overwrite). Retries 429/5xx
 * items itself; resolves when every event is either indexed or permanently rejected.
 */
export interface EventIndexSink {
  index(events: readonly ValidEvent[]): Promise<IndexResult>;
}
