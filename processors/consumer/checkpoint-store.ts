/**
 * Shard checkpoints in DynamoDB (layout: common/checkpoint-layout.ts): the sequence number of the last
 * Kinesis record whose batch every sink acknowledged, and whether the shard was read to its
 * end (needed before its children may start after a reshard).
 *
 * Writes are conditional on the stored position being older, so a stale worker (one that
 * kept running after another took over) can never move a checkpoint back.
 */
import {
  ConditionalCheckFailedException,
  GetItemCommand,
  ScanCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { CHECKPOINT_ATTRIBUTES, CHECKPOINT_PARTITION_KEY } from '../../common/checkpoint-layout.js';
import { PipelineError } from '../../common/errors.js';
import { padSequenceNumber } from '../sequence-number.js';

const {
  sequenceNumber: SEQUENCE_NUMBER,
  position: POSITION,
  finished: FINISHED,
  updatedAt: UPDATED_AT,
} = CHECKPOINT_ATTRIBUTES;

/** Where a shard's reading stands. */
export interface ShardCheckpoint {
  /** Last fully processed sequence number; absent when nothing was processed yet. */
  sequenceNumber?: string;
  /** True once the shard was read up to SHARD_END. */
  finished: boolean;
}

/** `ok`: stored. `stale`: a newer checkpoint is already there (another worker moved on). */
export type CheckpointWrite = 'ok' | 'stale';

/** Reads and advances shard checkpoints. */
export interface CheckpointStore {
  read(shardId: string): Promise<ShardCheckpoint | undefined>;
  readAll(): Promise<Map<string, ShardCheckpoint>>;
  /** Advances the checkpoint to `sequenceNumber` (when given) and marks the shard finished (when asked). */
  save(shardId: string, sequenceNumber: string | undefined, options?: { finished?: boolean }): Promise<CheckpointWrite>;
}

function fromItem(item: Record<string, AttributeValue>): ShardCheckpoint {
  return {
    ...(item[SEQUENCE_NUMBER]?.S ? { sequenceNumber: item[SEQUENCE_NUMBER].S } : {}),
    finished: item[FINISHED]?.BOOL === true,
  };
}

function checkpointFailure(error: unknown): PipelineError {
  return new PipelineError('CHECKPOINT_FAILED', `checkpoint write failed: ${(error as Error).message}`, {
    cause: error,
  });
}

/**
 * A checkpoint store on `tableName`. `onWrite` is told about each write request (for metrics).
 *
 * @example
 *   const store = createCheckpointStore(dynamo, config.dynamodb.checkpointTable);
 *   await store.save('shardId-000000000000', '4959…', { finished: false });
 */
export function createCheckpointStore(
  dynamo: DynamoDBClient,
  tableName: string,
  onWrite: () => void = () => {},
): CheckpointStore {
  const key = (shardId: string) => ({ [CHECKPOINT_PARTITION_KEY]: { S: shardId } });
  return {
    async read(shardId) {
      const out = await dynamo.send(
        new GetItemCommand({ TableName: tableName, Key: key(shardId), ConsistentRead: true }),
      );
      return out.Item ? fromItem(out.Item) : undefined;
    },

    async readAll() {
      const all = new Map<string, ShardCheckpoint>();
      let startKey: Record<string, AttributeValue> | undefined;
      do {
        const page = await dynamo.send(
          new ScanCommand({ TableName: tableName, ConsistentRead: true, ExclusiveStartKey: startKey }),
        );
        for (const item of page.Items ?? []) {
          const shardId = item[CHECKPOINT_PARTITION_KEY]?.S;
          if (shardId) all.set(shardId, fromItem(item));
        }
        startKey = page.LastEvaluatedKey;
      } while (startKey);
      return all;
    },

    async save(shardId, sequenceNumber, options = {}) {
      const sets = [`${UPDATED_AT} = :now`];
      const values: Record<string, AttributeValue> = { ':now': { N: String(Date.now()) } };
      let condition: string | undefined;
      if (sequenceNumber !== undefined) {
        sets.push(`${SEQUENCE_NUMBER} = :seq`, '#position = :position');
        values[':seq'] = { S: sequenceNumber };
        values[':position'] = { S: padSequenceNumber(sequenceNumber) };
        condition = 'attribute_not_exists(#position) OR #position <= :position';
      }
      if (options.finished) {
        sets.push(`${FINISHED} = :finished`);
        values[':finished'] = { BOOL: true };
      }
      try {
        onWrite();
        await dynamo.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: key(shardId),
            UpdateExpression: `SET ${sets.join(', ')}`,
            ConditionExpression: condition,
            ExpressionAttributeNames: condition ? { '#position': POSITION } : undefined,
            ExpressionAttributeValues: values,
          }),
        );
        return 'ok';
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException) return 'stale';
        throw checkpointFailure(error);
      }
    },
  };
}
