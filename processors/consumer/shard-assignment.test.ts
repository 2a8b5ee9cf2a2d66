import { describe, expect, it } from 'vitest';
import { assignedTo, parseShardAssignment } from './shard-assignment.js';

const shards = Array.from({ length: 6 }, (_, i) => `shardId-${String(i).padStart(12, '0')}`);

describe('static shard assignment', () => {
  it('splits shards by number, every shard to exactly one process', () => {
    const first = shards.filter(assignedTo({ index: 0, of: 2 }));
    const second = shards.filter(assignedTo({ index: 1, of: 2 }));
    expect(first).toEqual([shards[0], shards[2], shards[4]]);
    expect(second).toEqual([shards[1], shards[3], shards[5]]);
    const ofThree = [0, 1, 2].map((index) => shards.filter(assignedTo({ index, of: 3 })).length);
    expect(ofThree).toEqual([2, 2, 2]);
  });

  it('places other shard ids by hash, still each to exactly one process', () => {
    const odd = ['a', 'b', 'c', 'd', 'e'];
    const owners = odd.map((id) => [0, 1, 2].filter((index) => assignedTo({ index, of: 3 })(id)));
    expect(owners.every((list) => list.length === 1)).toBe(true);
  });

  it('reads every shard with one process', () => {
    expect(shards.every(assignedTo({ index: 0, of: 1 }))).toBe(true);
  });

  it('parses <index>/<of> and refuses what is not one', () => {
    expect(parseShardAssignment('1/4')).toEqual({ index: 1, of: 4 });
    for (const bad of ['4/4', '1', '-1/2', 'a/b', '0/0', '1/2/3']) expect(parseShardAssignment(bad)).toBeUndefined();
  });
});
