/**
 * In-memory doubles of the processors' own sink interfaces, and a maker of contract-valid
 * events, for unit tests of the pipeline and its adapters. (Real sinks are used in the
 * integration tests.)
 */
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import type { StreamEvent } from '../../common/event-contract.js';
import type {
  CounterSink,
  CounterWriteResult,
  DeadLetter,
  DeadLetterSink,
  EventIndexSink,
  IndexResult,
  KinesisRecord,
  ValidEvent,
} from '../types.js';

/** A valid stream event; fields can be overridden. */
export function sampleEvent(overrides: Partial<StreamEvent> = {}): StreamEvent {
  const now = Date.now();
  return {
    version: 1,
    eventId: randomUUID(),
    type: 'impression',
    experimentId: 'exp-1',
    variantId: 'control',
    userId: 'user-1',
    value: 1,
    timestamp: now,
    receivedAt: now,
    ...overrides,
  };
}

/** A Kinesis record carrying `payload` (an object is JSON-encoded, a string or bytes go as they are). */
export function kinesisRecord(sequenceNumber: string, payload: unknown, partitionKey = 'pk'): KinesisRecord {
  const data =
    payload instanceof Uint8Array
      ? payload
      : Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload));
  return { sequenceNumber, partitionKey, data };
}

interface KplAggregator {
  addUserRecord(record: { partitionKey: string; data: Buffer }): void;
  build(): { partitionKey: string; data: Buffer };
}
// The package's typings omit RecordAggregator, which it exports at runtime.
const { RecordAggregator } = createRequire(import.meta.url)('aws-kinesis-agg') as {
  RecordAggregator: new () => KplAggregator;
};

/** The bytes of a KPL-aggregated record carrying each payload (JSON-encoded) as a user record. */
export function kplAggregate(payloads: readonly unknown[]): { partitionKey: string; data: Buffer } {
  const aggregator = new RecordAggregator();
  payloads.forEach((payload, i) =>
    aggregator.addUserRecord({ partitionKey: `pk-${i}`, data: Buffer.from(JSON.stringify(payload)) }),
  );
  return aggregator.build();
}

/** A counter sink that remembers every batch and counts each record identity once. */
export class MemoryCounterSink implements CounterSink {
  readonly batches: { shardId: string; events: ValidEvent[] }[] = [];
  readonly applied = new Set<string>();
  failNext = 0;

  async writeBatch(shardId: string, events: readonly ValidEvent[]): Promise<CounterWriteResult> {
    await Promise.resolve();
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new Error('counter store unavailable');
    }
    this.batches.push({ shardId, events: [...events] });
    let counted = 0;
    for (const { id } of events) {
      const key = `${id.shardId}/${id.sequenceNumber}/${id.subSequenceNumber}`;
      if (!this.applied.has(key)) counted += 1;
      this.applied.add(key);
    }
    return {
      counted,
      duplicates: 0,
      cells: events.length > 0 ? 1 : 0,
      writeRequests: events.length > 0 ? 1 : 0,
      refused: [],
    };
  }
}

/** A dead-letter sink that keeps the letters. */
export class MemoryDeadLetterSink implements DeadLetterSink {
  readonly letters: DeadLetter[] = [];
  failNext = 0;

  async send(letters: readonly DeadLetter[]): Promise<void> {
    await Promise.resolve();
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new Error('dead-letter stream unavailable');
    }
    this.letters.push(...letters);
  }
}

/** An index that rejects events whose userId is in `rejectUsers` (as a mapping error would). */
export class MemoryIndexSink implements EventIndexSink {
  readonly documents = new Map<string, ValidEvent>();
  readonly rejectUsers = new Set<string>();

  async index(events: readonly ValidEvent[]): Promise<IndexResult> {
    await Promise.resolve();
    const rejected: IndexResult['rejected'] = [];
    for (const event of events) {
      if (this.rejectUsers.has(event.event.userId)) rejected.push({ event, reason: 'mapper_parsing_exception' });
      else this.documents.set(event.event.eventId, event);
    }
    return { indexed: events.length - rejected.length, rejected };
  }
}

/** Where an injected counter-sink fault strikes: before the write, or after it (the ack is lost). */
export type InjectedFault = 'ok' | 'fail-before-write' | 'fail-after-write';

/**
 * Wraps a real counter sink so chosen calls fail: `fail-after-write` lets the write land
 * and then reports failure, as a crash between DynamoDB's answer and the checkpoint would.
 */
export function faultyCounterSink(real: CounterSink, decide: (call: number) => InjectedFault): CounterSink {
  let calls = 0;
  return {
    async writeBatch(shardId, events) {
      const fault = decide(++calls);
      if (fault === 'fail-before-write') throw new Error(`injected counter failure before write (call ${calls})`);
      const result = await real.writeBatch(shardId, events);
      if (fault === 'fail-after-write') throw new Error(`injected counter failure after write (call ${calls})`);
      return result;
    },
  };
}
