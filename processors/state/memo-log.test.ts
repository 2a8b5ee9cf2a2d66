import { describe, expect, it } from 'vitest';
import { recordPosition } from '../sequence-number.js';
import { ShardMemoLog } from './memo-log.js';
import type { RunningTotal } from './state-rules.js';

const running = (variantMetric = 'v#m'): RunningTotal => ({ variantMetric, total: undefined, memos: [] });
const at = (record: number, sub = 0): string => recordPosition(String(record), sub);

describe('the shard memo log', () => {
  it('answers a memo by position for the running total it was written for, with its partner totals', () => {
    const log = new ShardMemoLog();
    const ann = running();
    const bob = running();
    log.add(ann, at(1), undefined, undefined);
    log.add(bob, at(2), 5, [7, undefined]);
    log.add(ann, at(3), 'refused', undefined);
    expect(log.find(ann, at(1))).toEqual([at(1), undefined]);
    expect(log.find(bob, at(2))).toEqual([at(2), 5, [7, undefined]]);
    expect(log.find(ann, at(3))).toEqual([at(3), 'refused']);
    expect(log.size).toBe(3);
  });

  it('answers nothing for a new record, a position it does not hold, or another running total', () => {
    const log = new ShardMemoLog();
    const ann = running();
    expect(log.find(ann, at(1))).toBeUndefined(); // empty
    log.add(ann, at(2), 1, undefined);
    log.add(ann, at(4), 2, undefined);
    expect(log.find(ann, at(5))).toBeUndefined(); // after every memo: new
    expect(log.find(ann, at(3))).toBeUndefined(); // between two memos: never memoized
    expect(log.find(ann, at(1))).toBeUndefined(); // before the first
    // The same user met again after being forgotten has a new running total: the old memo does not answer.
    expect(log.find(running(), at(2))).toBeUndefined();
  });

  it('drops the memos at or before a commit, and keeps answering the later ones', () => {
    const log = new ShardMemoLog();
    const ann = running();
    for (let record = 1; record <= 5; record++) log.add(ann, at(record), record, undefined);
    log.commit(at(3));
    expect(log.size).toBe(2);
    expect(log.find(ann, at(3))).toBeUndefined();
    expect(log.find(ann, at(4))).toEqual([at(4), 4]);
    log.commit(at(2)); // a commit that moves back drops nothing more
    expect(log.size).toBe(2);
    log.commit(at(5));
    expect(log.size).toBe(0);
    log.add(ann, at(6), 6, undefined); // and starts again after being emptied
    expect(log.find(ann, at(6))).toEqual([at(6), 6]);
  });

  it('orders a memo added out of record order in its place, and replaces a memo of the same position', () => {
    const log = new ShardMemoLog();
    const ann = running();
    const bob = running();
    log.add(ann, at(1), 1, undefined);
    log.add(ann, at(3), 3, undefined);
    log.add(bob, at(2), 2, [9]); // out of order: goes between
    log.add(ann, at(1, 1), 11, undefined);
    expect(log.find(bob, at(2))).toEqual([at(2), 2, [9]]);
    expect(log.find(ann, at(1, 1))).toEqual([at(1, 1), 11]);
    log.add(bob, at(1), 100, undefined); // the same position again: the newer memo replaces it
    expect(log.size).toBe(4);
    expect(log.find(ann, at(1))).toBeUndefined();
    expect(log.find(bob, at(1))).toEqual([at(1), 100]);
    log.commit(at(1, 1));
    expect([log.size, log.find(bob, at(2)), log.find(ann, at(3))]).toEqual([2, [at(2), 2, [9]], [at(3), 3]]);
  });

  it('keeps every answer right across the cuts of its arrays after many commits, partner totals included', () => {
    const log = new ShardMemoLog();
    const totals = [running('a'), running('b'), running('c')];
    // Odd records carry partner totals (their own number), even ones none: each array must be cut alike.
    const partnersOf = (record: number) => (record % 2 === 1 ? [record, undefined] : undefined);
    const memoOf = (record: number) =>
      record % 2 === 1 ? [at(record), record, [record, undefined]] : [at(record), record];
    let record = 0;
    for (let round = 0; round < 30; round++) {
      for (let i = 0; i < 200; i++, record++)
        log.add(totals[record % 3] as RunningTotal, at(record), record, partnersOf(record));
      // Commit all but the last 150 records: the log holds a window that slides over the arrays.
      log.commit(at(record - 151));
      expect(log.size).toBe(150);
      for (const probe of [record - 151, record - 150, record - 149, record - 75, record - 2, record - 1]) {
        const memo = log.find(totals[probe % 3] as RunningTotal, at(probe));
        expect(memo).toEqual(probe <= record - 151 ? undefined : memoOf(probe));
      }
    }
  });

  it('replaces the memo of the last position it holds, instead of holding that position twice', () => {
    // A replay of the shard's last record after its user was forgotten: a new running total, the same position.
    const log = new ShardMemoLog();
    const forgotten = running();
    const again = running();
    log.add(forgotten, at(1), 1, undefined);
    log.add(forgotten, at(2), 2, [4]);
    log.add(again, at(2), 'refused', undefined);
    expect(log.size).toBe(2);
    expect(log.find(again, at(2))).toEqual([at(2), 'refused']);
    expect(log.find(forgotten, at(2))).toBeUndefined();
    expect(log.find(forgotten, at(1))).toEqual([at(1), 1]);
    log.add(again, at(3), 3, undefined); // and appends after it as before
    expect([log.size, log.find(again, at(3))]).toEqual([3, [at(3), 3]]);
  });
});
