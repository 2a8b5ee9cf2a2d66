/**
 * A scripted shard for timing tests of the shard reader on a virtual clock (fake timers): a
 * fake Kinesis client that answers GetShardIterator and GetRecords from a script, and a fake
 * pipeline whose batches take a chosen (virtual) time. Both note when they were called, so a
 * test asserts when the reader polled and when it flushed. For what needs real Kinesis
 * semantics the consumer tests use kinesalite (consumer/local-consumer.test.ts).
 */
import { GetRecordsCommand, GetShardIteratorCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { ProcessorMetrics } from '../metrics.js';
import type { BatchOutcome, Pipeline } from '../pipeline.js';
import type { ShardBatch } from '../types.js';

/** One record of a scripted response: its sequence number and how long before the call it arrived. */
export interface ScriptedRecord {
  sequenceNumber: string;
  /** Milliseconds between the record's arrival in the stream and the GetRecords call that returns it. */
  arrivedMsAgo: number;
}

/** The answer to one GetRecords call; the last scripted answer ends the shard (no NextShardIterator). */
export interface ScriptedResponse {
  records: ScriptedRecord[];
  millisBehindLatest?: number;
  /** Virtual milliseconds the call takes before it answers (default 0); arrivals count from its start. */
  latencyMs?: number;
}

/** A fake Kinesis client answering from `responses`, and the (virtual) times of its GetRecords calls. */
export function scriptedKinesis(responses: readonly ScriptedResponse[]): {
  kinesis: KinesisClient;
  getRecordsAt: number[];
} {
  const getRecordsAt: number[] = [];
  let next = 0;
  const send = (command: unknown): Promise<unknown> => {
    if (command instanceof GetShardIteratorCommand) return Promise.resolve({ ShardIterator: 'iterator-0' });
    if (!(command instanceof GetRecordsCommand)) throw new Error('scripted Kinesis: unexpected command');
    const now = Date.now();
    getRecordsAt.push(now);
    const response = responses[next++];
    if (!response) throw new Error('scripted Kinesis: GetRecords called after the shard ended');
    const ended = next >= responses.length;
    const answer = {
      Records: response.records.map((record) => ({
        SequenceNumber: record.sequenceNumber,
        PartitionKey: 'pk',
        Data: new Uint8Array([1]),
        ApproximateArrivalTimestamp: new Date(now - record.arrivedMsAgo),
      })),
      MillisBehindLatest: response.millisBehindLatest ?? 0,
      ...(ended ? {} : { NextShardIterator: `iterator-${next}` }),
    };
    const latencyMs = response.latencyMs ?? 0;
    return latencyMs === 0
      ? Promise.resolve(answer)
      : new Promise((resolve) => setTimeout(() => resolve(answer), latencyMs));
  };
  return { kinesis: { send } as unknown as KinesisClient, getRecordsAt };
}

/** A fake pipeline: each batch takes `batchMs` of (virtual) time; notes when each batch started and what it held. */
export function slowPipeline(
  metrics: ProcessorMetrics,
  batchMs: number,
): { pipeline: Pipeline; batches: { at: number; sequenceNumbers: string[] }[] } {
  const batches: { at: number; sequenceNumbers: string[] }[] = [];
  const processBatch = async (batch: ShardBatch): Promise<BatchOutcome> => {
    batches.push({ at: Date.now(), sequenceNumbers: batch.records.map((record) => record.sequenceNumber) });
    await new Promise((resolve) => setTimeout(resolve, batchMs));
    const n = batch.records.length;
    return {
      shardId: batch.shardId,
      lastSequenceNumber: batch.records.at(-1)?.sequenceNumber,
      records: n,
      userRecords: n,
      counted: n,
      duplicates: 0,
      replayed: 0,
      deadLettered: 0,
      indexed: 0,
      indexRejected: 0,
      counterCells: 0,
      counterWrites: 0,
      deadLetterReasons: {},
      receivedAt: [],
      durationMs: batchMs,
    };
  };
  const pipeline: Pipeline = {
    operator: () => {
      throw new Error('slow pipeline: only processBatch is scripted');
    },
    processBatch,
    deadLetters: { send: () => Promise.resolve() },
    metrics,
  };
  return { pipeline, batches };
}
