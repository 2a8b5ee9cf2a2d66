/**
 * What the pipeline reports for a batch once every sink acknowledged it. Every user record
 * has exactly one outcome: `userRecords = counted + duplicates + replayed + deadLettered`.
 * Index rejections are counted events too; they are additionally dead-lettered for the index.
 */
export interface BatchOutcome {
  shardId: string;
  /** The checkpoint to write: sequence number of the batch's last Kinesis record (undefined when empty). */
  lastSequenceNumber: string | undefined;
  /** Kinesis records in. */
  records: number;
  /** User records after KPL de-aggregation. */
  userRecords: number;
  /** Applied to counters for the first time. */
  counted: number;
  /** Producer retries (same eventId, another record) not counted again. */
  duplicates: number;
  /** Redeliveries of records the counters had already applied. */
  replayed: number;
  /** Undecodable or invalid user records sent to the dead-letter stream. */
  deadLettered: number;
  indexed: number;
  /** Valid events the index refused for good; sent to the dead-letter stream as well. */
  indexRejected: number;
  counterCells: number;
  counterWrites: number;
  /** Dead letters by the first rule they broke. */
  deadLetterReasons: Record<string, number>;
  /** `receivedAt` (epoch ms) of each valid event, so callers can measure freshness at commit time. */
  receivedAt: number[];
  /** Decode plus every sink, in milliseconds. */
  durationMs: number;
}
