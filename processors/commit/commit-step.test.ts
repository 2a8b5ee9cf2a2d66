import { describe, expect, it } from 'vitest';
import { PipelineError } from '../../common/errors.js';
import { createSilentLogger } from '../../common/logger.js';
import { createProcessorMetrics } from '../metrics.js';
import { createPipeline, type BatchOutcome } from '../pipeline.js';
import {
  MemoryCounterSink,
  MemoryDeadLetterSink,
  MemoryIndexSink,
  kinesisRecord,
  kplAggregate,
  sampleEvent,
} from '../test-support/pipeline-doubles.js';
import type { CounterSink, KinesisRecord, ValidEvent } from '../types.js';
import { createCommitStep, type CheckpointWrite } from './commit-step.js';

const SHARD = 'shardId-000000000000';
const seq = (n: number) => `4959${String(n).padStart(52, '0')}`;
const FAST = { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 };

/** Refuses (for good, or with `error`) every batch holding an event of `user`. */
function refusing(inner: CounterSink, user: (event: ValidEvent) => boolean, error: () => unknown): CounterSink {
  return {
    writeBatch: async (shardId, events) => {
      if (events.some(user)) throw error();
      return inner.writeBatch(shardId, events);
    },
  };
}

function harness(counters: CounterSink, checkpointWrite: () => CheckpointWrite = () => 'ok', index?: MemoryIndexSink) {
  const metrics = createProcessorMetrics();
  const deadLetters = new MemoryDeadLetterSink();
  const limits = { maxEventBytes: 8192, maxSegments: 10 };
  const pipeline = createPipeline({
    counters,
    deadLetters,
    ...(index ? { index } : {}),
    logger: createSilentLogger(),
    metrics,
    limits,
  });
  const committed: BatchOutcome[] = [];
  const step = createCommitStep({
    pipeline,
    logger: createSilentLogger(),
    retry: FAST,
    onBatchCommitted: (outcome) => committed.push(outcome),
  });
  const checkpoints: string[] = [];
  const checkpoint = (outcome: BatchOutcome) => {
    checkpoints.push(outcome.lastSequenceNumber!);
    return Promise.resolve(checkpointWrite());
  };
  return { step, checkpoint, checkpoints, committed, deadLetters, metrics };
}

const rejected = () => new PipelineError('RECORD_REJECTED', 'total over the limit');
const byUser = (userId: string) => (event: ValidEvent) => event.event.userId === userId;

describe('commit step (in-memory sinks)', () => {
  it('isolates a refused user record inside a KPL aggregate and never checkpoints inside the aggregate', async () => {
    const counters = new MemoryCounterSink();
    // the index takes the poison; the pipeline names it in the error's details.takenBy
    const h = harness(refusing(counters, byUser('poison'), rejected), undefined, new MemoryIndexSink());
    const aggregate = kplAggregate([
      sampleEvent({ userId: 'a' }),
      sampleEvent({ userId: 'poison' }),
      sampleEvent({ userId: 'b' }),
    ]);
    const records: KinesisRecord[] = [
      kinesisRecord(seq(1), sampleEvent({ userId: 'x' })),
      { sequenceNumber: seq(2), partitionKey: aggregate.partitionKey, data: aggregate.data },
      kinesisRecord(seq(3), sampleEvent({ userId: 'y' })),
    ];
    const result = await h.step.commit({ shardId: SHARD, records }, h.checkpoint);

    expect(result.status).toBe('committed');
    expect(result.isolated).toBe(1);
    expect(result.committed).toMatchObject({ userRecords: 5, counted: 4, deadLettered: 1 });
    expect(counters.applied).toEqual(
      new Set([`${SHARD}/${seq(1)}/0`, `${SHARD}/${seq(2)}/0`, `${SHARD}/${seq(2)}/2`, `${SHARD}/${seq(3)}/0`]),
    );
    // checkpoints only at whole Kinesis records, in order, ending at the batch's last record
    expect(h.checkpoints.at(-1)).toBe(seq(3));
    expect([...h.checkpoints].sort()).toEqual(h.checkpoints);
    expect(h.checkpoints.filter((s) => s === seq(2)).length).toBeLessThanOrEqual(1);
    expect(h.deadLetters.letters).toHaveLength(1);
    expect(h.deadLetters.letters[0]).toMatchObject({
      id: { shardId: SHARD, sequenceNumber: seq(2), subSequenceNumber: 1 },
      reasons: [
        { index: 0, field: '(event)', rule: 'sink-rejected', message: 'RECORD_REJECTED: total over the limit' },
      ],
      takenBy: ['index'],
    });
    expect(JSON.parse(Buffer.from(h.deadLetters.letters[0]!.data).toString())).toMatchObject({ userId: 'poison' });
    expect(await h.metrics.registry.metrics()).toContain('processor_dead_letters_total{reason="sink-rejected"} 1');
  });

  it('reports the first record of the first unfinished part when retries run out after committed parts', async () => {
    const counters = new MemoryCounterSink();
    let isolated = false;
    const sink: CounterSink = {
      writeBatch: async (shardId, events) => {
        if (events.some(byUser('poison'))) {
          isolated = true;
          throw rejected();
        }
        if (isolated && events.some(byUser('flaky'))) throw new PipelineError('SINK_THROTTLED', 'throttled');
        return counters.writeBatch(shardId, events);
      },
    };
    const h = harness(sink);
    const records = ['g1', 'poison', 'g2', 'flaky'].map((userId, i) =>
      kinesisRecord(seq(i + 1), sampleEvent({ userId })),
    );
    const result = await h.step.commit({ shardId: SHARD, records }, h.checkpoint);

    expect(result.status).toBe('retries-exhausted');
    expect(result.resumeAt?.sequenceNumber).toBe(seq(3));
    expect(result.error).toMatchObject({ code: 'SINK_THROTTLED' });
    expect(h.checkpoints).toEqual([seq(1), seq(2)]);
    // 1 refusal of the whole batch, 1 of [g1, poison], 1 of [poison], then 3 attempts of [g2, flaky]
    expect((await h.metrics.batchFailures.get()).values[0]?.value).toBe(6);
  });

  it('stops on STATE_LOST: no bisection, no dead letter, no checkpoint, gauge set', async () => {
    const h = harness(
      refusing(new MemoryCounterSink(), byUser('lost'), () => new PipelineError('STATE_LOST', 'epoch changed')),
    );
    const records = ['g1', 'lost', 'g2'].map((userId, i) => kinesisRecord(seq(i + 1), sampleEvent({ userId })));
    const result = await h.step.commit({ shardId: SHARD, records }, h.checkpoint);

    expect(result).toMatchObject({ status: 'state-lost', bisections: 0, resumeAt: { sequenceNumber: seq(1) } });
    expect(h.checkpoints).toEqual([]);
    expect(h.deadLetters.letters).toEqual([]);
    expect(h.committed).toEqual([]);
    expect((await h.metrics.stateLost.get()).values[0]?.value).toBe(1);
  });

  it('retries a retriable failure with backoff and checkpoints once, after the outcome', async () => {
    const counters = new MemoryCounterSink();
    counters.failNext = 2;
    const h = harness(counters);
    const records = [1, 2, 3].map((n) => kinesisRecord(seq(n), sampleEvent({ userId: `u${n}` })));
    const result = await h.step.commit({ shardId: SHARD, records }, h.checkpoint);

    expect(result.status).toBe('committed');
    expect(h.checkpoints).toEqual([seq(3)]);
    expect(h.committed).toHaveLength(1);
    expect((await h.metrics.batchFailures.get()).values[0]?.value).toBe(2);
    expect((await h.metrics.checkpoints.get()).values).toMatchObject([{ labels: { result: 'ok' }, value: 1 }]);
    expect((await h.metrics.freshness.get()).values.find((v) => v.metricName?.endsWith('_count'))?.value).toBe(3);
  });

  it('gives the shard up when a checkpoint is stale', async () => {
    const h = harness(new MemoryCounterSink(), () => 'stale');
    const records = [kinesisRecord(seq(1), sampleEvent())];
    const result = await h.step.commit({ shardId: SHARD, records }, h.checkpoint);
    expect(result).toMatchObject({ status: 'lease-lost', resumeAt: { sequenceNumber: seq(1) } });
    expect(h.committed).toEqual([]);
  });
});
