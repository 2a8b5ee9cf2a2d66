import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { kinesisRecord, kplAggregate, sampleEvent } from '../test-support/pipeline-doubles.js';
import type { KinesisRecord } from '../types.js';
import { encodeCompactRecord } from '../../common/compact-records.js';
import { generateWorkload } from '../../local/test-support/counter-workload.js';
import { compactEventRecords, decodeShardBatch, isAggregatedRecord, validSourceOf } from './decode-shard-batch.js';

const limits = { maxEventBytes: 8192, maxSegments: 10 };

function aggregate(sequenceNumber: string, payloads: unknown[]): KinesisRecord {
  const encoded = kplAggregate(payloads);
  return { sequenceNumber, partitionKey: encoded.partitionKey, data: encoded.data };
}

describe('decodeShardBatch', () => {
  it('decodes a plain record into a valid event with sub-sequence 0', () => {
    const event = sampleEvent();
    const decoded = decodeShardBatch({ shardId: 'shardId-0', records: [kinesisRecord('100', event)] }, limits);
    expect(decoded.valid).toEqual([
      { id: { shardId: 'shardId-0', sequenceNumber: '100', subSequenceNumber: 0 }, event },
    ]);
    expect(decoded.deadLetters).toEqual([]);
    expect(decoded.lastSequenceNumber).toBe('100');
  });

  it('opens a KPL aggregate into user records numbered by their position', () => {
    const events = [sampleEvent({ userId: 'a' }), sampleEvent({ userId: 'b' }), sampleEvent({ userId: 'c' })];
    const decoded = decodeShardBatch({ shardId: 's', records: [aggregate('200', events)] }, limits);
    expect(decoded.records).toBe(1);
    expect(decoded.userRecords).toBe(3);
    expect(decoded.valid.map((v) => [v.id.subSequenceNumber, v.event.userId])).toEqual([
      [0, 'a'],
      [1, 'b'],
      [2, 'c'],
    ]);
    expect(decoded.validSources.map((s) => s?.partitionKey)).toEqual(['pk-0', 'pk-1', 'pk-2']);
  });

  it('dead-letters a corrupt aggregate whole and keeps going', () => {
    const corrupt = aggregate('300', [sampleEvent()]);
    const bytes = Buffer.from(corrupt.data);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff; // breaks the MD5 checksum
    const decoded = decodeShardBatch(
      { shardId: 's', records: [{ ...corrupt, data: bytes }, kinesisRecord('301', sampleEvent())] },
      limits,
    );
    expect(decoded.deadLetters).toHaveLength(1);
    expect(decoded.deadLetters[0]!.reasons[0]).toMatchObject({ index: 0, field: '(record)', rule: 'kpl-aggregate' });
    expect(decoded.deadLetters[0]!.data).toEqual(bytes);
    expect(decoded.valid).toHaveLength(1);
  });

  it('keeps the sub-sequence number of a record the adapter already de-aggregated', () => {
    const record = { ...kinesisRecord('400', sampleEvent()), subSequenceNumber: 7 };
    const decoded = decodeShardBatch({ shardId: 's', records: [record] }, limits);
    expect(decoded.valid[0]!.id.subSequenceNumber).toBe(7);
  });

  it('gives every poison record a reason naming field and rule', () => {
    const records = [
      kinesisRecord('1', '{"not json'),
      kinesisRecord('2', sampleEvent({ version: 9 })),
      kinesisRecord('3', { ...sampleEvent(), experimentId: undefined }),
      kinesisRecord('4', sampleEvent({ userId: 'x'.repeat(9000) })),
      kinesisRecord('5', { ...sampleEvent(), type: 'conversion' }),
      kinesisRecord('6', sampleEvent()),
    ];
    const decoded = decodeShardBatch({ shardId: 's', records }, limits);
    expect(decoded.valid.map((v) => v.id.sequenceNumber)).toEqual(['6']);
    expect(decoded.deadLetters.map((d) => [d.id.sequenceNumber, d.reasons[0]?.field, d.reasons[0]?.rule])).toEqual([
      ['1', '(event)', 'json'],
      ['2', 'version', 'unsupported-version'],
      ['3', 'experimentId', 'required'],
      ['4', '(event)', 'max-size'],
      ['5', 'metric', 'required-for-conversion'],
    ]);
    expect(decoded.deadLetters.map((d) => d.reasons[0]?.index)).toEqual([0, 1, 2, 3, 4]);
    expect(decoded.deadLetters[0]!.data.toString()).toBe('{"not json');
  });

  it('dead-letters what no sink can take: ill-formed Unicode or UTF-8, dates out of range, values above 1e8', () => {
    // A valid event but for one byte of its userId that is not UTF-8 (it would decode as U+FFFD).
    const invalidUtf8 = Buffer.from(JSON.stringify(sampleEvent({ userId: 'u@' })));
    invalidUtf8[invalidUtf8.indexOf('u@') + 1] = 0xff;
    const records = [
      kinesisRecord('1', sampleEvent({ userId: 'u\ud800' })), // JSON.stringify writes the lone surrogate as \ud800
      kinesisRecord('2', invalidUtf8),
      kinesisRecord('3', sampleEvent({ timestamp: 9e15 })),
      kinesisRecord('4', sampleEvent({ receivedAt: 0 })),
      kinesisRecord('5', sampleEvent({ type: 'conversion', metric: 'revenue', value: 2e8 })),
      kinesisRecord('6', sampleEvent({ userId: 'u\u202e' })),
      kinesisRecord('7', sampleEvent({ userId: 'u\ud83d\ude00' })),
    ];
    const decoded = decodeShardBatch({ shardId: 's', records }, limits);
    expect(decoded.deadLetters.map((d) => [d.id.sequenceNumber, d.reasons[0]?.field, d.reasons[0]?.rule])).toEqual([
      ['1', 'userId', 'well-formed-unicode'],
      ['2', '(event)', 'well-formed-unicode'],
      ['3', 'timestamp', 'date-range'],
      ['4', 'receivedAt', 'date-range'],
      ['5', 'value', 'range'],
      ['6', 'userId', 'bidi-control'],
    ]);
    expect(decoded.valid.map((v) => v.event.userId)).toEqual(['u\ud83d\ude00']);
  });

  it('gives an upper-case eventId its canonical lower-case form', () => {
    const event = sampleEvent({ eventId: 'ABCDEF01-2345-4678-89AB-CDEF01234567' });
    const decoded = decodeShardBatch({ shardId: 's', records: [kinesisRecord('1', event)] }, limits);
    expect(decoded.valid.map((v) => v.event)).toEqual([{ ...event, eventId: 'abcdef01-2345-4678-89ab-cdef01234567' }]);
  });

  it('never throws and accounts for every user record, whatever the bytes', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 20 }), (payloads) => {
        const records = payloads.map((data, i) => ({ sequenceNumber: String(i + 1), partitionKey: 'p', data }));
        const decoded = decodeShardBatch({ shardId: 's', records }, limits);
        expect(decoded.valid.length + decoded.deadLetters.length).toBe(decoded.userRecords);
        expect(decoded.userRecords).toBe(records.length);
      }),
      { numRuns: 200 },
    );
  });
});

describe('decodeShardBatch: compact records', () => {
  it('dead-letters a corrupt compact record whole, counted as one user record, and numbers what follows on', () => {
    const events = [sampleEvent({ userId: 'a' }), sampleEvent({ userId: 'b' })];
    const corrupt = encodeCompactRecord(events);
    corrupt[corrupt.length - 1] = corrupt[corrupt.length - 1]! ^ 0xff; // the checksum no longer matches
    const records: KinesisRecord[] = [
      { sequenceNumber: '1', partitionKey: 'p-1', data: corrupt },
      { sequenceNumber: '2', partitionKey: 'p-2', data: encodeCompactRecord(events) },
    ];
    const decoded = decodeShardBatch({ shardId: 's', records }, limits);
    expect(decoded.deadLetters).toEqual([
      {
        id: { shardId: 's', sequenceNumber: '1', subSequenceNumber: 0 },
        partitionKey: 'p-1',
        data: corrupt,
        reasons: [{ index: 0, field: '(record)', rule: 'compact-record', message: 'compact record checksum mismatch' }],
      },
    ]);
    expect(decoded.userRecords).toBe(3);
    expect(
      decoded.valid.map((valid) => [valid.id.sequenceNumber, valid.id.subSequenceNumber, valid.event.userId]),
    ).toEqual([
      ['2', 0, 'a'],
      ['2', 1, 'b'],
    ]);
  });

  it('dead-letters an invalid event of a compact record alone: its user as partition key, its JSON, its own index', () => {
    const events = [
      sampleEvent({ userId: 'a' }),
      sampleEvent({ userId: 'b', segments: { country: 'FR', device: 'ios', plan: 'pro' } }),
      sampleEvent({ userId: 'c' }),
    ];
    const plain = kinesisRecord('1', sampleEvent({ userId: 'z' }));
    const compact: KinesisRecord = { sequenceNumber: '2', partitionKey: 'p', data: encodeCompactRecord(events) };
    // Two segments at most: the second event has three.
    const decoded = decodeShardBatch({ shardId: 's', records: [plain, compact] }, { ...limits, maxSegments: 2 });
    expect(decoded.userRecords).toBe(4);
    expect(decoded.valid.map((valid) => [valid.id.subSequenceNumber, valid.event.userId])).toEqual([
      [0, 'z'],
      [0, 'a'],
      [2, 'c'],
    ]);
    expect(decoded.deadLetters).toHaveLength(1);
    const [dead] = decoded.deadLetters;
    expect(dead!.id).toEqual({ shardId: 's', sequenceNumber: '2', subSequenceNumber: 1 });
    expect(dead!.partitionKey).toBe('b');
    expect(JSON.parse(Buffer.from(dead!.data).toString())).toMatchObject({ userId: 'b', eventId: events[1]!.eventId });
    expect(dead!.reasons.length).toBeGreaterThan(0);
    for (const reason of dead!.reasons) expect(reason).toMatchObject({ index: 2, field: 'segments' });
  });
});

describe('decodeShardBatch: plain records at the size limit', () => {
  it('takes a record of exactly maxEventBytes and refuses one byte more, naming both sizes', () => {
    const bytes = Buffer.from(JSON.stringify(sampleEvent()));
    const fits = decodeShardBatch(
      { shardId: 's', records: [kinesisRecord('1', bytes)] },
      {
        ...limits,
        maxEventBytes: bytes.byteLength,
      },
    );
    expect(fits.valid).toHaveLength(1);
    const over = decodeShardBatch(
      { shardId: 's', records: [kinesisRecord('1', bytes)] },
      {
        ...limits,
        maxEventBytes: bytes.byteLength - 1,
      },
    );
    expect(over.deadLetters[0]!.reasons).toEqual([
      {
        index: 0,
        field: '(event)',
        rule: 'max-size',
        message: `record is ${bytes.byteLength} bytes; the limit is ${bytes.byteLength - 1}`,
      },
    ]);
  });

  it("names a record that is not JSON, with the parser's reason", () => {
    const decoded = decodeShardBatch({ shardId: 's', records: [kinesisRecord('1', '{"userId": ')] }, limits);
    expect(decoded.deadLetters[0]!.reasons).toEqual([
      { index: 0, field: '(event)', rule: 'json', message: expect.stringMatching(/^not valid JSON: \S/) },
    ]);
  });

  it('names bytes that are not UTF-8', () => {
    const decoded = decodeShardBatch(
      { shardId: 's', records: [kinesisRecord('1', Uint8Array.from([0x7b, 0xff, 0x7d]))] },
      limits,
    );
    expect(decoded.deadLetters[0]!.reasons).toEqual([
      { index: 0, field: '(event)', rule: 'well-formed-unicode', message: 'record is not valid UTF-8' },
    ]);
  });
});

describe('compactEventRecords (how the commit step cuts a compact record to isolate one event)', () => {
  it('gives one-event records that decode to the ids, events and rejections the compact record decodes to', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 2, max: 40 }), (seed, count) => {
        const events = generateWorkload({ seed, events: count, users: 5, covariateKeys: ['purchase', 'click'] });
        // Every fifth event over the segment limit (2 below), so rejected events are cut too.
        const withRejected = events.map((event, index) =>
          index % 5 === 1 ? { ...event, segments: { ...event.segments, a: 'x', b: 'y', c: 'z' } } : event,
        );
        const compact: KinesisRecord = {
          sequenceNumber: '7',
          partitionKey: 'p',
          data: encodeCompactRecord(withRejected),
          approximateArrivalTimestamp: 1_700_000_000_000,
        };
        const cut = compactEventRecords(compact)!;
        expect(cut.map((record) => [record.sequenceNumber, record.subSequenceNumber])).toEqual(
          withRejected.map((_, index) => ['7', index]),
        );
        for (const record of cut) expect(record.approximateArrivalTimestamp).toBe(1_700_000_000_000);
        const strict = { ...limits, maxSegments: 2 };
        const whole = decodeShardBatch({ shardId: 's', records: [compact] }, strict);
        const inParts = decodeShardBatch({ shardId: 's', records: cut }, strict);
        expect(inParts.valid).toEqual(whole.valid);
        expect(
          inParts.deadLetters.map(({ data, ...letter }) => ({ ...letter, data: Buffer.from(data).toString() })),
        ).toEqual(whole.deadLetters.map(({ data, ...letter }) => ({ ...letter, data: Buffer.from(data).toString() })));
        const overLimit = withRejected.flatMap((event, index) =>
          Object.keys(event.segments ?? {}).length > 2 ? [index] : [],
        );
        expect(overLimit.length).toBeGreaterThan(0);
        expect(inParts.deadLetters.map((letter) => letter.id.subSequenceNumber)).toEqual(overLimit);
        expect(inParts.userRecords).toBe(whole.userRecords);
      }),
      { numRuns: 40 },
    );
  });

  it('leaves alone what is not cut: a plain record, a user record already cut, a one-event or unreadable compact record', () => {
    const two = encodeCompactRecord([sampleEvent({ userId: 'a' }), sampleEvent({ userId: 'b' })]);
    expect(compactEventRecords(kinesisRecord('1', sampleEvent()))).toBeUndefined();
    expect(
      compactEventRecords({ sequenceNumber: '1', partitionKey: 'p', data: two, subSequenceNumber: 2 }),
    ).toBeUndefined();
    expect(
      compactEventRecords({ sequenceNumber: '1', partitionKey: 'p', data: encodeCompactRecord([sampleEvent()]) }),
    ).toBeUndefined();
    const damaged = Buffer.from(two);
    damaged.writeUInt8(damaged.readUInt8(damaged.length - 1) ^ 0xff, damaged.length - 1); // the checksum no longer matches
    expect(compactEventRecords({ sequenceNumber: '1', partitionKey: 'p', data: damaged })).toBeUndefined();
    // Sub-sequence 0 is how an adapter hands over a record that was no aggregate: still cut.
    expect(
      compactEventRecords({ sequenceNumber: '1', partitionKey: 'p', data: two, subSequenceNumber: 0 }),
    ).toHaveLength(2);
  });
});

describe('validSourceOf (what a sink refusal dead-letters)', () => {
  it('gives a plain record its own bytes and a compact record’s event its user as partition key and its JSON', () => {
    const events = [sampleEvent({ userId: 'a' }), sampleEvent({ userId: 'b' })];
    const plain = kinesisRecord('1', events[0]);
    const compact: KinesisRecord = { sequenceNumber: '2', partitionKey: 'p', data: encodeCompactRecord(events) };
    const decoded = decodeShardBatch({ shardId: 's', records: [plain, compact] }, limits);
    expect(decoded.valid).toHaveLength(3);
    expect(validSourceOf(decoded, 0)).toMatchObject({ partitionKey: plain.partitionKey, data: plain.data });
    for (const position of [1, 2]) {
      const source = validSourceOf(decoded, position)!;
      const event = decoded.valid[position]!.event;
      expect(source.partitionKey).toBe(event.userId);
      expect(JSON.parse(Buffer.from(source.data).toString())).toEqual(event);
    }
    expect(validSourceOf(decoded, 3)).toBeUndefined();
  });
});

describe("isAggregatedRecord (the shard reader estimates a batch's user records with it)", () => {
  it('agrees with decodeShardBatch on which records hold one user record and which may hold many', () => {
    const events = [sampleEvent({ userId: 'a' }), sampleEvent({ userId: 'b' })];
    const kpl = aggregate('1', events);
    const compact: KinesisRecord = { sequenceNumber: '2', partitionKey: 'p', data: encodeCompactRecord(events) };
    const plain = kinesisRecord('3', events[0]);
    const cases: [KinesisRecord, boolean][] = [
      [kpl, true],
      [compact, true],
      [plain, false],
      // Already de-aggregated (the KCL hands over user records with their sub-sequence number): one each.
      [{ ...kpl, subSequenceNumber: 0 }, false],
      [{ ...compact, subSequenceNumber: 0 }, true],
      [{ ...compact, subSequenceNumber: 3 }, false],
    ];
    for (const [record, aggregated] of cases) {
      expect(isAggregatedRecord(record)).toBe(aggregated);
      const decoded = decodeShardBatch({ shardId: 's', records: [record] }, limits);
      if (!aggregated) expect(decoded.userRecords).toBe(1);
    }
    expect(decodeShardBatch({ shardId: 's', records: [kpl, compact] }, limits).userRecords).toBe(4);
  });
});
