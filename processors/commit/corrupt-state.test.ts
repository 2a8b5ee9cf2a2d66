/**
 * A user whose stored state cannot be read (bytes damaged in the embedded store's file) must not
 * stall the shard: the commit step isolates that user's records and dead-letters them with the
 * store's STATE_CORRUPT reason, and every other record is counted exactly. Real embedded store
 * (LMDB) and dynalite; the dead letters go to an in-memory sink.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asBinary, open } from 'lmdb';
import { afterAll, describe, expect, it } from 'vitest';
import { createDynamoClient } from '../../common/aws-clients.js';
import { encodeCompactRecord } from '../../common/compact-records.js';
import type { StreamEvent } from '../../common/event-contract.js';
import { createSilentLogger } from '../../common/logger.js';
import { randomName, testConfig } from '../../local/test-support/test-config.js';
import { createCounterSink } from '../counters/index.js';
import { createProcessorMetrics } from '../metrics.js';
import { createPipeline } from '../pipeline.js';
import { createEmbeddedUserStateStore } from '../state/index.js';
import { userStateKey } from '../state/record-identity.js';
import { createCountersTable } from '../test-support/counter-delivery.js';
import { computeExpectedCounters } from '../test-support/counter-ground-truth.js';
import { kinesisRecord, MemoryDeadLetterSink, sampleEvent } from '../test-support/pipeline-doubles.js';
import { readCounters } from '../test-support/read-counters.js';
import type { KinesisRecord } from '../types.js';
import { createCommitStep } from './commit-step.js';

const SHARD = 'shardId-000000000000';
const seq = (n: number) => `4959${String(n).padStart(52, '0')}`;
const dynamo = createDynamoClient(testConfig());
const directories: string[] = [];
afterAll(async () => {
  for (const directory of directories) await rm(directory, { recursive: true, force: true });
  dynamo.destroy();
});

/** Processes `events` (one Kinesis record each, from sequence number `first`) through the commit step. */
function commitEvents(directory: string, tableName: string, events: StreamEvent[], first: number) {
  const records = events.map((event, index) => kinesisRecord(seq(first + index), event, event.userId));
  return commitRecords(directory, tableName, records);
}

/** Processes `records` through the commit step, with the embedded store in `directory`. */
async function commitRecords(directory: string, tableName: string, records: KinesisRecord[]) {
  const state = createEmbeddedUserStateStore({ directory });
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

/** Damages a user's stored state (experiment `exp`): its last bytes say more follows. */
async function damageUser(directory: string, userId: string): Promise<void> {
  const root = open({ path: directory, maxDbs: 8 });
  const users = root.openDB<unknown, string>({ name: 'users' });
  const bytes = users.getBinary(userStateKey('exp', userId)) as Buffer;
  await users.put(userStateKey('exp', userId), asBinary(Buffer.concat([bytes.subarray(0, -2), Buffer.from([0x80])])));
  await root.close();
}

const CORRUPT_STATE_MESSAGE =
  /^STATE_CORRUPT: the stored state of user ann in experiment exp cannot be read \(.*corrupt state\): its records are dead-lettered, the other users are counted; see processors\/README.md "Corrupt state"$/;

const event = (userId: string, value: number) =>
  sampleEvent({ type: 'conversion', experimentId: 'exp', variantId: 'control', userId, metric: 'revenue', value });

async function freshStore(name: string): Promise<{ directory: string; tableName: string }> {
  const directory = await mkdtemp(join(tmpdir(), 'corrupt-state-'));
  directories.push(directory);
  const tableName = randomName(name);
  await createCountersTable(dynamo, tableName);
  return { directory, tableName };
}

describe('a corrupt user in the embedded state store (real LMDB and dynalite)', () => {
  it("dead-letters that user's records with STATE_CORRUPT and counts every other record exactly, without stalling", async () => {
    const { directory, tableName } = await freshStore('corrupt-state');

    const first = [event('ann', 1), event('bob', 2)];
    expect((await commitEvents(directory, tableName, first, 1)).letters).toEqual([]);

    await damageUser(directory, 'ann');

    const second = [event('bob', 3), event('ann', 4), event('carol', 5), event('ann', 6)];
    const { status, letters } = await commitEvents(directory, tableName, second, 3);
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
    const counted = [...first, second[0]!, second[2]!];
    expect(await readCounters(dynamo, tableName)).toEqual(computeExpectedCounters(counted, { segmentValueCap: 50 }));
  });

  it("in a compact record (the collector's format), dead-letters only that user's events and counts the record's others", async () => {
    const { directory, tableName } = await freshStore('corrupt-state-compact');
    const first = [event('ann', 1), event('bob', 2)];
    expect((await commitEvents(directory, tableName, first, 1)).letters).toEqual([]);
    await damageUser(directory, 'ann');

    const second = [event('bob', 3), event('ann', 4), event('carol', 5), event('ann', 6)];
    const compact: KinesisRecord = { sequenceNumber: seq(3), partitionKey: 'p', data: encodeCompactRecord(second) };
    const { status, letters } = await commitRecords(directory, tableName, [compact]);
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
    const counted = [...first, second[0]!, second[2]!];
    expect(await readCounters(dynamo, tableName)).toEqual(computeExpectedCounters(counted, { segmentValueCap: 50 }));
  });
});
