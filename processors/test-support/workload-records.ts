/**
 * Turns a workload of events into the Kinesis records producers would put: one partition
 * key per user (so a user's events stay in one shard, in order), some users' consecutive
 * events packed into KPL aggregates, and malformed records mixed in. Users interleave at
 * random; each user's own order is kept, which is all the ground truth depends on.
 * Not a test file itself: the fault-injection proof and the bench use it.
 */
import type { StreamEvent } from '../../common/event-contract.js';
import { kplAggregate } from './pipeline-doubles.js';

/** One record to put. `events` are the valid events inside (none for a malformed record). */
export interface WorkloadRecord {
  partitionKey: string;
  data: Buffer;
  events: StreamEvent[];
}

/** How records are built. */
export interface WorkloadRecordOptions {
  random: () => number;
  /** Share of a user's runs packed into one KPL aggregate (2–4 events). */
  aggregateRate: number;
  /** Malformed records to mix in. */
  malformed: number;
}

const MALFORMED_SAMPLES = [
  () => Buffer.from('{"eventId": "truncated'),
  () => Buffer.from(JSON.stringify({ version: 99, type: 'impression' })),
  () => Buffer.from(JSON.stringify({ version: 1, type: 'conversion', experimentId: 'x' })),
  () => Buffer.from([0xff, 0xfe, 0x00, 0x01]),
];

/** Builds the records; the valid events of all records, in any order per user, equal `events`. */
export function toWorkloadRecords(events: readonly StreamEvent[], options: WorkloadRecordOptions): WorkloadRecord[] {
  const { random } = options;
  const queues = new Map<string, StreamEvent[]>();
  for (const event of events) {
    const queue = queues.get(event.userId) ?? [];
    queue.push(event);
    queues.set(event.userId, queue);
  }
  const users = [...queues.keys()];
  const records: WorkloadRecord[] = [];
  while (users.length > 0) {
    const at = Math.floor(random() * users.length);
    const userId = users[at]!;
    const queue = queues.get(userId)!;
    const run = random() < options.aggregateRate ? 2 + Math.floor(random() * 3) : 1;
    const taken = queue.splice(0, run);
    if (taken.length === 1) {
      records.push({ partitionKey: userId, data: Buffer.from(JSON.stringify(taken[0])), events: taken });
    } else {
      records.push({ partitionKey: userId, data: kplAggregate(taken).data, events: taken });
    }
    if (queue.length === 0) users.splice(at, 1);
  }
  for (let i = 0; i < options.malformed; i++) {
    const sample = MALFORMED_SAMPLES[i % MALFORMED_SAMPLES.length]!;
    records.splice(Math.floor(random() * (records.length + 1)), 0, {
      partitionKey: `malformed-${i}`,
      data: sample(),
      events: [],
    });
  }
  return records;
}
