import { from, lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it, vi } from 'vitest';
import { createSilentLogger } from '../common/logger.js';
import { isPipelineError } from '../common/errors.js';
import { createProcessorMetrics } from './metrics.js';
import { createPipeline } from './pipeline.js';
import {
  MemoryCounterSink,
  MemoryDeadLetterSink,
  MemoryIndexSink,
  kinesisRecord,
  sampleEvent,
} from './test-support/pipeline-doubles.js';
import type { CounterSink, ShardBatch } from './types.js';

const limits = { maxEventBytes: 8192, maxSegments: 10 };
/** A receive time inside the contract's date range. */
const RECEIVED_AT = Date.parse('2026-01-01T00:00:00Z');

function setup(options: { index?: boolean; counters?: CounterSink } = {}) {
  const counters = new MemoryCounterSink();
  const deadLetters = new MemoryDeadLetterSink();
  const index = new MemoryIndexSink();
  const metrics = createProcessorMetrics();
  const pipeline = createPipeline({
    counters: options.counters ?? counters,
    deadLetters,
    ...(options.index ? { index } : {}),
    logger: createSilentLogger(),
    metrics,
    limits,
  });
  return { pipeline, counters, deadLetters, index, metrics };
}

const mixedBatch = (): ShardBatch => ({
  shardId: 'shardId-000000000001',
  records: [
    kinesisRecord('10', sampleEvent({ userId: 'u1', receivedAt: RECEIVED_AT })),
    kinesisRecord('11', 'garbage'),
    kinesisRecord('12', sampleEvent({ userId: 'u2', receivedAt: RECEIVED_AT + 1000 })),
  ],
});

describe('createPipeline (in-memory sink doubles)', () => {
  it('emits an outcome giving every record exactly one fate, after the sinks acknowledged', async () => {
    const { pipeline, counters, deadLetters } = setup();
    const outcome = await pipeline.processBatch(mixedBatch());
    expect(outcome).toMatchObject({
      shardId: 'shardId-000000000001',
      lastSequenceNumber: '12',
      records: 3,
      userRecords: 3,
      counted: 2,
      duplicates: 0,
      replayed: 0,
      deadLettered: 1,
      deadLetterReasons: { json: 1 },
      receivedAt: [RECEIVED_AT, RECEIVED_AT + 1000],
    });
    expect(outcome.counted + outcome.duplicates + outcome.replayed + outcome.deadLettered).toBe(outcome.userRecords);
    expect(counters.batches).toHaveLength(1);
    expect(deadLetters.letters.map((l) => l.id.sequenceNumber)).toEqual(['11']);
  });

  it('reports redelivered records as replayed, not counted', async () => {
    const { pipeline } = setup();
    await pipeline.processBatch(mixedBatch());
    const again = await pipeline.processBatch(mixedBatch());
    expect(again).toMatchObject({ counted: 0, replayed: 2, deadLettered: 1 });
  });

  it('fails the batch with a retriable error when a sink fails, and emits no outcome', async () => {
    const { pipeline, counters, deadLetters } = setup();
    counters.failNext = 1;
    const failure = await pipeline.processBatch(mixedBatch()).catch((error: unknown) => error);
    expect(isPipelineError(failure) && failure.code === 'SINK_FAILED' && failure.retriable).toBe(true);
    // dead letters are written once the counters and the index took the batch: none for a failed attempt,
    // so a retried batch never writes its dead letters twice
    expect(deadLetters.letters).toHaveLength(0);
    deadLetters.failNext = 1;
    await expect(pipeline.processBatch(mixedBatch())).rejects.toMatchObject({ code: 'SINK_FAILED', retriable: true });
    // the counter write of the failed attempt went through: the retry sees replays, not new events
    await expect(pipeline.processBatch(mixedBatch())).resolves.toMatchObject({ counted: 0, replayed: 2 });
  });

  it('waits for every sink before failing, so a retry never overlaps a write still in flight', async () => {
    // The index fails at once while the counter write takes 1 s of a fake clock: the batch
    // must not fail before the counter write finished.
    vi.useFakeTimers();
    try {
      let counterFinished = false;
      const slowCounters: CounterSink = {
        writeBatch: () =>
          new Promise((resolve) =>
            setTimeout(() => {
              counterFinished = true;
              resolve({ counted: 2, duplicates: 0, cells: 1, writeRequests: 1, refused: [] });
            }, 1_000),
          ),
      };
      const { pipeline, index } = setup({ counters: slowCounters, index: true });
      let indexCalls = 0;
      index.index = () => {
        indexCalls += 1;
        return Promise.reject(new Error('index cluster unavailable'));
      };
      let failedWhileCounting: boolean | undefined;
      const attempt = pipeline.processBatch(mixedBatch()).catch((error: unknown) => {
        failedWhileCounting = !counterFinished;
        throw error;
      });
      attempt.catch(() => undefined); // observed below; avoids an unhandled rejection in between
      await vi.advanceTimersByTimeAsync(999);
      expect(indexCalls).toBe(1);
      expect(failedWhileCounting).toBeUndefined(); // the index failed, the batch is still waiting
      await vi.advanceTimersByTimeAsync(1);
      await expect(attempt).rejects.toMatchObject({ code: 'SINK_FAILED' });
      expect(failedWhileCounting).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });

  it('dead-letters events the index refuses, with their original bytes, and still counts them', async () => {
    const { pipeline, index, deadLetters } = setup({ index: true });
    index.rejectUsers.add('u2');
    const outcome = await pipeline.processBatch(mixedBatch());
    expect(outcome).toMatchObject({ counted: 2, indexed: 1, indexRejected: 1, deadLettered: 1 });
    const rejected = deadLetters.letters.find((l) => l.reasons[0]?.rule === 'index-rejected');
    expect(rejected?.id.sequenceNumber).toBe('12');
    expect(JSON.parse(Buffer.from(rejected!.data).toString())).toMatchObject({ userId: 'u2' });
  });

  it('as an operator, moves batches in order and records metrics once per batch', async () => {
    const { pipeline, metrics } = setup();
    const batches = [mixedBatch(), { shardId: 'shardId-000000000001', records: [] }, mixedBatch()];
    const outcomes = await lastValueFrom(from(batches).pipe(pipeline.operator, toArray()));
    expect(outcomes.map((o) => [o.lastSequenceNumber, o.counted, o.replayed])).toEqual([
      ['12', 2, 0],
      [undefined, 0, 0],
      ['12', 0, 2],
    ]);
    const text = await metrics.registry.metrics();
    expect(text).toContain('processor_events_out_total{outcome="counted"} 2');
    expect(text).toContain('processor_events_out_total{outcome="replayed"} 2');
    expect(text).toContain('processor_dead_letters_total{reason="json"} 2');
  });
});
