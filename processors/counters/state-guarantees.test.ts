/**
 * The state guarantees of the counter sink against real dynalite and real Redis (and the
 * embedded LMDB store): a stale writer changes nothing, a state store that lost its data
 * stops counting with STATE_LOST, and an event past the user-total limit is refused
 * (never counted, never overflowing a cell) while the rest of its batch counts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createDynamoClient } from '../../common/aws-clients.js';
import type { StreamEvent } from '../../common/event-contract.js';
import { randomName, testConfig } from '../../local/test-support/test-config.js';
import { createEmbeddedUserStateStore } from '../state/embedded-store.js';
import { createRedisUserStateStore } from '../state/redis-store.js';
import type { UserStateStore } from '../state/types.js';
import { createCounterSink } from './counter-sink.js';
import { computeExpectedCounters } from '../test-support/counter-ground-truth.js';
import { readCounters } from '../test-support/read-counters.js';
import { readRecordedEpoch } from './state-epoch.js';
import { createCountersTable } from '../test-support/counter-delivery.js';
import { toShardRecords } from '../../local/test-support/counter-workload.js';

const SHARD = 'shardId-000000000000';
const dynamo: DynamoDBClient = createDynamoClient(testConfig());
const admin = new Redis(inject('redisUrl'), { lazyConnect: true });
const cleanUps: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanUp of cleanUps) await cleanUp();
  await admin.quit();
  dynamo.destroy();
});

type StoreKind = 'redis' | 'embedded';

async function newStore(kind: StoreKind): Promise<{ store: UserStateStore; keyPrefix: string }> {
  const keyPrefix = `${randomName('test-xc')}:`;
  if (kind === 'redis') {
    const store = createRedisUserStateStore({ redisUrl: inject('redisUrl'), keyPrefix });
    cleanUps.push(async () => {
      await store.close();
      const keys = await admin.keysBuffer(`${keyPrefix}*`);
      if (keys.length > 0) await admin.del(...keys);
    });
    return { store, keyPrefix };
  }
  const directory = await mkdtemp(join(tmpdir(), 'state-guarantees-'));
  const store = createEmbeddedUserStateStore({ directory });
  cleanUps.push(async () => {
    await store.close();
    await rm(directory, { recursive: true, force: true });
  });
  return { store, keyPrefix };
}

let eventNumber = 0;
function event(userId: string, value: number): StreamEvent {
  eventNumber++;
  return {
    version: 1,
    eventId: `00000000-0000-4000-8000-${String(eventNumber).padStart(12, '0')}`,
    experimentId: 'checkout',
    variantId: 'control',
    userId,
    type: 'conversion',
    metric: 'revenue',
    value,
    timestamp: 1_700_000_000_000,
    receivedAt: 1_700_000_000_000 + eventNumber,
    segments: { country: 'US' },
  };
}

/** A store whose next `apply` waits until released: a writer paused between reading its batch and its state step. */
function pausable(store: UserStateStore) {
  let gate: Promise<void> | undefined;
  let release = () => {};
  let reached = () => {};
  const arrived = new Promise<void>((resolve) => (reached = resolve));
  const paused: UserStateStore = {
    ...store,
    epoch: () => store.epoch(),
    readCommitted: (shardId) => store.readCommitted(shardId),
    markCommitted: (shardId, position) => store.markCommitted(shardId, position),
    forgetExperiment: (experimentId) => store.forgetExperiment(experimentId),
    close: () => store.close(),
    async apply(shardId, epoch, requests) {
      if (gate) {
        reached();
        await gate;
        gate = undefined;
      }
      return store.apply(shardId, epoch, requests);
    },
  };
  return {
    store: paused,
    pauseNextApply: () => (gate = new Promise<void>((resolve) => (release = resolve))),
    arrived,
    release: () => release(),
  };
}

describe.each<StoreKind>(['redis', 'embedded'])('counter sink state guarantees (%s state, dynalite)', (kind) => {
  it('fences a stale writer: a batch the new lease holder already committed changes nothing', async () => {
    const tableName = randomName('counters');
    await createCountersTable(dynamo, tableName);
    const { store } = await newStore(kind);
    const stale = pausable(store);
    const writerA = createCounterSink({ dynamo, tableName, state: stale.store, writeConcurrency: 4 });
    const writerB = createCounterSink({ dynamo, tableName, state: store, writeConcurrency: 4 });

    const records = toShardRecords(SHARD, [event('ann', 5), event('ann', 8), event('bob', 1), event('ann', 1)]);
    const [firstBatch, secondBatch, laterBatch, lastBatch] = records.map((record) => [record]);

    // A takes the shard, reads its first batch, and stalls before its state step.
    await writerA.writeBatch(SHARD, []); // nothing: A is up
    void stale.pauseNextApply();
    const staleWrite = writerA.writeBatch(SHARD, firstBatch!);
    await stale.arrived;
    // The lease moves to B, which processes both batches and commits past them (ann's memos are dropped).
    await writerB.writeBatch(SHARD, firstBatch!);
    await writerB.writeBatch(SHARD, secondBatch!);
    await writerB.writeBatch(SHARD, laterBatch!); // any later change of state
    // A resumes with its stale batch.
    stale.release();
    await expect(staleWrite).resolves.toMatchObject({ counted: 0, cells: 0, writeRequests: 0 });

    const table = await readCounters(dynamo, tableName);
    // ann: total 13, Σx² 169 (a re-applied stale batch gave 18 and 179 before the fence).
    expect(table.get('checkout|control#revenue')).toEqual({ events: 3, units: 2, sum: 14, sumSquares: 170 });
    // ann's running total is still 13: her next event of 1 adds 14² − 13² = 27 to Σx².
    await writerB.writeBatch(SHARD, lastBatch!);
    expect((await readCounters(dynamo, tableName)).get('checkout|control#revenue')).toEqual({
      events: 4,
      units: 2,
      sum: 15,
      sumSquares: 197,
    });
  });

  it('stops with STATE_LOST when the state store is not the one the counters were written with, writing nothing', async () => {
    const tableName = randomName('counters');
    await createCountersTable(dynamo, tableName);
    const original = await newStore(kind);
    const events = [event('ann', 2), event('bob', 3)];
    const records = toShardRecords(SHARD, events);
    await createCounterSink({ dynamo, tableName, state: original.store, writeConcurrency: 4 }).writeBatch(
      SHARD,
      records.slice(0, 1),
    );
    expect(await readRecordedEpoch(dynamo, tableName)).toBe(await original.store.epoch());
    const before = await readCounters(dynamo, tableName);

    // The processors restart against an empty store (flushed, restarted without persistence, replaced).
    const emptied = await newStore(kind);
    const restarted = createCounterSink({ dynamo, tableName, state: emptied.store, writeConcurrency: 4 });
    await expect(restarted.writeBatch(SHARD, records)).rejects.toMatchObject({ code: 'STATE_LOST', retriable: false });
    expect(await readCounters(dynamo, tableName)).toEqual(before);
  });

  it('refuses an event past the user-total limit and counts the rest of its batch exactly', async () => {
    const tableName = randomName('counters');
    await createCountersTable(dynamo, tableName);
    const { store } = await newStore(kind);
    const sink = createCounterSink({ dynamo, tableName, state: store, writeConcurrency: 4 });
    // Eleven conversions near the per-event limit from one user: the second already leaves ±1e8.
    const heavy = Array.from({ length: 11 }, () => event('whale', 99_999_999.357543));
    const good = [event('ann', 2), ...heavy, event('bob', 3)];
    const result = await sink.writeBatch(SHARD, toShardRecords(SHARD, good));
    expect(result.refused.map((refusal) => refusal.rule)).toEqual(Array(10).fill('user-total-limit'));
    expect(result.counted).toBe(3);
    const counted = [good[0]!, good[1]!, good[12]!];
    expect(await readCounters(dynamo, tableName)).toEqual(computeExpectedCounters(counted, { segmentValueCap: 50 }));
  });
});
