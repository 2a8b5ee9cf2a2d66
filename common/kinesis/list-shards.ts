/**
 * The one paginated ListShards: every shard of a stream (open and closed), following
 * `NextToken`, each page retried on throttles and transient faults (common/kinesis/errors.ts).
 */
import {
  ListShardsCommand,
  type KinesisClient,
  type ListShardsCommandOutput,
  type Shard,
} from '@aws-sdk/client-kinesis';
import { withRetry, type RetryPolicy } from '../retry.js';
import { isRetriableKinesisError } from './errors.js';

/**
 * Lists every shard of the stream, in the order Kinesis returns them. Rejects with the SDK's
 * error when a page still fails after the retries (or fails for good).
 *
 * @example const open = (await listShards(kinesis, 'ExperimentEvents')).filter(isOpenShard);
 */
export async function listShards(
  kinesis: Pick<KinesisClient, 'send'>,
  streamName: string,
  options: { policy?: RetryPolicy } = {},
): Promise<Shard[]> {
  const shards: Shard[] = [];
  let nextToken: string | undefined;
  do {
    const token = nextToken;
    const page: ListShardsCommandOutput = await withRetry(
      () => kinesis.send(new ListShardsCommand(token ? { NextToken: token } : { StreamName: streamName })),
      { policy: options.policy, shouldRetry: isRetriableKinesisError },
    );
    shards.push(...(page.Shards ?? []));
    nextToken = page.NextToken;
  } while (nextToken);
  return shards;
}

/** An open shard has no ending sequence number: it still takes writes. */
export const isOpenShard = (shard: Shard): boolean => shard.SequenceNumberRange?.EndingSequenceNumber === undefined;
