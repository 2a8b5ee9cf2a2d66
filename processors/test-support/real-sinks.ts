/**
 * Test support: the processors' real sinks for integration tests — the exactly-once
 * counter sink (dynalite table, Redis state store under a random key prefix) and the
 * dead-letter sink on a kinesalite stream — plus a recorder that remembers what each
 * batch handed to the counter sink and what the sink answered. Not a double: every write
 * goes to the real services; the recorder only watches.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { Redis } from 'ioredis';
import { inject } from 'vitest';
import type { Config } from '../../common/config.js';
import type { StreamEvent } from '../../common/event-contract.js';
import { createSilentLogger } from '../../common/logger.js';
import { ensureStream } from '../../local/provision.js';
import { randomName } from '../../local/test-support/test-config.js';
import { createCounterSink } from '../counters/index.js';
import { computeExpectedCounters, type CounterTable } from './counter-ground-truth.js';
import { readCounters } from './read-counters.js';
import { createCountersTable } from './counter-delivery.js';
import { createDeadLetterSink } from '../dead-letters/dead-letter-sink.js';
import { readDeadLetters, type ReadDeadLetter } from '../dead-letters/reader.js';
import { createRedisUserStateStore } from '../state/index.js';
import type { UserStateStore } from '../state/types.js';
import type { CounterSink, CounterWriteResult, DeadLetterSink, ValidEvent } from '../types.js';

/** Short retries: the tests inject failures and should not wait seconds for backoff. */
const FAST_RETRY = { maxAttempts: 5, baseDelayMs: 2, maxDelayMs: 20 };

/** A counter sink that remembers every acknowledged batch and what the real sink answered. */
export interface RecordingCounterSink extends CounterSink {
  /** Acknowledged batches, in order. */
  readonly batches: { shardId: string; events: ValidEvent[]; result: CounterWriteResult }[];
  /** Events counted for the first time (the real sink's `counted`), over all batches. */
  readonly counted: number;
  /** Every event handed over in an acknowledged batch, replays included. */
  readonly delivered: number;
}

/** Wraps `sink`; only batches it acknowledged are recorded. */
export function recordCounterBatches(sink: CounterSink): RecordingCounterSink {
  const batches: RecordingCounterSink['batches'] = [];
  return {
    batches,
    get counted() {
      return batches.reduce((sum, batch) => sum + batch.result.counted, 0);
    },
    get delivered() {
      return batches.reduce((sum, batch) => sum + batch.events.length, 0);
    },
    async writeBatch(shardId, events) {
      const result = await sink.writeBatch(shardId, events);
      batches.push({ shardId, events: [...events], result });
      return result;
    },
  };
}

export interface RealSinks {
  counters: RecordingCounterSink;
  deadLetters: DeadLetterSink;
  state: UserStateStore;
  /** The state store's key prefix (`xc:{…}:`), for a second sink over the same state. */
  keyPrefix: string;
  /** The counters table, read back into the ground-truth shape. */
  readCounters(): Promise<CounterTable>;
  /** The ground truth for `events` with the config's segment cap. */
  expectedCounters(events: readonly StreamEvent[]): CounterTable;
  /** Every letter on the dead-letter stream. */
  readDeadLetters(): Promise<ReadDeadLetter[]>;
  /** Closes the state store's connection (the keys stay: `deleteRedisKeys` removes them). */
  close(): Promise<void>;
}

/**
 * The real sinks for `config`'s counters table and dead-letter stream (both created when
 * missing). Pass the `keyPrefix` of an earlier instance to model a restarted processor
 * over the same durable state; without it, a random prefix keeps test files apart.
 *
 * @example
 *   const sinks = await createRealSinks(config, { kinesis, dynamo });
 *   // … run a consumer with sinks.counters and sinks.deadLetters …
 *   expect(await sinks.readCounters()).toEqual(sinks.expectedCounters(events));
 */
export async function createRealSinks(
  config: Config,
  clients: { kinesis: KinesisClient; dynamo: DynamoDBClient },
  options: {
    keyPrefix?: string;
    /** Wraps the real counter sink (fault injection, gates) inside the recorder. */
    wrapCounters?: (real: CounterSink) => CounterSink;
  } = {},
): Promise<RealSinks> {
  const tableName = config.dynamodb.countersTable;
  const dlqStreamName = config.kinesis.dlqStreamName;
  await Promise.all([createCountersTable(clients.dynamo, tableName), ensureStream(clients.kinesis, dlqStreamName, 1)]);
  const keyPrefix = options.keyPrefix ?? `xc:{${randomName('test')}}:`;
  const { segmentValueCap, dedupWindowSeconds } = config.processors;
  const state = createRedisUserStateStore({
    redisUrl: inject('redisUrl'),
    keyPrefix,
    segmentValueCap,
    dedupWindowSeconds,
  });
  const logger = createSilentLogger();
  const real = createCounterSink({
    dynamo: clients.dynamo,
    tableName,
    state,
    writeConcurrency: 8,
    retryPolicy: FAST_RETRY,
    logger,
  });
  const counters = recordCounterBatches(options.wrapCounters ? options.wrapCounters(real) : real);
  const deadLetters = createDeadLetterSink({
    kinesis: clients.kinesis,
    streamName: dlqStreamName,
    sourceStreamName: config.kinesis.streamName,
    logger,
    retryPolicy: FAST_RETRY,
  });
  return {
    counters,
    deadLetters,
    state,
    keyPrefix,
    readCounters: () => readCounters(clients.dynamo, tableName),
    expectedCounters: (events) => computeExpectedCounters(events, { segmentValueCap }),
    async readDeadLetters() {
      const { letters } = await readDeadLetters({ kinesis: clients.kinesis, streamName: dlqStreamName, limit: 10_000 });
      return letters;
    },
    close: () => state.close(),
  };
}

/** Deletes every Redis key under the given prefixes (state stores of finished tests). */
export async function deleteRedisKeys(prefixes: readonly string[]): Promise<void> {
  if (prefixes.length === 0) return;
  const redis = new Redis(inject('redisUrl'), { lazyConnect: true });
  try {
    for (const prefix of prefixes) {
      const keys = await redis.keysBuffer(`${prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}*`);
      if (keys.length > 0) await redis.del(...keys);
    }
  } finally {
    await redis.quit();
  }
}

/** Counter tables as sorted entries, so a mismatch shows the differing cells. */
export const sortedCells = (table: CounterTable): [string, CounterTable extends Map<string, infer V> ? V : never][] =>
  [...table.entries()].sort(([a], [b]) => a.localeCompare(b));
