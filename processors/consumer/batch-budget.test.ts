import { describe, expect, it } from 'vitest';
import { encodeCompactRecord } from '../../common/compact-records.js';
import { sampleEvent } from '../test-support/pipeline-doubles.js';
import type { KinesisRecord } from '../types.js';
import {
  BatchBudget,
  fitBudgetToHeap,
  HEAP_BYTES_PER_USER_RECORD,
  HEAP_RESERVE_BYTES,
  MIN_SHARE,
  PRIOR_BYTES_PER_USER_RECORD,
  PROBE_LIMIT,
  ProcessBatchBudget,
} from './batch-budget.js';

let sequence = 0;
const plain = (bytes: number): KinesisRecord => ({
  sequenceNumber: String(++sequence),
  partitionKey: 'p',
  data: Buffer.alloc(bytes, 0x20),
});
/** A compact record of `events` events (about 50 bytes each). */
const compact = (events: number): KinesisRecord => ({
  sequenceNumber: String(++sequence),
  partitionKey: 'p',
  data: encodeCompactRecord(
    Array.from({ length: events }, (_, i) =>
      sampleEvent({ eventId: `0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f${String(i).padStart(4, '0')}`, userId: `u${i}` }),
    ),
  ),
});
const sizeOf = (budget: BatchBudget, records: KinesisRecord[]) => ({
  records: records.length,
  bytes: records.reduce((sum, record) => sum + record.data.byteLength, 0),
  userRecords: records.reduce((sum, record) => sum + budget.userRecordsOf(record), 0),
});

describe('BatchBudget: batch bounds in record bytes and user records after de-aggregation', () => {
  it('probes with a few records while the shard is unknown, then asks for what is left of the batch', () => {
    const budget = new BatchBudget({ maxRecords: 10_000, maxBytes: 10_000, maxUserRecords: 1_000_000 });
    expect(budget.nextLimit({ records: 0, bytes: 0, userRecords: 0 })).toBe(PROBE_LIMIT);
    const response = Array.from({ length: 10 }, () => plain(100));
    budget.observe(response);
    expect(budget.nextLimit({ records: 0, bytes: 0, userRecords: 0 })).toBe(100);
    expect(budget.nextLimit(sizeOf(budget, response))).toBe(90);
    // Never 0 (a full batch is flushed before the next call), never above the GetRecords ceiling.
    expect(budget.nextLimit({ records: 100, bytes: 10_000, userRecords: 100 })).toBe(1);
    const small = new BatchBudget({ maxRecords: 5, maxBytes: 10_000, maxUserRecords: 1_000_000 });
    expect(small.nextLimit({ records: 0, bytes: 0, userRecords: 0 })).toBe(5);
    small.observe([plain(1)]);
    expect(small.nextLimit({ records: 0, bytes: 0, userRecords: 0 })).toBe(5);
  });

  it('counts a plain record as one user record and estimates an aggregated one from the learned density', () => {
    const budget = new BatchBudget({ maxRecords: 10_000, maxBytes: 1 << 20, maxUserRecords: 1_000 });
    const record = compact(40);
    // Before anything was decoded: the conservative prior (more user records than there are).
    expect(budget.userRecordsOf(record)).toBe(record.data.byteLength / PRIOR_BYTES_PER_USER_RECORD);
    expect(budget.userRecordsOf(record)).toBeGreaterThan(40);
    expect(budget.userRecordsOf(plain(5_000))).toBe(1);
    budget.learn([record, plain(300), plain(300)], 42);
    expect(budget.userRecordsOf(record)).toBe(40);
    // Later batches move the estimate halfway; a batch of plain records teaches nothing about aggregates.
    budget.learn([record], 80); // bytes per user record: (B/40 + B/80) / 2 = 3B/160
    expect(budget.userRecordsOf(record)).toBeCloseTo(160 / 3, 9);
    budget.learn([plain(300)], 1);
    expect(budget.userRecordsOf(record)).toBeCloseTo(160 / 3, 9);
  });

  it('limits a GetRecords call by user records, not by Kinesis records', () => {
    const budget = new BatchBudget({ maxRecords: 10_000, maxBytes: 2 << 20, maxUserRecords: 200 });
    const record = compact(50);
    budget.learn([record], 50);
    budget.observe([record, compact(50)]);
    // 2 MiB would take hundreds of such records; 200 user records take 4.
    expect(budget.nextLimit({ records: 0, bytes: 0, userRecords: 0 })).toBe(4);
    expect(budget.nextLimit({ records: 3, bytes: 3 * record.data.byteLength, userRecords: 150 })).toBe(1);
    expect(budget.isFull({ records: 3, bytes: 3 * record.data.byteLength, userRecords: 150 })).toBe(false);
    expect(budget.isFull({ records: 4, bytes: 4 * record.data.byteLength, userRecords: 200 })).toBe(true);
    // Not one more record of the last response's size fits: full.
    expect(budget.isFull({ records: 3, bytes: 3 * record.data.byteLength, userRecords: 151 })).toBe(true);
  });

  it('never slices a response of exactly the Limit into a batch and a sliver', () => {
    const budget = new BatchBudget({ maxRecords: 10_000, maxBytes: 2 << 20, maxUserRecords: 20_000 });
    // Density learned from other records: a 70-event record is estimated at a fraction of user records.
    budget.learn([compact(50)], 50);
    budget.observe([compact(70)]);
    const limit = budget.nextLimit({ records: 0, bytes: 0, userRecords: 0 });
    const response = Array.from({ length: limit }, () => compact(70));
    // Before: per-record estimates were rounded up, so these slices were [limit − 4, 4].
    expect(budget.slices(response).map((slice) => slice.length)).toEqual([limit]);
    expect(budget.isFull(sizeOf(budget, response))).toBe(true);
  });

  it('slices gathered records within both bounds, in order, at record boundaries', () => {
    // A 30-event compact record is about 1.5 KB: the user records bind for those, the bytes for plain ones.
    const budget = new BatchBudget({ maxRecords: 10_000, maxBytes: 6_000, maxUserRecords: 100 });
    const sample = compact(30);
    budget.learn([sample], 30);
    const records = [compact(30), compact(30), compact(30), compact(30), plain(3_600), plain(3_600), compact(30)];
    const slices = budget.slices(records);
    expect(slices.flat()).toEqual(records);
    for (const slice of slices) {
      const size = sizeOf(budget, slice);
      if (slice.length > 1) {
        expect(size.userRecords).toBeLessThanOrEqual(100);
        expect(size.bytes).toBeLessThanOrEqual(6_000);
      }
    }
    // Three 30-event records fit 100 user records; a 3.6 KB plain record fits 6 KB with a compact one, not with another.
    expect(slices.map((slice) => slice.length)).toEqual([3, 2, 2]);
    // A record larger than a bound alone is a slice of its own (it is never split).
    const oversized = compact(200);
    expect(budget.slices([oversized, compact(30)])).toEqual([[oversized], [expect.anything()]]);
  });
});

describe('ProcessBatchBudget: one budget per process, divided among the shards it reads', () => {
  const total = { maxRecords: 10_000, maxBytes: 16 << 20, maxUserRecords: 200_000 };

  it('gives each reader an equal share of bytes and user records (not of the GetRecords Limit), following joins and leaves', () => {
    const process = new ProcessBatchBudget(total);
    expect(process.share()).toEqual(total); // nobody reading yet: the whole budget
    const leaveA = process.join();
    expect(process.share()).toEqual(total);
    const leaveB = process.join();
    const leaveC = process.join();
    expect(process.readers).toBe(3);
    expect(process.share()).toEqual({
      maxRecords: 10_000,
      maxBytes: Math.floor((16 << 20) / 3),
      maxUserRecords: 66_666,
    });
    leaveB();
    leaveB(); // a second leave gives nothing back twice
    expect(process.readers).toBe(2);
    expect(process.share()).toEqual({ maxRecords: 10_000, maxBytes: 8 << 20, maxUserRecords: 100_000 });
    leaveA();
    leaveC();
    expect(process.readers).toBe(0);
    expect(process.share()).toEqual(total);
  });

  it('never shares below MIN_SHARE (a batch stays worth its writes), nor above the whole budget', () => {
    const many = new ProcessBatchBudget(total);
    for (let i = 0; i < 10_000; i++) many.join();
    expect(many.share()).toEqual({ maxRecords: 10_000, ...MIN_SHARE });
    const tiny = new ProcessBatchBudget({ maxRecords: 10, maxBytes: 1_000, maxUserRecords: 8 });
    tiny.join();
    tiny.join();
    expect(tiny.share()).toEqual({ maxRecords: 10, maxBytes: 1_000, maxUserRecords: 8 });
  });

  it('a shard budget reading a share sees the share of the moment: a second shard halves the next Limit and the cuts', () => {
    const process = new ProcessBatchBudget({ maxRecords: 10_000, maxBytes: 1 << 20, maxUserRecords: 400 });
    process.join();
    const budget = new BatchBudget(() => process.share());
    const response = Array.from({ length: 10 }, () => plain(100));
    budget.observe(response);
    expect(budget.nextLimit({ records: 0, bytes: 0, userRecords: 0 })).toBe(400);
    expect(budget.slices(Array.from({ length: 400 }, () => plain(100))).map((slice) => slice.length)).toEqual([400]);
    const leave = process.join();
    expect(budget.bounds.maxUserRecords).toBe(200);
    expect(budget.nextLimit({ records: 0, bytes: 0, userRecords: 0 })).toBe(200);
    expect(budget.isFull({ records: 200, bytes: 20_000, userRecords: 200 })).toBe(true);
    expect(budget.slices(Array.from({ length: 400 }, () => plain(100))).map((slice) => slice.length)).toEqual([
      200, 200,
    ]);
    leave();
    expect(budget.isFull({ records: 200, bytes: 20_000, userRecords: 200 })).toBe(false);
  });
});

describe('fitBudgetToHeap: the process budget lowered to what the heap holds', () => {
  const total = { maxRecords: 10_000, maxBytes: 16 << 20, maxUserRecords: 200_000 };
  const MiB = 2 ** 20;

  it('keeps a budget the heap holds, and lowers one it does not to (limit − reserve) ÷ bytes per user record', () => {
    expect(HEAP_RESERVE_BYTES).toBe(100 * MiB);
    expect(HEAP_BYTES_PER_USER_RECORD).toBe(1024);
    expect(fitBudgetToHeap(total, 4144 * MiB)).toEqual(total); // Node's default heap on this machine
    expect(fitBudgetToHeap(total, 304 * MiB)).toEqual(total); // --max-old-space-size=256: 208,896 fit
    expect(fitBudgetToHeap(total, 144 * MiB)).toEqual({ ...total, maxUserRecords: 45_056 }); // 96: 44 MiB ÷ 1 KiB
    expect(fitBudgetToHeap(total, 100 * MiB + 150 * 1024 + 1023)).toEqual({ ...total, maxUserRecords: 150 });
  });

  it('never lowers below MIN_SHARE, however small the heap', () => {
    expect(fitBudgetToHeap(total, 50 * MiB)).toEqual({ ...total, maxUserRecords: MIN_SHARE.maxUserRecords });
    expect(fitBudgetToHeap({ ...total, maxUserRecords: 40 }, 50 * MiB)).toEqual({ ...total, maxUserRecords: 40 });
  });
});

describe('BatchBudget.sample: the first response teaches the density before anything was decoded', () => {
  it('counts one aggregated record of the response, once, so the first batch is not cut at the prior', () => {
    const budget = new BatchBudget({ maxRecords: 10_000, maxBytes: 1 << 20, maxUserRecords: 1_000 });
    const record = compact(40);
    const response = [plain(300), record, compact(40)];
    expect(budget.userRecordsOf(record)).toBeGreaterThan(40); // the prior
    budget.sample(response);
    expect(budget.userRecordsOf(record)).toBe(40);
    expect(budget.bytesPerUserRecord).toBe(record.data.byteLength / 40);
    // Learned: a later sample changes nothing (decoded batches teach from then on).
    budget.sample([compact(5)]);
    expect(budget.userRecordsOf(record)).toBe(40);
    // Before: 100 probed records of 40 events counted as a full batch of 1,000 user records.
    expect(budget.isFull({ records: 20, bytes: 20 * record.data.byteLength, userRecords: 20 * 40 })).toBe(false);
  });

  it('learns nothing from plain records (one user record each already)', () => {
    const budget = new BatchBudget({ maxRecords: 10_000, maxBytes: 1 << 20, maxUserRecords: 1_000 });
    budget.sample([plain(300), plain(400)]);
    expect(budget.bytesPerUserRecord).toBe(PRIOR_BYTES_PER_USER_RECORD);
    const record = compact(40);
    budget.sample([record]);
    expect(budget.userRecordsOf(record)).toBe(40);
  });
});

describe('BatchBudget: the edges of full, slices and learning', () => {
  it('is full when either bound is reached, or when one more record of the last response would cross it', () => {
    const budget = new BatchBudget({ maxRecords: 10_000, maxBytes: 1_000, maxUserRecords: 10 });
    // Nothing observed yet: full only at a bound.
    expect(budget.isFull({ records: 9, bytes: 999, userRecords: 9.5 })).toBe(false);
    expect(budget.isFull({ records: 1, bytes: 1_000, userRecords: 1 })).toBe(true);
    expect(budget.isFull({ records: 10, bytes: 10, userRecords: 10 })).toBe(true);
    budget.observe([plain(100), plain(100)]); // records of 100 bytes, one user record each
    expect(budget.isFull({ records: 9, bytes: 900, userRecords: 9 })).toBe(false); // exactly one more fits
    expect(budget.isFull({ records: 9, bytes: 901, userRecords: 9 })).toBe(true); // one more would cross the bytes
    expect(budget.isFull({ records: 5, bytes: 500, userRecords: 9.5 })).toBe(true); // or the user records
    expect(budget.isFull({ records: 5, bytes: 500, userRecords: 9 })).toBe(false);
  });

  it('an empty response changes nothing it learned from the last one', () => {
    const budget = new BatchBudget({ maxRecords: 10_000, maxBytes: 10_000, maxUserRecords: 1_000_000 });
    budget.observe(Array.from({ length: 4 }, () => plain(100)));
    expect(budget.observe([])).toBe(0);
    expect(budget.nextLimit({ records: 0, bytes: 0, userRecords: 0 })).toBe(100);
  });

  it('estimates a mixed response from its share of plain records and its aggregated bytes', () => {
    const budget = new BatchBudget({ maxRecords: 10_000, maxBytes: 1 << 30, maxUserRecords: 1_000 });
    const record = compact(40);
    budget.learn([record], 40);
    // One plain and one aggregated record per two: 0.5 + 40 / 2 = 20.5 user records per Kinesis record.
    budget.observe([plain(100), record]);
    expect(budget.nextLimit({ records: 0, bytes: 0, userRecords: 0 })).toBe(Math.floor(1_000 / 20.5));
  });

  it('cuts at a bound only when the next record would cross it, and makes no slice of nothing', () => {
    const budget = new BatchBudget({ maxRecords: 10_000, maxBytes: 300, maxUserRecords: 1_000 });
    const records = Array.from({ length: 6 }, () => plain(100));
    expect(budget.slices(records).map((slice) => slice.length)).toEqual([3, 3]); // 300 bytes fit exactly
    expect(budget.slices([])).toEqual([]);
  });

  it('learns nothing from a slice whose aggregated records decoded to no user records', () => {
    const budget = new BatchBudget({ maxRecords: 10_000, maxBytes: 1 << 20, maxUserRecords: 1_000 });
    const record = compact(40);
    budget.learn([record, plain(100)], 1); // the plain record's one; the compact record gave nothing
    expect(budget.bytesPerUserRecord).toBe(PRIOR_BYTES_PER_USER_RECORD);
    budget.learn([record], 40);
    expect(budget.userRecordsOf(record)).toBe(40);
  });
});
