import { describe, expect, it } from 'vitest';
import type { DeadLetter } from '../types.js';
import {
  deadLetterPartitionKey,
  decodeDeadLetter,
  encodeDeadLetter,
  originalBytes,
  type DeadLetterEnvelope,
} from './envelope.js';
import { chunkPutEntries } from '../../common/kinesis/put-records.js';

const letter = (data: Uint8Array, overrides: Partial<DeadLetter> = {}): DeadLetter => ({
  id: {
    shardId: 'shardId-000000000001',
    sequenceNumber: '49660000000000000000000000000000000000000001',
    subSequenceNumber: 3,
  },
  partitionKey: 'user-42',
  data,
  reasons: [{ index: 0, field: 'value', rule: 'type', message: 'must be a number' }],
  ...overrides,
});
const context = { sourceStream: 'ExperimentEvents', deadLetteredAt: new Date('2026-11-24T01:59:00.000Z') };

function decoded(bytes: Uint8Array): DeadLetterEnvelope {
  const decoding = decodeDeadLetter(bytes);
  if (!decoding.ok) throw new Error(decoding.error);
  return decoding.envelope;
}

describe('dead-letter envelope', () => {
  it('round-trips the original bytes, reasons and source position', () => {
    const original = Buffer.from('{"eventId": not json \u0000 \xff');
    const envelope = decoded(encodeDeadLetter(letter(original), context).bytes);
    expect(originalBytes(envelope).equals(original)).toBe(true);
    expect(envelope).toMatchObject({
      v: 2,
      dataBytes: original.byteLength,
      truncated: false,
      reasons: [{ index: 0, field: 'value', rule: 'type', message: 'must be a number' }],
      takenBy: [],
      sourceStream: 'ExperimentEvents',
      shardId: 'shardId-000000000001',
      sequenceNumber: '49660000000000000000000000000000000000000001',
      subSequenceNumber: 3,
      partitionKey: 'user-42',
      deadLetteredAt: '2026-11-24T01:59:00.000Z',
    });
  });

  it('truncates an original that cannot fit one Kinesis record, flags it and keeps the original length', () => {
    const original = Buffer.alloc(900 * 1024, 0x61);
    const encoded = encodeDeadLetter(letter(original), context);
    expect(encoded.truncated).toBe(true);
    expect(encoded.bytes.byteLength + Buffer.byteLength('user-42')).toBeLessThanOrEqual(1024 * 1024);
    const envelope = decoded(encoded.bytes);
    expect(envelope.truncated).toBe(true);
    expect(envelope.dataBytes).toBe(original.byteLength);
    expect(original.subarray(0, originalBytes(envelope).byteLength).equals(originalBytes(envelope))).toBe(true);
  });

  it('keeps an original that exactly fits without truncating it', () => {
    const small = encodeDeadLetter(letter(Buffer.alloc(3000, 0x62)), context, 8 * 1024);
    expect(small.truncated).toBe(false);
    const cut = encodeDeadLetter(letter(Buffer.alloc(9000, 0x62)), context, 8 * 1024);
    expect(cut.truncated).toBe(true);
    expect(cut.bytes.byteLength + Buffer.byteLength('user-42')).toBeLessThanOrEqual(8 * 1024);
  });

  it('bounds the number and length of reasons', () => {
    const reasons = Array.from({ length: 500 }, (_, index) => ({
      index,
      field: 'f',
      rule: 'r',
      message: 'x'.repeat(5000),
    }));
    const envelope = decoded(encodeDeadLetter(letter(Buffer.from('{}'), { reasons }), context).bytes);
    expect(envelope.reasons).toHaveLength(100);
    expect(envelope.reasons[0]?.message.length).toBeLessThanOrEqual(1001);
  });

  it('reports records that are not envelopes instead of throwing', () => {
    expect(decodeDeadLetter(Buffer.from('not json'))).toEqual({ ok: false, error: 'not JSON' });
    expect(decodeDeadLetter(Buffer.from('{"v":3}'))).toEqual({ ok: false, error: 'unsupported envelope version 3' });
    expect(decodeDeadLetter(Buffer.from('{"v":1,"data":5}'))).toMatchObject({ ok: false });
    expect(decodeDeadLetter(Buffer.from('{"v":2,"data":5}'))).toMatchObject({ ok: false });
  });

  it('records the sinks that already took the record (version 2), without duplicates, in a fixed order', () => {
    const envelope = decoded(
      encodeDeadLetter(letter(Buffer.from('{}'), { takenBy: ['index', 'counters', 'index'] }), context).bytes,
    );
    expect(envelope).toMatchObject({ v: 2, takenBy: ['counters', 'index'] });
    expect(
      decoded(encodeDeadLetter(letter(Buffer.from('{}'), { takenBy: ['counters'] }), context).bytes).takenBy,
    ).toEqual(['counters']);
  });

  it('still decodes version-1 letters: taken by no sink, except index-rejected ones, which the counters took', () => {
    // Exactly what the version-1 writer produced (no takenBy field).
    const v1 = (rule: string) =>
      Buffer.from(
        JSON.stringify({
          v: 1,
          data: Buffer.from('{"eventId":"0f8c1a52-6a3e-4c0b-9d2e-1f4b5c6d7e02"}').toString('base64'),
          dataBytes: 50,
          truncated: false,
          reasons: [{ index: 3, field: '(event)', rule, message: 'mapper_parsing_exception: failed to parse [value]' }],
          sourceStream: 'ExperimentEvents',
          shardId: 'shardId-000000000001',
          sequenceNumber: '49660000000000000000000000000000000000000007',
          subSequenceNumber: 0,
          partitionKey: 'user-7',
          deadLetteredAt: '2026-11-20T10:00:00.000Z',
        }),
      );
    expect(decoded(v1('index-rejected'))).toMatchObject({
      v: 1,
      takenBy: ['counters'],
      partitionKey: 'user-7',
      reasons: [{ rule: 'index-rejected' }],
    });
    expect(decoded(v1('required'))).toMatchObject({ v: 1, takenBy: [], partitionKey: 'user-7' });
  });

  it('refuses a version-2 letter whose takenBy is missing or names an unknown sink, rather than replay it', () => {
    const v2 = (takenBy: unknown) => {
      const envelope = JSON.parse(
        Buffer.from(encodeDeadLetter(letter(Buffer.from('{}')), context).bytes).toString('utf8'),
      ) as Record<string, unknown>;
      if (takenBy === undefined) delete envelope.takenBy;
      else envelope.takenBy = takenBy;
      return Buffer.from(JSON.stringify(envelope));
    };
    expect(decodeDeadLetter(v2(['warehouse']))).toEqual({ ok: false, error: 'missing or unknown sinks in takenBy' });
    expect(decodeDeadLetter(v2(undefined))).toMatchObject({ ok: false });
    expect(decodeDeadLetter(v2('counters'))).toMatchObject({ ok: false });
    expect(decoded(v2(['counters'])).takenBy).toEqual(['counters']);
  });

  it('writes a letter under its original partition key, or its shard id when it had none', () => {
    expect(deadLetterPartitionKey(letter(Buffer.from('x')))).toBe('user-42');
    expect(deadLetterPartitionKey(letter(Buffer.from('x'), { partitionKey: '' }))).toBe('shardId-000000000001');
  });
});

describe('chunkPutEntries', () => {
  const entry = (bytes: number) => ({ data: new Uint8Array(bytes), partitionKey: 'k' });

  it('cuts at 500 records and keeps order', () => {
    const entries = Array.from({ length: 1201 }, (_, index) => ({
      data: new Uint8Array(1),
      partitionKey: `k${index}`,
    }));
    const chunks = chunkPutEntries(entries);
    expect(chunks.map((chunk) => chunk.length)).toEqual([500, 500, 201]);
    expect(chunks.flat().map((e) => e.partitionKey)).toEqual(entries.map((e) => e.partitionKey));
  });

  it('cuts before 5 MiB counting data and partition keys', () => {
    const chunks = chunkPutEntries(Array.from({ length: 12 }, () => entry(1024 * 1024 - 1)));
    expect(chunks.map((chunk) => chunk.length)).toEqual([5, 5, 2]);
    for (const chunk of chunks) {
      const bytes = chunk.reduce((sum, e) => sum + e.data.byteLength + e.partitionKey.length, 0);
      expect(bytes).toBeLessThanOrEqual(5 * 1024 * 1024);
    }
  });
});
