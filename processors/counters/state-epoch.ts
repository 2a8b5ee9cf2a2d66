/**
 * Binds the counters table to one copy of the exactly-once state. The state store holds a
 * random epoch (created once); the counters table records, in one item outside every
 * experiment's partition (`experiment_id = "$state"`, `variant_metric = "epoch"`), the epoch
 * its counts were written with. The two must agree before any batch is counted:
 *
 *   table: none, store: E   → record E (a new deployment, or the first run of this version)
 *   table: E,    store: E   → count
 *   table: E,    store: F≠E → STATE_LOST: the store lost its data (flushed, restarted without
 *                             persistence, failed over to an empty replica, or replaced);
 *                             counting with it would turn returning users into new units and
 *                             retried events into new counts. Stop and page (runbook:
 *                             processors/README.md, "State loss").
 *
 * After that, every state operation re-checks the store's epoch atomically (see
 * state/types.ts), so a loss in the middle of a run stops the very next batch.
 * Works on dynalite and DynamoDB alike: a consistent GetItem and a conditional PutItem.
 */
import {
  ConditionalCheckFailedException,
  GetItemCommand,
  PutItemCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { COUNTER_PARTITION_KEY, COUNTER_SORT_KEY, STATE_EPOCH_ITEM_KEY } from '../../common/counter-layout.js';
import { DEFAULT_RETRY_POLICY, withRetry, type RetryPolicy } from '../../common/retry.js';
import { stateLost } from '../state/state-rules.js';
import type { UserStateStore } from '../state/types.js';
import { isTransientDynamoError, toSinkError } from './dynamo-cell-writer.js';

const itemKey = {
  [COUNTER_PARTITION_KEY]: { S: STATE_EPOCH_ITEM_KEY.partition },
  [COUNTER_SORT_KEY]: { S: STATE_EPOCH_ITEM_KEY.sort },
};

/** The epoch recorded in the counters table, if any (consistent read). */
export async function readRecordedEpoch(dynamo: DynamoDBClient, tableName: string): Promise<string | undefined> {
  const out = await dynamo.send(new GetItemCommand({ TableName: tableName, Key: itemKey, ConsistentRead: true }));
  return out.Item?.epoch?.S;
}

/**
 * Records `epoch` in the counters table (replacing whatever is there): the operator's
 * explicit decision after a state loss (`npm run state -- accept-loss`), never automatic.
 */
export async function recordEpoch(dynamo: DynamoDBClient, tableName: string, epoch: string): Promise<void> {
  await dynamo.send(
    new PutItemCommand({
      TableName: tableName,
      Item: { ...itemKey, epoch: { S: epoch }, recorded_at: { S: new Date().toISOString() } },
    }),
  );
}

/** Sends with the counters' retry rules (throttling and 5xx retried), failures in the sink vocabulary. */
async function send<T>(what: string, policy: RetryPolicy, call: () => Promise<T>): Promise<T> {
  try {
    return await withRetry(call, { policy, shouldRetry: isTransientDynamoError });
  } catch (error) {
    throw toSinkError(error, what);
  }
}

/**
 * Resolves with the epoch to count under, or rejects with `STATE_LOST` when the store is not
 * the one the counters were written with.
 *
 * @example
 *   const epoch = await establishStateEpoch(dynamo, 'ExperimentCounters', state);
 *   await state.apply(shardId, epoch, requests);
 */
export async function establishStateEpoch(
  dynamo: DynamoDBClient,
  tableName: string,
  state: UserStateStore,
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
): Promise<string> {
  const current = await state.epoch();
  const read = () => send('read the state epoch', policy, () => readRecordedEpoch(dynamo, tableName));
  let recorded = await read();
  if (recorded === undefined) {
    try {
      await send('record the state epoch', policy, () =>
        dynamo.send(
          new PutItemCommand({
            TableName: tableName,
            Item: { ...itemKey, epoch: { S: current }, recorded_at: { S: new Date().toISOString() } },
            ConditionExpression: 'attribute_not_exists(#pk)',
            ExpressionAttributeNames: { '#pk': COUNTER_PARTITION_KEY },
          }),
        ),
      );
      return current;
    } catch (error) {
      const cause = (error as { cause?: unknown }).cause;
      if (!(cause instanceof ConditionalCheckFailedException)) throw error;
      recorded = await read(); // another processor recorded one first
    }
  }
  if (recorded !== current) throw stateLost(recorded ?? '(none)', current);
  return current;
}
