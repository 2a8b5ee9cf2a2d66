import { describe, expect, it, vi } from 'vitest';
import { kinesisRecord, sampleEvent } from '../test-support/pipeline-doubles.js';
import { decodeShardBatch } from './decode-shard-batch.js';
import type * as DecodeUserRecord from './decode-user-record.js';

// The decoder never throws by design; this stands in a defect that makes it throw on one record.
vi.mock('./decode-user-record.js', async (importOriginal) => {
  const original = await importOriginal<typeof DecodeUserRecord>();
  return {
    ...original,
    decodeEvent: (data: Uint8Array, index: number, limits: Parameters<typeof original.decodeEvent>[2]) => {
      if (Buffer.from(data).toString().includes('"userId":"defect"')) throw new Error('decoder defect');
      return original.decodeEvent(data, index, limits);
    },
  };
});

describe('decodeShardBatch with a decoder that throws (injected defect: decodeEvent mocked)', () => {
  it('dead-letters the record it threw on, with the error as its reason, and decodes the others', () => {
    const records = [
      kinesisRecord('1', sampleEvent({ userId: 'a' })),
      kinesisRecord('2', sampleEvent({ userId: 'defect' }), 'pk-defect'),
      kinesisRecord('3', sampleEvent({ userId: 'c' })),
    ];
    const decoded = decodeShardBatch({ shardId: 's', records }, { maxEventBytes: 8192, maxSegments: 10 });
    expect(decoded.valid.map((valid) => valid.event.userId)).toEqual(['a', 'c']);
    expect(decoded.deadLetters).toEqual([
      {
        id: { shardId: 's', sequenceNumber: '2', subSequenceNumber: 0 },
        partitionKey: 'pk-defect',
        data: records[1]!.data,
        reasons: [{ index: 1, field: '(event)', rule: 'decode-failure', message: 'decoder defect' }],
      },
    ]);
  });
});
