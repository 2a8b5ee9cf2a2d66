/**
 * Which shard a partition key lands on: Kinesis hashes the key with MD5 into a 128-bit
 * integer and routes it to the open shard whose hash-key range contains it. The KPL
 * aggregator needs this to pack only records of the same destination shard together
 * (the KCL drops user records whose hash key falls outside the shard's range).
 */
import { hash } from 'node:crypto';

export interface ShardRange {
  shardId: string;
  startingHashKey: bigint;
  endingHashKey: bigint;
}

/** The 128-bit hash key Kinesis derives from a partition key. */
export function partitionKeyHash(partitionKey: string): bigint {
  return BigInt(`0x${partitionKeyHashHex(partitionKey)}`);
}

/** The same hash as 32 lowercase hex digits: fixed width, so string order is numeric order (and cheaper than BigInt). */
export function partitionKeyHashHex(partitionKey: string): string {
  // One-shot `hash` (UTF-8 for strings): a third of `createHash().update().digest()`'s cost, no Hash object per key.
  return hash('md5', partitionKey, 'hex');
}

const toHex128 = (value: bigint): string => value.toString(16).padStart(32, '0');

/** Partition keys whose shard a map remembers by default (users come back: an MD5 per event was 4% of the collector's CPU). */
export const SHARD_MEMO_LIMIT = 50_000;

/**
 * Open shards sorted by range, for binary search. Remembers the shard of up to `memoLimit`
 * partition keys (emptied when full; a resharded stream gets a new map, so a new memo).
 */
export class ShardMap {
  private readonly ranges: readonly ShardRange[];
  private readonly startsHex: readonly string[];
  private readonly memo = new Map<string, ShardRange>();

  constructor(
    ranges: readonly ShardRange[],
    private readonly memoLimit = SHARD_MEMO_LIMIT,
  ) {
    if (ranges.length === 0) throw new Error('a shard map needs at least one open shard');
    this.ranges = [...ranges].sort((a, b) => (a.startingHashKey < b.startingHashKey ? -1 : 1));
    this.startsHex = this.ranges.map((range) => toHex128(range.startingHashKey));
  }

  get shardCount(): number {
    return this.ranges.length;
  }

  /** The open shard owning `partitionKey`. */
  shardFor(partitionKey: string): ShardRange {
    if (this.ranges.length === 1) return this.ranges[0] as ShardRange;
    const known = this.memo.get(partitionKey);
    if (known !== undefined) return known;
    const range = this.lookUp(partitionKey);
    if (this.memo.size >= this.memoLimit) this.memo.clear();
    this.memo.set(partitionKey, range);
    return range;
  }

  /** Binary search of the key's MD5 among the shards' starting hash keys. */
  private lookUp(partitionKey: string): ShardRange {
    const hash = partitionKeyHashHex(partitionKey);
    let low = 0;
    let high = this.ranges.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if ((this.startsHex[middle] as string) <= hash) low = middle;
      else high = middle - 1;
    }
    return this.ranges[low] as ShardRange;
  }
}
