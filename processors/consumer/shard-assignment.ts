/**
 * Static shard assignment for running several processor processes on one stream without a
 * lease manager (production leases come from the KCL or Lambda's event-source mapping):
 * process `index` of `of` reads the shards whose number (`shardId-000000000007` → 7) is
 * `index` modulo `of`; a shard id of another form is placed by its FNV-1a hash. Fixed at
 * start: after a reshard, restart the processes (their checkpoints carry them on).
 *
 * @example
 *   const mine = assignedTo({ index: 1, of: 2 }); // shardId-…001, …003, … → true
 *   shards.filter((shard) => mine(shard.shardId));
 */
import { fnv1a32 } from '../../common/hashing.js';

/** This process's place among `of` processes sharing a stream. */
export interface ShardAssignment {
  index: number;
  of: number;
}

/** Every shard: the one-process default. */
export const ALL_SHARDS: ShardAssignment = Object.freeze({ index: 0, of: 1 });

/** A predicate: is this shard read by the process at `assignment`? */
export function assignedTo(assignment: ShardAssignment): (shardId: string) => boolean {
  if (assignment.of === 1) return () => true;
  return (shardId) => {
    const match = /^shardId-(\d+)$/.exec(shardId);
    const slot = match ? Number(match[1]) : fnv1a32(shardId);
    return slot % assignment.of === assignment.index;
  };
}

/** Parses `PROCESSOR_SHARD_ASSIGNMENT` (`<index>/<of>`, e.g. `0/2`); undefined when malformed. */
export function parseShardAssignment(text: string): ShardAssignment | undefined {
  const match = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (!match) return undefined;
  const index = Number(match[1]);
  const of = Number(match[2]);
  return of >= 1 && of <= 1024 && index < of ? { index, of } : undefined;
}
