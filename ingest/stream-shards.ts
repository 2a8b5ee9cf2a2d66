/**
 * Keeps the stream's open-shard map current for KPL aggregation: loaded at start-up and
 * refreshed on an interval, so resharding is followed without a restart.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { isOpenShard, listShards } from '../common/kinesis/list-shards.js';
import type { Logger } from '../common/logger.js';
import { ShardMap } from './shard-map.js';

/** Lists the stream's open shards (those without an ending sequence number). */
export async function loadShardMap(kinesis: Pick<KinesisClient, 'send'>, streamName: string): Promise<ShardMap> {
  const open = (await listShards(kinesis, streamName)).filter(isOpenShard);
  return new ShardMap(
    open.map((shard) => ({
      shardId: shard.ShardId ?? '',
      startingHashKey: BigInt(shard.HashKeyRange?.StartingHashKey ?? '0'),
      endingHashKey: BigInt(shard.HashKeyRange?.EndingHashKey ?? '0'),
    })),
  );
}

export interface ShardMapCache {
  current(): ShardMap;
  stop(): void;
}

/** Loads the shard map now, then refreshes it every `refreshMs`; a failed refresh keeps the last map. */
export async function startShardMapCache(
  kinesis: Pick<KinesisClient, 'send'>,
  streamName: string,
  refreshMs: number,
  logger: Logger,
): Promise<ShardMapCache> {
  let map = await loadShardMap(kinesis, streamName);
  const timer = setInterval(() => {
    loadShardMap(kinesis, streamName)
      .then((fresh) => {
        if (fresh.shardCount !== map.shardCount) logger.info({ shards: fresh.shardCount }, 'stream shard map changed');
        map = fresh;
      })
      .catch((error: unknown) => logger.warn({ err: error }, 'shard map refresh failed; keeping the last map'));
  }, refreshMs);
  timer.unref();
  return { current: () => map, stop: () => clearInterval(timer) };
}
