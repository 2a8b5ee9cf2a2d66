import { describe, expect, it } from 'vitest';
import { kinesisRecord, kplAggregate, sampleEvent } from '../test-support/pipeline-doubles.js';
import type { KinesisRecord } from '../types.js';
import { deaggregateRecord, isKplAggregate } from './deaggregate.js';

const MAGIC = [0xf3, 0x89, 0x9a, 0xc2];

describe('isKplAggregate: the magic number and room for a checksum', () => {
  it('needs all four magic bytes and more than 16 bytes after them', () => {
    const withMagic = (length: number) => Uint8Array.from({ length }, (_, i) => (i < 4 ? MAGIC[i]! : 0));
    expect(isKplAggregate(withMagic(21))).toBe(true);
    // 4 + 16 bytes are the magic and the MD5 checksum alone: no protobuf between them.
    expect(isKplAggregate(withMagic(20))).toBe(false);
    expect(isKplAggregate(new Uint8Array(0))).toBe(false);
    for (let byte = 0; byte < 4; byte++) {
      const altered = withMagic(64);
      altered[byte] = altered[byte]! ^ 0x01;
      expect(isKplAggregate(altered), `magic byte ${byte} altered`).toBe(false);
    }
    expect(isKplAggregate(kplAggregate([sampleEvent()]).data)).toBe(true);
    expect(isKplAggregate(Buffer.from(JSON.stringify(sampleEvent())))).toBe(false);
  });
});

describe('deaggregateRecord', () => {
  it('passes a plain record through as one user record with sub-sequence 0, its own key and bytes', () => {
    const record = kinesisRecord('100', sampleEvent(), 'user-9');
    const split = deaggregateRecord(record, 'shardId-7', 3);
    expect(split).toEqual({
      ok: true,
      userRecords: [
        {
          id: { shardId: 'shardId-7', sequenceNumber: '100', subSequenceNumber: 0 },
          partitionKey: 'user-9',
          data: record.data,
        },
      ],
    });
    if (split.ok) expect(split.userRecords[0]!.data).toBe(record.data);
  });

  it('keeps a user record the KCL already de-aggregated as it is, even when its bytes start like an aggregate', () => {
    const aggregate = kplAggregate([sampleEvent(), sampleEvent()]);
    const record: KinesisRecord = { sequenceNumber: '200', subSequenceNumber: 5, ...aggregate };
    expect(deaggregateRecord(record, 's', 0)).toEqual({
      ok: true,
      userRecords: [
        {
          id: { shardId: 's', sequenceNumber: '200', subSequenceNumber: 5 },
          partitionKey: aggregate.partitionKey,
          data: aggregate.data,
        },
      ],
    });
  });

  it('opens an aggregate into its user records, numbered by position, with their own keys and bytes', () => {
    const events = [sampleEvent({ userId: 'a' }), sampleEvent({ userId: 'b' }), sampleEvent({ userId: 'c' })];
    const aggregate = kplAggregate(events);
    const split = deaggregateRecord({ sequenceNumber: '300', ...aggregate }, 'shardId-1', 0);
    expect(split.ok).toBe(true);
    if (!split.ok) return;
    expect(split.userRecords.map((userRecord) => userRecord.id)).toEqual(
      [0, 1, 2].map((subSequenceNumber) => ({ shardId: 'shardId-1', sequenceNumber: '300', subSequenceNumber })),
    );
    expect(split.userRecords.map((userRecord) => userRecord.partitionKey)).toEqual(['pk-0', 'pk-1', 'pk-2']);
    expect(split.userRecords.map((userRecord) => JSON.parse(Buffer.from(userRecord.data).toString()))).toEqual(events);
  });

  it('reports a corrupt aggregate (checksum off) with its index and rule instead of throwing', () => {
    const aggregate = kplAggregate([sampleEvent()]);
    const corrupt = Buffer.from(aggregate.data);
    corrupt[corrupt.length - 1] = corrupt[corrupt.length - 1]! ^ 0xff;
    const split = deaggregateRecord({ sequenceNumber: '400', partitionKey: 'p', data: corrupt }, 's', 6);
    expect(split.ok).toBe(false);
    if (split.ok) return;
    expect(split.rejection).toMatchObject({ index: 6, field: '(record)', rule: 'kpl-aggregate' });
    expect(split.rejection.message).toMatch(/^KPL aggregate could not be decoded: \S/);
  });
});
