import {
  InternalServerError,
  ProvisionedThroughputExceededException,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createDynamoClient } from '../../common/aws-clients.js';
import { randomName, testConfig } from '../../local/test-support.js';
import type { StreamEvent } from '../../common/event-contract.js';
import { Redis } from 'ioredis';
import { createInProcessUserStateStore } from '../state/in-process-store.js';
import { createRedisUserStateStore } from '../state/redis-store.js';
import type { UserStateStore } from '../state/types.js';
import { createCounterSink } from './counter-sink.js';
import { computeExpectedCounters } from './ground-truth.js';
import { readCounters } from './read-counters.js';
import { createCountersTable, deliverWithRecuts, injectFaults } from './test-delivery.js';
import { generateWorkload, seededRandom, toShardRecords } from './test-workload.js';

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

async function setUp(options: { cap?: number; client?: DynamoDBClient; redis?: boolean } = {}) {
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

  it('writes each cell once per batch, not once per event', async () => {
    const { sink } = await setUp();
    const events = Array.from({ length: 200 }, (_, i) => event({ userId: `u${i % 7}`, segments: { country: 'US' } }));
    const result = await sink.writeBatch(SHARD, toShardRecords(SHARD, events));
    // One total cell and one country cell per variant/metric.
    expect(result).toEqual({ counted: 200, duplicates: 0, cells: 2, writeRequests: 2, refused: [] });
  });

  it(
    'counts a replayed batch once and says nothing was new',
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
    'is exact however batches are re-cut: bisected halves, resumes from the middle, overlaps',
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
