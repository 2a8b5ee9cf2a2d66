/**
 * A Kinesis record, as every component holds one: what GetRecords returned (the local
 * consumer, the dead-letter reader, tests and the bench), what the Lambda event source mapping
 * or the KCL daemon handed over (the processors' adapters). One shape, so adapters, readers and
 * tests never convert between near-copies.
 */

/** A record of a shard, the shard being known from context (a `ShardBatch`, a reader's loop). */
export interface KinesisRecord {
  sequenceNumber: string;
  partitionKey: string;
  data: Uint8Array;
  /** Set by writers that route by hash key (KPL aggregates, compact records), when the reader kept it. */
  explicitHashKey?: string;
  /** Epoch ms, when the adapter knows it. */
  approximateArrivalTimestamp?: number;
  /**
   * Set when the adapter hands over a user record already taken out of a KPL aggregate
   * (the KCL daemon de-aggregates): the pipeline then uses it as is and does not de-aggregate again.
   */
  subSequenceNumber?: number;
}

/** A record with the shard it was read from (whole-stream readers). */
export interface ShardRecord extends KinesisRecord {
  shardId: string;
}
