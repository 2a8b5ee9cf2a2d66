import {
  InternalServerError,
  ProvisionedThroughputExceededException,
  UpdateItemCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { Writable } from 'node:stream';
import v8 from 'node:v8';
import vm from 'node:vm';
import { createDynamoClient } from '../../common/aws-clients.js';
import { createLogger } from '../../common/logger.js';
import { randomName, testConfig } from '../../local/test-support/test-config.js';
import type { StreamEvent } from '../../common/event-contract.js';
import { EMPTY_COUNTER_PLAN, type CounterPlanSource } from '../../common/counter-plan.js';
import { Redis } from 'ioredis';
import { createProcessorMetrics, type ProcessorMetrics } from '../metrics.js';
import { createInProcessUserStateStore } from '../state/in-process-store.js';
import { createRedisUserStateStore } from '../state/redis-store.js';
import { StateAnswers } from '../state/state-answers.js';
import type { UserStateStore } from '../state/types.js';
import type { CounterSink } from '../types.js';
import { createCounterSink } from './counter-sink.js';
import { computeExpectedCounters } from '../test-support/counter-ground-truth.js';
import { readCounters } from '../test-support/read-counters.js';
import {
  createCountersTable,
  deliverWithRecuts,
  injectFaults,
  isInjectedCrash,
} from '../test-support/counter-delivery.js';
import { generateWorkload, seededRandom, toShardRecords } from '../../local/test-support/counter-workload.js';

const SHARD = 'shardId-000000000000';
/** Tests that issue hundreds of dynalite writes: generous, because two cores are shared by the whole team. */
const HEAVY_TEST_TIMEOUT_MS = 120_000;
const FAST_RETRY = { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5 };
const dynamo: DynamoDBClient = createDynamoClient(testConfig());
const admin = new Redis(inject('redisUrl'), { lazyConnect: true });
const stores: { state: UserStateStore; keyPrefix?: string }[] = [];
afterAll(async () => {
  for (const { state, keyPrefix } of stores) {
    await state.close();
    const keys = keyPrefix ? await admin.keysBuffer(`${keyPrefix}*`) : [];
    if (keys.length > 0) await admin.del(...keys);
  }
  await admin.quit();
  dynamo.destroy();
});

async function setUp(
  options: {
    cap?: number;
    client?: DynamoDBClient;
    redis?: boolean;
    metrics?: ProcessorMetrics;
    plans?: CounterPlanSource;
    cellWriteGroupWaitMs?: number;
  } = {},
) {
  const tableName = randomName('counters');
  await createCountersTable(dynamo, tableName);
  const limits = { segmentValueCap: options.cap ?? 50, dedupWindowSeconds: 3600 };
  const keyPrefix = `${randomName('test-xc')}:`;
  const state = options.redis
    ? createRedisUserStateStore({ redisUrl: inject('redisUrl'), keyPrefix, ...limits })
    : createInProcessUserStateStore(limits);
  stores.push({ state, keyPrefix: options.redis ? keyPrefix : undefined });
  const sink = createCounterSink({
    dynamo: options.client ?? dynamo,
    tableName,
    state,
    writeConcurrency: 8,
    retryPolicy: FAST_RETRY,
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...(options.plans ? { plans: options.plans } : {}),
    ...(options.cellWriteGroupWaitMs === undefined ? {} : { cellWriteGroupWaitMs: options.cellWriteGroupWaitMs }),
  });
  return { tableName, state, sink };
}

let nextEventNumber = 0;
function event(partial: Partial<StreamEvent> & Pick<StreamEvent, 'userId'>): StreamEvent {
  nextEventNumber++;
  return {
    version: 1,
    eventId: `00000000-0000-4000-8000-${String(nextEventNumber).padStart(12, '0')}`,
    experimentId: 'checkout',
    variantId: 'control',
    type: 'conversion',
    metric: 'purchase',
    value: 1,
    timestamp: 1_700_000_000_000,
    receivedAt: 1_700_000_000_000 + nextEventNumber,
    ...partial,
  };
}

/** One event of the same cell from each of two shards (users `a` and `b`), handed to the sink at once. */
const writeOneEventPerShard = (sink: CounterSink) => {
  const other = 'shardId-000000000001';
  return Promise.all([
    sink.writeBatch(SHARD, toShardRecords(SHARD, [event({ userId: 'a' })])),
    sink.writeBatch(other, toShardRecords(other, [event({ userId: 'b' })])),
  ]);
};

describe('counter sink on dynalite', () => {
  it('counts events, units, Σx and Σx² of per-user totals, per segment and segment pair', async () => {
    const { tableName, sink } = await setUp();
    const segments = { country: 'US', device: 'ios' };
    const events = [
      event({ userId: 'ann', type: 'impression', metric: undefined, segments }),
      event({ userId: 'ann', value: 10, segments }),
      event({ userId: 'ann', value: 5, segments: { country: 'FR', device: 'web' } }),
      event({ userId: 'bob', value: 2.5, segments: { country: 'FR' } }),
    ];
    const result = await sink.writeBatch(SHARD, toShardRecords(SHARD, events));
    expect(result).toMatchObject({ counted: 4, duplicates: 0 });
    const table = await readCounters(dynamo, tableName);
    expect(table.get('checkout|control#purchase')).toEqual({ events: 3, units: 2, sum: 17.5, sumSquares: 231.25 });
    expect(table.get('checkout|control#$exposure')).toEqual({ events: 1, units: 1, sum: 1, sumSquares: 1 });
    // Ann's segments are fixed at her first event (US, ios), even for her later FR/web event.
    expect(table.get('checkout|seg#country=US#control#purchase')).toEqual({
      events: 2,
      units: 1,
      sum: 15,
      sumSquares: 225,
    });
    expect(table.get('checkout|seg#country+device=US+ios#control#purchase')).toMatchObject({ units: 1, sum: 15 });
    expect(table.get('checkout|seg#country=FR#control#purchase')).toEqual({
      events: 1,
      units: 1,
      sum: 2.5,
      sumSquares: 6.25,
    });
    expect(table).toEqual(computeExpectedCounters(events, { segmentValueCap: 50 }));
  });

  it('observes the state, cell-write and committed-position time once per batch (processor_stage_seconds)', async () => {
    const metrics = createProcessorMetrics();
    const { sink } = await setUp({ metrics });
    for (const batch of [0, 1]) {
      const events = Array.from({ length: 50 }, (_, i) => event({ userId: `u${batch}-${i % 5}` }));
      await sink.writeBatch(SHARD, toShardRecords(SHARD, events));
    }
    const counts = (await metrics.stageDuration.get()).values
      .filter((value) => value.metricName === 'processor_stage_seconds_count')
      .map((value) => [value.labels.stage, value.value]);
    expect(Object.fromEntries(counts)).toEqual({ state: 2, cell_writes: 2, mark_committed: 2 });
    // In seconds: each stage of these small batches took well under a few seconds, and no time is negative.
    const sums = (await metrics.stageDuration.get()).values.filter(
      (value) => value.metricName === 'processor_stage_seconds_sum',
    );
    expect(sums).toHaveLength(3);
    for (const sum of sums) {
      expect(sum.value, String(sum.labels.stage)).toBeGreaterThanOrEqual(0);
      expect(sum.value, String(sum.labels.stage)).toBeLessThan(10);
    }
  });

  it('writes each cell once per batch, not once per event', async () => {
    const { sink } = await setUp();
    const events = Array.from({ length: 200 }, (_, i) => event({ userId: `u${i % 7}`, segments: { country: 'US' } }));
    const result = await sink.writeBatch(SHARD, toShardRecords(SHARD, events));
    // One total cell and one country cell per variant/metric.
    expect(result).toEqual({ counted: 200, duplicates: 0, cells: 2, writeRequests: 2, refused: [] });
  });

  it('writes the cells two shards’ batches share once for both when the batches meet in the sink, exactly', async () => {
    const { tableName, sink } = await setUp();
    const other = 'shardId-000000000001';
    const batchOf = (shardId: string, users: string) =>
      toShardRecords(
        shardId,
        Array.from({ length: 60 }, (_, i) => event({ userId: `${users}${i % 6}`, segments: { country: 'US' } })),
      );
    const [first, second] = [batchOf(SHARD, 'a'), batchOf(other, 'b')];
    const results = await Promise.all([sink.writeBatch(SHARD, first), sink.writeBatch(other, second)]);
    // Each batch touches the same two cells; one merged UpdateItem per cell, counted for the first batch.
    expect(results).toEqual([
      { counted: 60, duplicates: 0, cells: 2, writeRequests: 2, refused: [] },
      { counted: 60, duplicates: 0, cells: 2, writeRequests: 0, refused: [] },
    ]);
    const expected = computeExpectedCounters(
      [...first, ...second].map((valid) => valid.event),
      { segmentValueCap: 50 },
    );
    expect(await readCounters(dynamo, tableName)).toEqual(expected);
    expect(expected.get('checkout|control#purchase')).toMatchObject({ events: 120, units: 12 });
  });

  it('waits for another shard’s batch still fetching its plan, by default (100 ms at most)', async () => {
    // The first batch's plan comes from the cache, the second's after 30 ms (a fetch).
    let asked = 0;
    const plans: CounterPlanSource = {
      planOf: () =>
        asked++ === 0
          ? EMPTY_COUNTER_PLAN
          : new Promise((resolve) => setTimeout(() => resolve(EMPTY_COUNTER_PLAN), 30)),
    };
    const { tableName, sink } = await setUp({ plans });
    const results = await writeOneEventPerShard(sink);
    expect(results.map((result) => result.writeRequests)).toEqual([1, 0]);
    expect((await readCounters(dynamo, tableName)).get('checkout|control#purchase')).toMatchObject({ events: 2 });
  });

  it('stops waiting for a batch that failed before its writes: the other batch writes at once', async () => {
    // A minute's wait: only the failed batch leaving lets the other one write within the test's time.
    const plans: CounterPlanSource = {
      planOf: (experimentId) =>
        experimentId === 'broken' ? Promise.reject(new Error('definitions API down')) : EMPTY_COUNTER_PLAN,
    };
    const { sink } = await setUp({ plans, cellWriteGroupWaitMs: 60_000 });
    const other = 'shardId-000000000001';
    const waited = new Promise<'waited'>((resolve) => setTimeout(() => resolve('waited'), 5_000).unref());
    const [failed, written] = await Promise.allSettled([
      sink.writeBatch(other, toShardRecords(other, [event({ userId: 'b', experimentId: 'broken' })])),
      Promise.race([sink.writeBatch(SHARD, toShardRecords(SHARD, [event({ userId: 'a' })])), waited]),
    ]);
    expect(failed).toMatchObject({ status: 'rejected', reason: { code: 'DEPENDENCY_UNAVAILABLE' } });
    expect(written).toMatchObject({ status: 'fulfilled', value: { counted: 1, writeRequests: 1 } });
  });

  it('writes each batch alone with cellWriteGroupWaitMs 0', async () => {
    const { tableName, sink } = await setUp({ cellWriteGroupWaitMs: 0 });
    const results = await writeOneEventPerShard(sink);
    expect(results.map((result) => result.writeRequests)).toEqual([1, 1]);
    expect((await readCounters(dynamo, tableName)).get('checkout|control#purchase')).toMatchObject({ events: 2 });
  });

  it(
    'skips a batch replayed after it was committed: nothing new, no write (committed position)',
    async () => {
      const { tableName, sink } = await setUp();
      const events = generateWorkload({ seed: 7, events: 200, users: 40, experimentPrefix: randomName('e') });
      const records = toShardRecords(SHARD, events);
      await sink.writeBatch(SHARD, records);
      const again = await sink.writeBatch(SHARD, records);
      expect(again).toMatchObject({ counted: 0, cells: 0, writeRequests: 0 });
      expect(await readCounters(dynamo, tableName)).toEqual(computeExpectedCounters(events, { segmentValueCap: 50 }));
    },
    HEAVY_TEST_TIMEOUT_MS,
  );

  it('counts producer-retry duplicates (same eventId, new record) once', async () => {
    const { tableName, sink } = await setUp();
    const original = event({ userId: 'carl', value: 3 });
    const events = [original, event({ userId: 'carl', value: 4 }), original, original];
    const result = await sink.writeBatch(SHARD, toShardRecords(SHARD, events));
    expect(result).toMatchObject({ counted: 2, duplicates: 2 });
    expect((await readCounters(dynamo, tableName)).get('checkout|control#purchase')).toEqual({
      events: 2,
      units: 1,
      sum: 7,
      sumSquares: 49,
    });
  });

  it(
    'is exact however committed batches are re-delivered: bisected halves, resumes from the middle, overlaps (committed position)',
    async () => {
      const { tableName, sink } = await setUp();
      const events = generateWorkload({ seed: 11, events: 200, users: 30, experimentPrefix: randomName('e') });
      const records = toShardRecords(SHARD, events);
      const deliveries: [number, number][] = [
        [0, 50],
        [0, 25], // bisect: first half again
        [25, 50], // second half again
        [37, 125], // resume from the middle of an acknowledged batch
        [60, 130], // overlapping re-delivery
        [130, 200],
        [0, 200], // everything again
      ];
      for (const [start, end] of deliveries) await sink.writeBatch(SHARD, records.slice(start, end));
      expect(await readCounters(dynamo, tableName)).toEqual(computeExpectedCounters(events, { segmentValueCap: 50 }));
    },
    HEAVY_TEST_TIMEOUT_MS,
  );

  it(
    'counts a batch replayed after a crash between its cell writes and its committed position once: the cells written before the crash hold it by their watermark (injected fault: client wrapper fails after N calls)',
    async () => {
      const faulty = injectFaults(dynamo);
      const { tableName, sink } = await setUp({ client: faulty.client });
      const events = generateWorkload({ seed: 13, events: 120, users: 20, experimentPrefix: randomName('e') });
      const records = toShardRecords(SHARD, events);
      await sink.writeBatch(SHARD, records.slice(0, 40));
      const writtenBeforeCrash = 5;
      faulty.failAfter(writtenBeforeCrash);
      await expect(sink.writeBatch(SHARD, records.slice(40))).rejects.toSatisfy(isInjectedCrash);
      faulty.failAfter(Infinity);

      const replay = await sink.writeBatch(SHARD, records.slice(40));
      expect(await readCounters(dynamo, tableName)).toEqual(computeExpectedCounters(events, { segmentValueCap: 50 }));
      // Each cell written before the crash: a failed condition, then a watermark read that finds nothing missing.
      expect(replay.writeRequests).toBe(replay.cells + writtenBeforeCrash);
    },
    HEAVY_TEST_TIMEOUT_MS,
  );

  it(
    'is exact however a batch that crashed mid-write is re-cut: bisected halves, a longer re-delivery, a resume from the middle (watermark path; injected fault: client wrapper fails after N calls)',
    async () => {
      const faulty = injectFaults(dynamo);
      const { tableName, sink } = await setUp({ client: faulty.client });
      const events = generateWorkload({ seed: 17, events: 200, users: 30, experimentPrefix: randomName('e') });
      const records = toShardRecords(SHARD, events);
      // [start, end, UpdateItems allowed before the crash]. After a crash the next batch starts at or
      // before the crashed one, as every Kinesis consumer does; the committed position only moves on success.
      const deliveries: [number, number, number?][] = [
        [0, 10],
        [10, 60, 4], // crash after 4 cell writes
        [10, 35], // bisect: first half
        [35, 60, 2], // second half crashes too
        [35, 120], // re-delivered, re-cut longer
        [120, 200, 6],
        [120, 150], // resume, shorter
        [150, 200, 1],
        [140, 200], // overlapping re-delivery
      ];
      let watermarkRequests = 0;
      for (const [start, end, crashAfter] of deliveries) {
        const batch = records.slice(start, end);
        if (crashAfter === undefined) {
          const result = await sink.writeBatch(SHARD, batch);
          // More than one request for a cell means a failed condition and a watermark read.
          watermarkRequests += result.writeRequests - result.cells;
          continue;
        }
        faulty.failAfter(crashAfter);
        await expect(sink.writeBatch(SHARD, batch)).rejects.toSatisfy(isInjectedCrash);
        faulty.failAfter(Infinity);
      }
      expect(await readCounters(dynamo, tableName)).toEqual(computeExpectedCounters(events, { segmentValueCap: 50 }));
      expect(watermarkRequests).toBeGreaterThan(0);
    },
    HEAVY_TEST_TIMEOUT_MS,
  );

  it('stays exact when DynamoDB applied a write but its response was lost: the retry meets the watermark (injected fault: client wrapper answers 500 after forwarding)', async () => {
    const answered = new Set<string>();
    const lostResponses = new Proxy(dynamo, {
      get(target, property, receiver) {
        if (property !== 'send') return Reflect.get(target, property, receiver) as unknown;
        return async (command: Parameters<DynamoDBClient['send']>[0]) => {
          const out = await target.send(command);
          const cell = JSON.stringify((command.input as { Key?: unknown }).Key);
          if (command instanceof UpdateItemCommand && !answered.has(cell)) {
            answered.add(cell);
            throw new InternalServerError({ message: 'response lost after the write was applied', $metadata: {} });
          }
          return out;
        };
      },
    });
    const { tableName, sink } = await setUp({ client: lostResponses });
    const events = generateWorkload({ seed: 19, events: 60, users: 10, experimentPrefix: randomName('e') });
    const result = await sink.writeBatch(SHARD, toShardRecords(SHARD, events));
    expect(await readCounters(dynamo, tableName)).toEqual(computeExpectedCounters(events, { segmentValueCap: 50 }));
    // Per cell: the applied write (500), its retry (condition failed), the watermark read (nothing missing).
    expect(result.writeRequests).toBe(3 * result.cells);
  });

  it('caps segment values per dimension: later values go to (other), and cells sum to the total', async () => {
    const { tableName, sink } = await setUp({ cap: 3 });
    const events = Array.from({ length: 60 }, (_, i) =>
      event({ userId: `u${i % 20}`, value: i % 5, segments: { country: `C${i % 10}` } }),
    );
    await sink.writeBatch(SHARD, toShardRecords(SHARD, events));
    const table = await readCounters(dynamo, tableName);
    const countryCells = [...table].filter(([key]) => key.startsWith('checkout|seg#country='));
    expect(countryCells.map(([key]) => key).sort()).toEqual([
      'checkout|seg#country=(other)#control#purchase',
      'checkout|seg#country=C0#control#purchase',
      'checkout|seg#country=C1#control#purchase',
      'checkout|seg#country=C2#control#purchase',
    ]);
    const total = table.get('checkout|control#purchase');
    const summed = countryCells.reduce(
      (sum, [, cell]) => ({
        events: sum.events + cell.events,
        units: sum.units + cell.units,
        sum: sum.sum + cell.sum,
        sumSquares: sum.sumSquares + cell.sumSquares,
      }),
      { events: 0, units: 0, sum: 0, sumSquares: 0 },
    );
    expect(summed).toEqual(total);
    expect(table).toEqual(computeExpectedCounters(events, { segmentValueCap: 3 }));
  });

  it.each([
    ['in-process', false],
    ['Redis', true],
  ])(
    'stays exact when the processor crashes between the state update and the counter writes, %s state (injected fault: client wrapper fails after N calls)',
    async (_store, redis) => {
      const faulty = injectFaults(dynamo);
      const { tableName, sink } = await setUp({ client: faulty.client, redis });
      const events = generateWorkload({ seed: 23, events: 250, users: 40, experimentPrefix: randomName('e') });
      const records = toShardRecords(SHARD, events);
      const random = seededRandom(23);
      const { failures } = await deliverWithRecuts(sink, SHARD, records, {
        random,
        maxBatch: 80,
        beforeDelivery: () => faulty.failAfter(random() < 0.5 ? Math.floor(random() * 40) : Infinity),
      });
      expect(failures).toBeGreaterThan(0);
      expect(await readCounters(dynamo, tableName)).toEqual(computeExpectedCounters(events, { segmentValueCap: 50 }));
    },
    HEAVY_TEST_TIMEOUT_MS,
  );

  it('keeps fractional values exact: values are rounded to 6 decimals before summing and squaring', async () => {
    const { tableName, sink } = await setUp();
    const events = [0.1, 0.2, 0.3000004, 1e-7].map((value) => event({ userId: 'dora', value }));
    for (const record of toShardRecords(SHARD, events)) await sink.writeBatch(SHARD, [record]);
    // 0.3000004 counts as 0.3, 1e-7 as 0: the user's total is exactly 0.6.
    expect((await readCounters(dynamo, tableName)).get('checkout|control#purchase')).toEqual({
      events: 4,
      units: 1,
      sum: 0.6,
      sumSquares: 0.36,
    });
  });

  it('reports non-retriable DynamoDB errors as SINK_REJECTED', async () => {
    const { sink } = await setUp();
    const missingTable = createCounterSink({
      dynamo,
      tableName: randomName('missing'),
      state: createInProcessUserStateStore(),
      writeConcurrency: 2,
      retryPolicy: FAST_RETRY,
    });
    await expect(
      missingTable.writeBatch(SHARD, toShardRecords(SHARD, [event({ userId: 'eve' })])),
    ).rejects.toMatchObject({ code: 'SINK_REJECTED', retriable: false });
    expect(await sink.writeBatch(SHARD, [])).toMatchObject({ counted: 0 });
  });

  it('retries throttled and 5xx writes with backoff and stays exact (injected faults: client wrapper throws throttling and 500 errors)', async () => {
    // Per cell: the first attempt is throttled, the second gets a 500, the third goes through.
    const attemptsPerCell = new Map<string, number>();
    const flaky = new Proxy(dynamo, {
      get(target, property, receiver) {
        if (property !== 'send') return Reflect.get(target, property, receiver) as unknown;
        return (command: Parameters<DynamoDBClient['send']>[0]) => {
          const cell = JSON.stringify((command.input as { Key?: unknown }).Key);
          const attempt = (attemptsPerCell.get(cell) ?? 0) + 1;
          attemptsPerCell.set(cell, attempt);
          if (attempt === 1) {
            return Promise.reject(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }));
          }
          if (attempt === 2) return Promise.reject(new InternalServerError({ message: 'oops', $metadata: {} }));
          return target.send(command);
        };
      },
    });
    const { tableName, sink } = await setUp({ client: flaky });
    const events = generateWorkload({ seed: 5, events: 60, users: 10, experimentPrefix: randomName('e') });
    const result = await sink.writeBatch(SHARD, toShardRecords(SHARD, events));
    expect(result.writeRequests).toBe(3 * result.cells);
    expect(await readCounters(dynamo, tableName)).toEqual(computeExpectedCounters(events, { segmentValueCap: 50 }));
  });

  it('gives up on persistent throttling with a retriable SINK_THROTTLED (injected fault: client wrapper always throttles)', async () => {
    const throttled = new Proxy(dynamo, {
      get(target, property, receiver) {
        if (property !== 'send') return Reflect.get(target, property, receiver) as unknown;
        return () =>
          Promise.reject(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }));
      },
    });
    const { sink } = await setUp({ client: throttled });
    await expect(sink.writeBatch(SHARD, toShardRecords(SHARD, [event({ userId: 'fay' })]))).rejects.toMatchObject({
      code: 'SINK_THROTTLED',
      retriable: true,
    });
  });
});

describe('counter sink: what it reports', () => {
  it('gives each refused event a dead-letter message naming its experiment, variant and metric', async () => {
    const { sink } = await setUp();
    const whale = Array.from({ length: 3 }, () => event({ userId: 'whale', value: 99_999_999.5 }));
    const result = await sink.writeBatch(SHARD, toShardRecords(SHARD, whale));
    expect(result.refused).toHaveLength(2);
    expect(result.refused[0]).toMatchObject({
      rule: 'user-total-limit',
      message:
        "the user's running total of checkout/control/purchase would leave the allowed range (see the event contract's MAX_USER_TOTAL)",
    });
    expect(result.refused[0]?.event.event.eventId).toBe(whale[1]?.eventId);
  });

  it('logs each batch at debug level, with its counts, as the counter-sink component', async () => {
    const tableName = randomName('counters');
    await createCountersTable(dynamo, tableName);
    const lines: string[] = [];
    const logger = createLogger({
      level: 'debug',
      destination: new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(chunk.toString());
          done();
        },
      }),
    });
    const state = createInProcessUserStateStore();
    stores.push({ state });
    const sink = createCounterSink({ dynamo, tableName, state, writeConcurrency: 2, retryPolicy: FAST_RETRY, logger });
    const events = [event({ userId: 'ann' }), event({ userId: 'bob' })];
    const result = await sink.writeBatch(SHARD, toShardRecords(SHARD, events));
    const line = lines
      .map((text) => JSON.parse(text) as Record<string, unknown>)
      .find((entry) => entry.msg === 'counters written');
    expect(line).toMatchObject({
      component: 'counter-sink',
      shardId: SHARD,
      events: 2,
      counted: 2,
      duplicates: 0,
      refused: 0,
      cells: result.cells,
    });
  });

  it('fails a batch the state store answered only in part with INTERNAL, writing nothing (injected: a wrapper drops an outcome)', async () => {
    const tableName = randomName('counters');
    await createCountersTable(dynamo, tableName);
    const real = createInProcessUserStateStore();
    stores.push({ state: real });
    const partial: UserStateStore = {
      ...real,
      apply: async (shardId, epoch, requests) =>
        StateAnswers.of((await real.apply(shardId, epoch, requests)).outcomes().slice(1)),
    };
    const sink = createCounterSink({ dynamo, tableName, state: partial, writeConcurrency: 2, retryPolicy: FAST_RETRY });
    const events = [event({ userId: 'ann' }), event({ userId: 'bob' })];
    await expect(sink.writeBatch(SHARD, toShardRecords(SHARD, events))).rejects.toMatchObject({
      code: 'INTERNAL',
      message: 'state store answered 1 of 2 requests',
    });
    expect((await readCounters(dynamo, tableName)).size).toBe(0);
  });

  it('fails a batch with a request the state store left unanswered with INTERNAL, writing nothing (injected: a wrapper blanks an answer)', async () => {
    const tableName = randomName('counters');
    await createCountersTable(dynamo, tableName);
    const real = createInProcessUserStateStore();
    stores.push({ state: real });
    const blank: UserStateStore = {
      ...real,
      apply: async (shardId, epoch, requests) => {
        const answers = await real.apply(shardId, epoch, requests);
        answers.kinds[1] = 0; // as a store that forgot one request would leave it
        return answers;
      },
    };
    const sink = createCounterSink({ dynamo, tableName, state: blank, writeConcurrency: 2, retryPolicy: FAST_RETRY });
    const events = [event({ userId: 'ann' }), event({ userId: 'bob' }), event({ userId: 'cy' })];
    await expect(sink.writeBatch(SHARD, toShardRecords(SHARD, events))).rejects.toMatchObject({
      code: 'INTERNAL',
      message: 'state store left request 1 of 3 unanswered',
    });
    expect((await readCounters(dynamo, tableName)).size).toBe(0);
  });
});

describe('counter sink in memory', () => {
  // The sink keeps its pending-event objects from batch to batch (PendingEventSets); what it keeps must not hold
  // the events themselves, or a finished batch stays alive until the next batch of its size. Seen through V8's
  // `gc`, exposed for this test, and WeakRefs to the batch's events.
  it("lets a finished batch's events go: the pending objects it keeps for the next batch hold none of them", async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const { sink } = await setUp();
    const writeAndForget = async (shardId: string): Promise<WeakRef<StreamEvent>[]> => {
      const events = Array.from({ length: 20 }, (_, index) => event({ userId: `u${index % 5}`, value: index }));
      const result = await sink.writeBatch(shardId, toShardRecords(shardId, events));
      expect(result.counted).toBe(20);
      return events.map((written) => new WeakRef(written));
    };
    const events = await writeAndForget(SHARD);
    // A WeakRef keeps its target until the job that made it ends.
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    expect(events.filter((ref) => ref.deref() !== undefined)).toHaveLength(0);
    // The objects it kept serve the next batch (another shard's: this one's positions are committed).
    await expect(writeAndForget('shardId-000000000001')).resolves.toHaveLength(20);
  });
});
