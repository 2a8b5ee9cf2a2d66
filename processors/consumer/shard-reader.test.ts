/**
 * When the shard reader polls and flushes, on a virtual clock (fake timers), against a scripted
 * fake Kinesis shard and a fake pipeline whose batches take a chosen time. The reader's
 * behaviour against real Kinesis semantics (kinesalite) is in local-consumer.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../common/logger.js';
import { createProcessorMetrics } from '../metrics.js';
import { scriptedKinesis, slowPipeline, type ScriptedResponse } from '../test-support/scripted-shard.js';
import type { CheckpointStore } from './checkpoint-store.js';
import { BACKLOG_GATHER_MAX_MS, nextFlushAt, readShard, type ShardReaderOptions } from './shard-reader.js';

const T0 = Date.UTC(2026, 0, 1);
const NO_RETRY = { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 };

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});
afterEach(() => {
  vi.useRealTimers();
});

const checkpoints: CheckpointStore = {
  read: () => Promise.resolve(undefined),
  readAll: () => Promise.resolve(new Map()),
  save: () => Promise.resolve('ok'),
};

/** `n` empty GetRecords answers (the reader has caught up). */
const empty = (n: number): ScriptedResponse[] => Array.from({ length: n }, () => ({ records: [] }));

/** Starts a reader over `responses` (to the end of the shard), on the fake clock: run the timers to read. */
function startReading(
  responses: ScriptedResponse[],
  options: Partial<ShardReaderOptions>,
  batchMs: number,
  flushGridOrigin?: number,
) {
  const metrics = createProcessorMetrics();
  const { kinesis, getRecordsAt } = scriptedKinesis(responses);
  const { pipeline, batches } = slowPipeline(metrics, batchMs);
  const reading = readShard({
    kinesis,
    streamName: 'events',
    shardId: 'shardId-000000000000',
    pipeline,
    checkpoints,
    logger: createLogger({ level: 'silent' }),
    metrics,
    options: {
      batchMaxRecords: 100,
      pollIntervalMs: 200,
      flushIntervalMs: 0,
      batchBudgetBytes: 1 << 20,
      batchBudgetUserRecords: 100_000,
      throttleRetry: NO_RETRY,
      batchRetry: NO_RETRY,
      ...options,
    },
    signal: new AbortController().signal,
    ...(flushGridOrigin === undefined ? {} : { flushGridOrigin }),
  });
  return { metrics, getRecordsAt, batches, reading };
}

/** The batches a reader flushed: when (ms from the start) and which records. */
const flushed = (batches: ReturnType<typeof startReading>['batches']) =>
  batches.map((batch) => ({ at: batch.at - T0, records: batch.sequenceNumbers }));

/** Runs the reader over `responses` to the end of the shard; times are ms from the start. */
async function read(
  responses: ScriptedResponse[],
  options: Partial<ShardReaderOptions>,
  batchMs: number,
  flushGridOrigin?: number,
) {
  const { metrics, getRecordsAt, batches, reading } = startReading(responses, options, batchMs, flushGridOrigin);
  await vi.runAllTimersAsync();
  expect(await reading).toBe('finished');
  const stages = await metrics.stageDuration.get();
  return {
    polls: getRecordsAt.map((at) => at - T0),
    batches: flushed(batches),
    stageCounts: Object.fromEntries(
      stages.values
        .filter((value) => value.metricName === 'processor_stage_seconds_count')
        .map((value) => [value.labels.stage, value.value]),
    ),
  };
}

describe('shard reader timing (scripted fake Kinesis, fake timers)', () => {
  it('polls again at once after a batch that took longer than the poll interval', async () => {
    const { polls, batches } = await read(
      [{ records: [{ sequenceNumber: '1', arrivedMsAgo: 0 }] }, ...empty(2)],
      {},
      300,
    );
    expect(batches).toEqual([{ at: 0, records: ['1'] }]);
    // Before: the reader slept a whole poll interval after the batch (polls at 0, 500, 700).
    expect(polls).toEqual([0, 300, 500]);
  });

  it('keeps caught-up polls a poll interval apart, counted from the previous call', async () => {
    const { polls } = await read([{ records: [{ sequenceNumber: '1', arrivedMsAgo: 0 }] }, ...empty(2)], {}, 50);
    // Before: the interval was counted from the end of the batch (polls at 0, 250, 450).
    expect(polls).toEqual([0, 200, 400]);
  });

  it('caught up, flushes at once records that already waited a flush interval in the stream', async () => {
    const { batches } = await read(
      [{ records: [{ sequenceNumber: '1', arrivedMsAgo: 400 }] }, ...empty(8)],
      { flushIntervalMs: 250, pollIntervalMs: 50 },
      10,
    );
    // Before: the interval was counted from the read, so the record waited 400 + 250 ms.
    expect(batches).toEqual([{ at: 0, records: ['1'] }]);
  });

  it('a record that just arrived waits the flush interval, and the next call reads the rest at its flush', async () => {
    const { batches, polls } = await read(
      [
        { records: [{ sequenceNumber: '1', arrivedMsAgo: 0 }] },
        { records: [{ sequenceNumber: '2', arrivedMsAgo: 20 }] },
        ...empty(8),
      ],
      { flushIntervalMs: 250, pollIntervalMs: 50 },
      10,
    );
    expect(batches).toEqual([{ at: 250, records: ['1', '2'] }]);
    // Before: a call every 50 ms in between (0, 50, 100, 150, 200, 250), each only holding records for the flush.
    expect(polls.slice(0, 4)).toEqual([0, 250, 500, 750]);
  });

  it('caught up with a steady stream, makes one GetRecords call per flush, never two within the poll interval', async () => {
    const steady = Array.from({ length: 6 }, (_, i) => ({
      records: [{ sequenceNumber: String(i), arrivedMsAgo: 100 }],
    }));
    const { batches, polls } = await read([...steady, ...empty(2)], { flushIntervalMs: 250, pollIntervalMs: 200 }, 10);
    // Before: 0, 200, 250, 450, 500, …: a call at the poll interval and another at the flush, 8 a second (Kinesis allows 5).
    expect(polls).toEqual([0, 250, 500, 750, 1000, 1250, 1500, 1750]);
    expect(batches.map((batch) => batch.at)).toEqual([0, 250, 500, 750, 1000, 1250]);
    for (let i = 1; i < polls.length; i++) expect(polls[i]! - polls[i - 1]!).toBeGreaterThanOrEqual(200);
  });

  it('caught up, flushes at the instant of its flush grid after the first arrival, not an interval after it', async () => {
    const { batches } = await read(
      [{ records: [{ sequenceNumber: '1', arrivedMsAgo: 0 }] }, ...empty(8)],
      { flushIntervalMs: 250, pollIntervalMs: 50 },
      10,
      T0 + 100, // the grid: …, T0 − 150, T0 + 100, T0 + 350, …
    );
    // Before: 250 ms after the arrival, whatever the grid.
    expect(batches).toEqual([{ at: 100, records: ['1'] }]);
  });

  it('a record read at the next flush that reached the stream before the last one joins that next batch', async () => {
    const { batches, polls } = await read(
      [
        { records: [{ sequenceNumber: '1', arrivedMsAgo: 0 }] },
        { records: [{ sequenceNumber: '2', arrivedMsAgo: 20 }] }, // read at 250, with the flush
        { records: [{ sequenceNumber: '3', arrivedMsAgo: 260 }] }, // read at 500: arrived at 240, before 250
        ...empty(8),
      ],
      { flushIntervalMs: 250, pollIntervalMs: 50 },
      10,
    );
    expect(polls.slice(0, 3)).toEqual([0, 250, 500]);
    expect(batches).toEqual([
      { at: 250, records: ['1', '2'] },
      { at: 500, records: ['3'] },
    ]);
  });

  it('readers on one flush grid flush together, whenever their first records arrived', async () => {
    const options = { flushIntervalMs: 250, pollIntervalMs: 50 };
    const first = startReading(
      [{ records: [{ sequenceNumber: 'a1', arrivedMsAgo: 0 }] }, ...empty(8)],
      options,
      10,
      T0,
    );
    const second = startReading(
      [...empty(1), { records: [{ sequenceNumber: 'b1', arrivedMsAgo: 10 }] }, ...empty(8)], // read at 50, arrived at 40
      options,
      10,
      T0,
    );
    await vi.runAllTimersAsync();
    expect(await first.reading).toBe('finished');
    expect(await second.reading).toBe('finished');
    // Both at 250, so their batches meet in the counter sink; before, the second flushed at 290 (40 + 250).
    expect(flushed(first.batches)).toEqual([{ at: 250, records: ['a1'] }]);
    expect(flushed(second.batches)).toEqual([{ at: 250, records: ['b1'] }]);
  });

  it("nextFlushAt: the grid instant after the arrival, an interval after the last flush's instant at the earliest", () => {
    expect(nextFlushAt(1_030, Number.NEGATIVE_INFINITY, 250, 0)).toBe(1_250);
    expect(nextFlushAt(1_250, Number.NEGATIVE_INFINITY, 250, 0)).toBe(1_500); // on an instant: the next one
    expect(nextFlushAt(1_240, 1_255, 250, 0)).toBe(1_500);
    expect(nextFlushAt(1_240, 1_499, 250, 0)).toBe(1_500);
    expect(nextFlushAt(1_600, 1_255, 250, 0)).toBe(1_750);
    expect(nextFlushAt(1_030, Number.NEGATIVE_INFINITY, 250, 100)).toBe(1_100);
    expect(nextFlushAt(1_030, 1_120, 250, 100)).toBe(1_350);
    expect(nextFlushAt(-30, Number.NEGATIVE_INFINITY, 250, 0)).toBe(0); // before the origin
    expect(nextFlushAt(1_030, 1_010, 250, 0)).toBe(1_250);
    expect(nextFlushAt(1_030, 1_010, 0, 0)).toBe(1_030); // no interval: at once
  });

  it('behind the tip, gathers old records across full responses and flushes once caught up', async () => {
    const { batches, stageCounts } = await read(
      [
        {
          records: [
            { sequenceNumber: '1', arrivedMsAgo: 1_000 },
            { sequenceNumber: '2', arrivedMsAgo: 1_000 },
          ],
        },
        {
          records: [
            { sequenceNumber: '3', arrivedMsAgo: 900 },
            { sequenceNumber: '4', arrivedMsAgo: 900 },
          ],
        },
        { records: [{ sequenceNumber: '5', arrivedMsAgo: 800 }] },
        ...empty(2),
      ],
      { flushIntervalMs: 250, pollIntervalMs: 50, batchMaxRecords: 2 },
      10,
    );
    // Full responses (Limit reached) mean more is waiting: old records do not flush each response alone.
    expect(batches).toEqual([{ at: 0, records: ['1', '2', '3', '4', '5'] }]);
    // One observation per batch (not per record) of the reader's stages and the checkpoint.
    expect(stageCounts).toEqual({ stream_to_read: 1, gather: 1, checkpoint: 1 });
  });

  /** `count` full responses of two old records each, from `first`, each call taking `latencyMs`. */
  const behind = (first: number, count: number, latencyMs: number): ScriptedResponse[] =>
    Array.from({ length: count }, (_, index) => ({
      records: [
        { sequenceNumber: String(first + 2 * index), arrivedMsAgo: 60_000 },
        { sequenceNumber: String(first + 2 * index + 1), arrivedMsAgo: 60_000 },
      ],
      millisBehindLatest: 60_000,
      latencyMs,
    }));
  const sequence = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => String(from + i));

  it('behind the tip, gathers past the flush interval until the batch is full, then until caught up', async () => {
    const { batches } = await read(
      [
        ...behind(1, 5, 200),
        { records: [{ sequenceNumber: '11', arrivedMsAgo: 60_000 }], latencyMs: 200 },
        ...empty(2),
      ],
      { flushIntervalMs: 250, pollIntervalMs: 50, batchMaxRecords: 2, batchBudgetUserRecords: 8 },
      10,
    );
    // Before: a batch was due one flush interval after its first read (records 1–6 at 600 ms, then 7–11),
    // so a backlog was written in interval-sized batches, one write per touched cell each.
    expect(batches).toEqual([
      { at: 800, records: sequence(1, 8) },
      { at: 1210, records: sequence(9, 11) },
    ]);
  });

  it(`behind the tip, a batch that fills slowly is processed ${BACKLOG_GATHER_MAX_MS} ms after its first read`, async () => {
    const { batches } = await read(
      [...behind(1, 5, 700), ...empty(2)],
      { flushIntervalMs: 250, pollIntervalMs: 50, batchMaxRecords: 2, batchBudgetUserRecords: 100 },
      10,
    );
    // Reads end at 700, 1400, 2100 and 2800: 700 + 2000 has passed, so records 1–8 go though the batch is not full.
    expect(batches).toEqual([
      { at: 2800, records: sequence(1, 8) },
      { at: 3510, records: sequence(9, 10) },
    ]);
  });
});
