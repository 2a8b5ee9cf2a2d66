/**
 * The shard memo log stays bounded by what it holds, not by what it ever held: a commit that
 * empties it lets its arrays go, and one that leaves memos cuts the committed front once it is
 * at least COMPACT_AFTER (1,024) entries and half the arrays. Neither is visible through its
 * answers, so this measures the live heap (after a forced full GC: V8's `gc`, exposed for this
 * file) across 200,000 memos, of which the log never holds more than a few thousand.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { recordPosition } from '../sequence-number.js';
import { ShardMemoLog } from './memo-log.js';
import type { RunningTotal } from './state-rules.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const liveHeap = (): number => {
  gc();
  return process.memoryUsage().heapUsed;
};

const RECORDS = 200_000;
/**
 * Far below what 200,000 memos held take (a position string of about 40 bytes and a slot in
 * each of the four arrays: about 15 MB), far above the bounded log's few thousand (under 1 MB).
 */
const HEAP_GROWTH_LIMIT_BYTES = 4 * 1024 * 1024;

/** Adds `RECORDS` memos in batches of `batch`, committing all but the last `kept` after each; the live heap growth. */
function heapGrowth(batch: number, kept: number): { growth: number; size: number; last: unknown } {
  const log = new ShardMemoLog();
  const running: RunningTotal = { variantMetric: 'v#m', total: undefined, memos: [] };
  const baseline = liveHeap();
  let record = 0;
  while (record < RECORDS) {
    for (let i = 0; i < batch; i++, record++)
      log.add(running, recordPosition(String(record + 1), 0), record, undefined);
    log.commit(recordPosition(String(record - kept), 0));
  }
  const growth = liveHeap() - baseline;
  // The log is still live here (its answers are read after the measurement).
  return { growth, size: log.size, last: log.find(running, recordPosition(String(record), 0)) };
}

describe('the shard memo log in memory', () => {
  it('lets its arrays go when a commit empties it', () => {
    const { growth, size } = heapGrowth(1_000, 0);
    expect(size).toBe(0);
    expect(growth).toBeLessThan(HEAP_GROWTH_LIMIT_BYTES);
  });

  it('cuts the committed front of its arrays when commits leave memos (small and large commits)', () => {
    for (const [batch, kept] of [
      [1_000, 100], // 900 dropped per commit: the cut waits until 1,024 are
      [2_000, 100], // 1,900 dropped per commit: cut at every commit
    ] as const) {
      const { growth, size, last } = heapGrowth(batch, kept);
      expect(size).toBe(kept);
      expect(last).toEqual([recordPosition(String(RECORDS), 0), RECORDS - 1]);
      expect(growth).toBeLessThan(HEAP_GROWTH_LIMIT_BYTES);
    }
  });
});
