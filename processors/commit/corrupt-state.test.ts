/**
 * A user whose stored state cannot be read (bytes damaged in the store) must not stall the shard:
 * the commit step isolates that user's events and dead-letters them with the store's STATE_CORRUPT
 * reason, and every other event is counted exactly, also the other users' events of the same
 * compact record. Real embedded store (LMDB), real Redis and dynalite; the dead letters go to an
 * in-memory sink.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { asBinary, open } from 'lmdb';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createDynamoClient } from '../../common/aws-clients.js';
import { encodeCompactRecord } from '../../common/compact-records.js';
import type { StreamEvent } from '../../common/event-contract.js';
import { createSilentLogger } from '../../common/logger.js';
import { randomName, testConfig } from '../../local/test-support/test-config.js';
import { createCounterSink } from '../counters/index.js';
import { createProcessorMetrics } from '../metrics.js';
import { createPipeline } from '../pipeline.js';
import { createEmbeddedUserStateStore, createRedisUserStateStore } from '../state/index.js';
import { userStateKey } from '../state/record-identity.js';
import { storedRedisUser } from '../state/test-support/redis-users.js';
import type { UserStateStore } from '../state/types.js';
import { createCountersTable } from '../test-support/counter-delivery.js';
import { computeExpectedCounters } from '../test-support/counter-ground-truth.js';
import { kinesisRecord, MemoryDeadLetterSink, sampleEvent } from '../test-support/pipeline-doubles.js';
import { readCounters } from '../test-support/read-counters.js';
import type { KinesisRecord } from '../types.js';
import { createCommitStep } from './commit-step.js';

const SHARD = 'shardId-000000000000';
const seq = (n: number) => `4959${String(n).padStart(52, '0')}`;
const dynamo = createDynamoClient(testConfig());
const redis = new Redis(inject('redisUrl'), { lazyConnect: true });
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups) await cleanup();
  await redis.quit();
  dynamo.destroy();
});

/** A state store under test: opened afresh for each commit (a restart), and a way to damage one user. */
interface StoreUnderTest {
  open(): UserStateStore;
  /** Damages the stored state of `userId` (experiment `exp`): its last bytes say more follows. */
  damage(userId: string): Promise<void>;
}

async function embeddedStore(): Promise<StoreUnderTest> {
  const directory = await mkdtemp(join(tmpdir(), 'corrupt-state-'));
  cleanups.push(() => rm(directory, { recursive: true, force: true }));
  return {
    open: () => createEmbeddedUserStateStore({ directory }),
    async damage(userId) {
      const root = open({ path: directory, maxDbs: 8 });
      const users = root.openDB<unknown, string>({ name: 'users' });
      const bytes = users.getBinary(userStateKey('exp', userId)) as Buffer;
      await users.put(
        userStateKey('exp', userId),
        asBinary(Buffer.concat([bytes.subarray(0, -2), Buffer.from([0x80])])),
      );
      await root.close();
    },
  };
}

function redisStore(): StoreUnderTest {
  const keyPrefix = `${randomName('corrupt-state')}:`;
  cleanups.push(async () => {
    const keys = await redis.keys(`${keyPrefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  });
  return {
    open: () => createRedisUserStateStore({ redisUrl: inject('redisUrl'), keyPrefix }),
    async damage(userId) {
      const [key, blob] = await storedRedisUser(redis, keyPrefix, 'exp', userId);
      await redis.hset(key, userId, Buffer.concat([blob.subarray(0, -1), Buffer.from([0x80])]));
    },
  };
}

/** Processes `events` (one Kinesis record each, from sequence number `first`) through the commit step. */
function commitEvents(store: StoreUnderTest, tableName: string, events: StreamEvent[], first: number) {
  const records = events.map((event, index) => kinesisRecord(seq(first + index), event, event.userId));
  return commitRecords(store, tableName, records);
}

/** Processes `records` through the commit step. */
async function commitRecords(store: StoreUnderTest, tableName: string, records: KinesisRecord[]) {
  const state = store.open();
  const deadLetters = new MemoryDeadLetterSink();
  const pipeline = createPipeline({
    counters: createCounterSink({ dynamo, tableName, state, writeConcurrency: 4 }),
    deadLetters,
    logger: createSilentLogger(),
    metrics: createProcessorMetrics(),
    limits: { maxEventBytes: 8192, maxSegments: 10 },
  });
  const step = createCommitStep({
    pipeline,
    logger: createSilentLogger(),
    retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
  });
  try {
    const result = await step.commit({ shardId: SHARD, records }, () => Promise.resolve('ok'));
    return { status: result.status, letters: deadLetters.letters };
  } finally {
    await state.close();
  }
}

const CORRUPT_STATE_MESSAGE =
  /^STATE_CORRUPT: the stored state of user ann in experiment exp cannot be read \(.+\): its records are dead-lettered, the other users are counted; see processors\/README.md "Corrupt state"$/;

const event = (userId: string, value: number) =>
  sampleEvent({ type: 'conversion', experimentId: 'exp', variantId: 'control', userId, metric: 'revenue', value });

async function countersTable(name: string): Promise<string> {
  const tableName = randomName(name);
  await createCountersTable(dynamo, tableName);
  return tableName;
}

/** Every counter cell of `tableName` equals the ground truth of `counted`. */
async function expectCounted(tableName: string, counted: StreamEvent[]): Promise<void> {
  expect(await readCounters(dynamo, tableName)).toEqual(computeExpectedCounters(counted, { segmentValueCap: 50 }));
}

/** A fresh store and counters table where `first` is committed (nothing dead-lettered), then ann's state is damaged. */
async function annDamagedAfter(
  newStore: () => StoreUnderTest | Promise<StoreUnderTest>,
  name: string,
  first: StreamEvent[],
): Promise<{ store: StoreUnderTest; tableName: string }> {
  const store = await newStore();
  const tableName = await countersTable(name);
  expect((await commitEvents(store, tableName, first, 1)).letters).toEqual([]);
  await store.damage('ann');
  return { store, tableName };
}

const stores = [
  ['the embedded state store (real LMDB and dynalite)', embeddedStore],
  ['the Redis state store (real Redis and dynalite)', redisStore],
] as const;

describe.each(stores)('a corrupt user in %s', (_, newStore) => {
  it("dead-letters that user's records with STATE_CORRUPT and counts every other record exactly, without stalling", async () => {
    const first = [event('ann', 1), event('bob', 2)];
    const { store, tableName } = await annDamagedAfter(newStore, 'corrupt-state', first);

    const second = [event('bob', 3), event('ann', 4), event('carol', 5), event('ann', 6)];
    const { status, letters } = await commitEvents(store, tableName, second, 3);
    // Before: SINK_FAILED, retriable: the batch was retried until its attempts ran out, and again after every restart.
    expect(status).toBe('committed');
    expect(letters.map((letter) => letter.id.sequenceNumber)).toEqual([seq(4), seq(6)]);
    for (const letter of letters) {
      expect(letter.reasons).toEqual([
        {
          index: 0,
          field: '(event)',
          rule: 'sink-rejected',
          message: expect.stringMatching(CORRUPT_STATE_MESSAGE),
        },
      ]);
    }
    await expectCounted(tableName, [...first, second[0]!, second[2]!]);
  });

  it("in a compact record (the collector's format), dead-letters only that user's events and counts the record's others", async () => {
    const first = [event('ann', 1), event('bob', 2)];
    const { store, tableName } = await annDamagedAfter(newStore, 'corrupt-state-compact', first);

    const second = [event('bob', 3), event('ann', 4), event('carol', 5), event('ann', 6)];
    const compact: KinesisRecord = { sequenceNumber: seq(3), partitionKey: 'p', data: encodeCompactRecord(second) };
    const { status, letters } = await commitRecords(store, tableName, [compact]);
    // Before: the whole compact record was dead-lettered, bob's and carol's events with ann's.
    expect(status).toBe('committed');
    expect(letters.map((letter) => [letter.id.sequenceNumber, letter.id.subSequenceNumber])).toEqual([
      [seq(3), 1],
      [seq(3), 3],
    ]);
    for (const [index, letter] of letters.entries()) {
      expect(letter.partitionKey).toBe('ann');
      expect(JSON.parse(Buffer.from(letter.data).toString())).toEqual(second[2 * index + 1]);
      expect(letter.reasons).toEqual([
        { index: 0, field: '(event)', rule: 'sink-rejected', message: expect.stringMatching(CORRUPT_STATE_MESSAGE) },
      ]);
    }
    await expectCounted(tableName, [...first, second[0]!, second[2]!]);
  });

  it("in a compact record of 1,200 events (three Redis script calls), dead-letters only that user's events however the calls were cut", async () => {
    const first = [event('ann', 1), event('u1', 2)];
    const { store, tableName } = await annDamagedAfter(newStore, 'corrupt-state-large', first);

    // ann's events sit in the second and third script call of 500 requests; the first call's users were written
    // before the second refused (Redis), so the isolation replays them.
    const second = Array.from({ length: 1200 }, (_, index) =>
      index === 700 || index === 1100 ? event('ann', index) : event(`u${index % 97}`, index),
    );
    const compact: KinesisRecord = { sequenceNumber: seq(3), partitionKey: 'p', data: encodeCompactRecord(second) };
    const { status, letters } = await commitRecords(store, tableName, [compact]);
    expect(status).toBe('committed');
    expect(letters.map((letter) => letter.id.subSequenceNumber)).toEqual([700, 1100]);
    await expectCounted(tableName, [...first, ...second.filter((e) => e.userId !== 'ann')]);
  });
});
