/**
 * The layout of the `ExperimentCheckpoints` DynamoDB table: where the local consumer (and
 * the KCL-style readers) stand on each shard. Written by processors/consumer/checkpoint-store.ts,
 * created by the CDK DynamoStack in AWS and by local/provision.ts on the local stand-ins.
 *
 *   shard_id (partition key)  = the Kinesis shard id, e.g. `shardId-000000000000`; one item per shard
 *
 * Attributes of an item:
 *   sequence_number  last Kinesis sequence number whose batch every sink acknowledged (string)
 *   position         the same sequence number left-padded to a fixed width, so string order is
 *                    numeric order: checkpoint writes are conditional on it never moving back
 *   finished         true once the shard was read to SHARD_END (its children may start)
 *   updated_at       epoch ms of the last write
 *
 * @example
 *   { shard_id: 'shardId-000000000001', sequence_number: '4959…', position: '0004959…', finished: false, updated_at: 1764151200000 }
 */
export const CHECKPOINT_PARTITION_KEY = 'shard_id';

/** Attribute names of a checkpoint item (besides the key). */
export const CHECKPOINT_ATTRIBUTES = {
  sequenceNumber: 'sequence_number',
  position: 'position',
  finished: 'finished',
  updatedAt: 'updated_at',
} as const;
