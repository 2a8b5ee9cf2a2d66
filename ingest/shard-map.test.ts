import { describe, expect, it } from 'vitest';
import { partitionKeyHash, ShardMap, type ShardRange } from './shard-map.js';

const MAX_HASH = 2n ** 128n - 1n;

/** `count` shards splitting the hash range evenly, as CreateStream does. */
function evenShards(count: number): ShardRange[] {
  const width = (MAX_HASH + 1n) / BigInt(count);
  return Array.from({ length: count }, (_, i) => ({
    shardId: `shardId-${String(i).padStart(12, '0')}`,
    startingHashKey: BigInt(i) * width,
    endingHashKey: i === count - 1 ? MAX_HASH : BigInt(i + 1) * width - 1n,
  }));
}

/** The shard Kinesis picks: the one whose range holds the key's MD5 (the definition, by BigInt). */
const owner = (ranges: readonly ShardRange[], key: string): string => {
  const hash = partitionKeyHash(key);
  return (ranges.find((range) => range.startingHashKey <= hash && hash <= range.endingHashKey) as ShardRange).shardId;
};

describe('ShardMap', () => {
  it('routes every key to the shard whose hash range holds its MD5, asked once or many times', () => {
    const ranges = evenShards(4);
    const map = new ShardMap([...ranges].reverse()); // any order in
    const keys = Array.from({ length: 2_000 }, (_, i) => `user-${i}`);
    for (let pass = 0; pass < 3; pass++) {
      for (const key of keys) expect(map.shardFor(key).shardId).toBe(owner(ranges, key));
    }
    expect(map.shardCount).toBe(4);
  });

  it('stays right past its memo bound (the memo is emptied, not trusted beyond it)', () => {
    const ranges = evenShards(3);
    const map = new ShardMap(ranges, 10);
    const keys = Array.from({ length: 50 }, (_, i) => `k${i}`);
    for (const key of [...keys, ...keys.reverse()]) expect(map.shardFor(key).shardId).toBe(owner(ranges, key));
  });

  it('answers the one shard of a single-shard stream, and refuses an empty map', () => {
    const [only] = evenShards(1);
    expect(new ShardMap([only as ShardRange]).shardFor('anyone')).toBe(only);
    expect(() => new ShardMap([])).toThrow('a shard map needs at least one open shard');
  });
});
