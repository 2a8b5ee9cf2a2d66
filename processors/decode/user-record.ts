/**
 * A user record: one producer event as it sits in the stream, after KPL de-aggregation.
 * Kept separate from `KinesisRecord` because one Kinesis record may carry many of them.
 */
import type { RecordIdentity } from '../types.js';

/** One event's bytes with the identity that makes its replays recognisable. */
export interface UserRecord {
  id: RecordIdentity;
  partitionKey: string;
  data: Uint8Array;
}
