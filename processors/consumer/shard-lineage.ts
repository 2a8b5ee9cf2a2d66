/**
 * Which shards may be read now. After a reshard, a child shard holds records that follow
 * its parents' records for the same keys; reading a child before its parents are finished
 * would apply events out of order and, worse, checkpoint past records not yet counted.
 */

/** The lineage fields of a shard, as ListShards returns them. */
export interface ShardLineage {
  shardId: string;
  parentShardId?: string;
  adjacentParentShardId?: string;
}

/**
 * The shards to start now: not finished, not already running, and every parent either
 * finished or gone from the stream (trimmed after the retention period).
 *
 * @example
 *   shardsReadyToRead(shards, new Set(['shardId-0']), new Set()) // children of shardId-0 become ready
 */
export function shardsReadyToRead(
  shards: readonly ShardLineage[],
  finished: ReadonlySet<string>,
  running: ReadonlySet<string>,
): string[] {
  const present = new Set(shards.map((shard) => shard.shardId));
  const parentDone = (parent: string | undefined) =>
    parent === undefined || finished.has(parent) || !present.has(parent);
  return shards
    .filter(
      (shard) =>
        !finished.has(shard.shardId) &&
        !running.has(shard.shardId) &&
        parentDone(shard.parentShardId) &&
        parentDone(shard.adjacentParentShardId),
    )
    .map((shard) => shard.shardId);
}
