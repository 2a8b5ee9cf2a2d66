/**
 * The pure helpers of poison isolation: which records the commit step may cut into user
 * records (and into which), and the dead letter of the one user record a sink refused.
 */
import { describe, expect, it } from 'vitest';
import { encodeCompactRecord } from '../../common/compact-records.js';
import { PipelineError } from '../../common/errors.js';
import { kinesisRecord, kplAggregate, sampleEvent } from '../test-support/pipeline-doubles.js';
import type { KinesisRecord } from '../types.js';
import { sinkRejectedLetter, userRecordsOf } from './isolate-record.js';

const SHARD = 'shardId-000000000000';
const ARRIVAL = 1_700_000_000_000;

const aggregateRecord = (payloads: unknown[], arrival?: number): KinesisRecord => {
  const { partitionKey, data } = kplAggregate(payloads);
  return {
    sequenceNumber: '42',
    partitionKey,
    data,
    ...(arrival === undefined ? {} : { approximateArrivalTimestamp: arrival }),
  };
};

describe('userRecordsOf (what the commit step cuts a refused Kinesis record into)', () => {
  it('cuts a KPL aggregate into its user records, numbered by position, each with its key, bytes and arrival', () => {
    const events = [sampleEvent({ userId: 'a' }), sampleEvent({ userId: 'b' }), sampleEvent({ userId: 'c' })];
    expect(userRecordsOf(aggregateRecord(events, ARRIVAL), SHARD)).toEqual(
      events.map((event, index) => ({
        sequenceNumber: '42',
        subSequenceNumber: index,
        partitionKey: `pk-${index}`,
        data: Buffer.from(JSON.stringify(event)),
        approximateArrivalTimestamp: ARRIVAL,
      })),
    );
    expect(userRecordsOf(aggregateRecord(events.slice(0, 2)), SHARD)).toHaveLength(2);
    const withoutArrival = userRecordsOf(aggregateRecord(events), SHARD)!;
    for (const record of withoutArrival) expect(Object.hasOwn(record, 'approximateArrivalTimestamp')).toBe(false);
  });

  it('cuts a compact record into its events', () => {
    const events = [sampleEvent({ userId: 'a' }), sampleEvent({ userId: 'b' })];
    const cut = userRecordsOf({ sequenceNumber: '7', partitionKey: 'p', data: encodeCompactRecord(events) }, SHARD);
    expect(cut?.map((record) => [record.subSequenceNumber, record.partitionKey])).toEqual([
      [0, 'a'],
      [1, 'b'],
    ]);
  });

  it('leaves whole what holds one user record: a plain record, one already cut, a one-record or corrupt aggregate', () => {
    expect(userRecordsOf(kinesisRecord('1', sampleEvent()), SHARD)).toBeUndefined();
    const aggregate = aggregateRecord([sampleEvent(), sampleEvent()]);
    expect(userRecordsOf({ ...aggregate, subSequenceNumber: 1 }, SHARD)).toBeUndefined();
    expect(userRecordsOf(aggregateRecord([sampleEvent()]), SHARD)).toBeUndefined();
    const corrupt = Buffer.from(aggregate.data);
    corrupt.writeUInt8(corrupt.readUInt8(corrupt.length - 1) ^ 0xff, corrupt.length - 1); // its MD5 trailer no longer matches
    expect(userRecordsOf({ ...aggregate, data: corrupt }, SHARD)).toBeUndefined();
  });
});

describe('sinkRejectedLetter', () => {
  const record: KinesisRecord = { ...kinesisRecord('9', sampleEvent(), 'ann'), subSequenceNumber: 3 };

  it('names the user record, its key and bytes, and the error as the reason', () => {
    expect(sinkRejectedLetter(SHARD, record, new PipelineError('RECORD_REJECTED', 'total over the limit'))).toEqual({
      id: { shardId: SHARD, sequenceNumber: '9', subSequenceNumber: 3 },
      partitionKey: 'ann',
      data: record.data,
      reasons: [
        { index: 0, field: '(event)', rule: 'sink-rejected', message: 'RECORD_REJECTED: total over the limit' },
      ],
    });
    const plain = kinesisRecord('10', sampleEvent());
    expect(sinkRejectedLetter(SHARD, plain, new Error('boom')).id.subSequenceNumber).toBe(0);
  });

  it("carries the sinks the error's details.takenBy names (known ones only), and no takenBy when none", () => {
    const takenBy = (error: unknown) => sinkRejectedLetter(SHARD, record, error).takenBy;
    const refused = (details: unknown) => new PipelineError('SINK_REJECTED', 'no', { details });
    expect(takenBy(refused({ takenBy: ['index', 'somewhere', 'counters'] }))).toEqual(['counters', 'index']);
    expect(takenBy(refused({ takenBy: ['index'] }))).toEqual(['index']);
    for (const error of [
      refused({ takenBy: [] }),
      refused({ takenBy: 'index' }),
      refused(null),
      refused('index'),
      Object.assign(new Error('not a pipeline error'), { details: { takenBy: ['index'] } }),
    ]) {
      expect(Object.hasOwn(sinkRejectedLetter(SHARD, record, error), 'takenBy')).toBe(false);
    }
  });
});
