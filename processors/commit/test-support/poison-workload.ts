/**
 * Test helper: a workload with poison records between good ones — plain records a sink
 * refuses for good, and KPL aggregates and compact records (the collector's format) with a
 * refused event between good ones — plus
 * the good events the counters must end with (the ground truth's input).
 * Not a test file itself.
 */
import { randomUUID } from 'node:crypto';
import { PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { encodeCompactRecord } from '../../../common/compact-records.js';
import type { StreamEvent } from '../../../common/event-contract.js';
import { toWorkloadRecords, type WorkloadRecord } from '../../test-support/workload-records.js';
import { generateWorkload, seededRandom } from '../../../local/test-support/counter-workload.js';
import { kplAggregate } from '../../test-support/pipeline-doubles.js';
import { compareSequenceNumbers } from '../../sequence-number.js';
import type { ValidEvent } from '../../types.js';

/** User ids of poison events start with this. */
export const POISON_USER_PREFIX = 'poison-';

/** True for an event of a poison user: what the refusing sink of the tests refuses. */
export const isPoison = (event: ValidEvent): boolean => event.event.userId.startsWith(POISON_USER_PREFIX);

export interface PoisonWorkloadOptions {
  seed: number;
  experimentPrefix: string;
  events: number;
  users: number;
  /** Plain poison records, at random positions. */
  plainPoisons: number;
  /** KPL aggregates holding good user records around one poison. */
  aggregatePoisons: number;
  /** Compact records (the collector's format) holding good events around one poison; none by default. */
  compactPoisons?: number;
  /** Malformed records (decode dead letters), mixed in too. */
  malformed?: number;
}

export interface PoisonWorkload {
  /** What to put on the stream, in order. */
  records: WorkloadRecord[];
  /** Every good event (the input of `computeExpectedCounters`). */
  goodEvents: StreamEvent[];
  /** eventIds of the poison events: each must end on the dead-letter stream. */
  poisonEventIds: Set<string>;
}

/**
 * Builds the workload, deterministic per seed (except eventIds of the added events).
 *
 * @example
 *   const { records, goodEvents } = poisonWorkload({ seed: 1, experimentPrefix: 'p', events: 200, users: 30, plainPoisons: 4, aggregatePoisons: 2 });
 */
export function poisonWorkload(options: PoisonWorkloadOptions): PoisonWorkload {
  const random = seededRandom(options.seed);
  const goodEvents = generateWorkload({
    seed: options.seed,
    events: options.events,
    users: options.users,
    experimentPrefix: options.experimentPrefix,
  });
  const records = toWorkloadRecords(goodEvents, { random, aggregateRate: 0.2, malformed: options.malformed ?? 2 });
  const template = goodEvents[0]!;
  const eventOf = (userId: string): StreamEvent => ({ ...template, eventId: randomUUID(), userId });
  const poisonEventIds = new Set<string>();
  const insert = (record: WorkloadRecord) => records.splice(1 + Math.floor(random() * (records.length - 1)), 0, record);

  for (let i = 0; i < options.plainPoisons; i++) {
    const poison = eventOf(`${POISON_USER_PREFIX}plain-${i}`);
    poisonEventIds.add(poison.eventId);
    insert({ partitionKey: poison.userId, data: Buffer.from(JSON.stringify(poison)), events: [] });
  }
  for (let i = 0; i < options.aggregatePoisons; i++) {
    const before = eventOf(`agg-${i}-before`);
    const poison = eventOf(`${POISON_USER_PREFIX}agg-${i}`);
    const after = eventOf(`agg-${i}-after`);
    poisonEventIds.add(poison.eventId);
    goodEvents.push(before, after);
    insert({ partitionKey: `agg-${i}`, data: kplAggregate([before, poison, after]).data, events: [before, after] });
  }
  for (let i = 0; i < (options.compactPoisons ?? 0); i++) {
    const before = eventOf(`compact-${i}-before`);
    const poison = eventOf(`${POISON_USER_PREFIX}compact-${i}`);
    const after = [eventOf(`compact-${i}-after`), eventOf(`compact-${i}-last`)];
    poisonEventIds.add(poison.eventId);
    goodEvents.push(before, ...after);
    insert({
      partitionKey: `compact-${i}`,
      data: encodeCompactRecord([before, poison, ...after]),
      events: [before, ...after],
    });
  }
  return { records, goodEvents, poisonEventIds };
}

/**
 * Puts `records` in order (500 per call) and returns, per shard, the sequence number of the
 * last record put there: where each shard's checkpoint must end.
 */
export async function putAndLocate(
  kinesis: KinesisClient,
  streamName: string,
  records: readonly WorkloadRecord[],
): Promise<Map<string, string>> {
  const last = new Map<string, string>();
  for (let start = 0; start < records.length; start += 500) {
    const out = await kinesis.send(
      new PutRecordsCommand({
        StreamName: streamName,
        Records: records.slice(start, start + 500).map((r) => ({ PartitionKey: r.partitionKey, Data: r.data })),
      }),
    );
    if (out.FailedRecordCount) throw new Error(`${out.FailedRecordCount} records were not put`);
    for (const entry of out.Records ?? []) {
      const known = last.get(entry.ShardId!);
      if (!known || compareSequenceNumbers(entry.SequenceNumber!, known) > 0)
        last.set(entry.ShardId!, entry.SequenceNumber!);
    }
  }
  return last;
}
