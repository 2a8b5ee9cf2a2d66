import fc from 'fast-check';
import { crc32, inflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { encodeCompactRecord } from './compact-records.js';
import type { StreamEvent } from './event-contract.js';

/**
 * The encoder as first written (entries arrays sorted per event, a Buffer per dictionary string,
 * the body assembled from fresh buffers): the specification the fast encoder must match byte
 * for byte, its body before compression (the deflate level is the encoder's choice).
 */
function referenceEncode(events: readonly StreamEvent[], compress: boolean): Buffer {
  const strings = new Map<string, number>();
  const indexOf = (text: string): number => {
    let index = strings.get(text);
    if (index === undefined) strings.set(text, (index = strings.size));
    return index;
  };
  const bytes: number[] = [];
  const varint = (value: number): void => {
    let rest = value;
    while (rest >= 0x80) {
      bytes.push((rest & 0x7f) | 0x80);
      rest >>>= 7;
    }
    bytes.push(rest);
  };
  const double = (value: number): void => {
    const eight = Buffer.alloc(8);
    eight.writeDoubleLE(value);
    bytes.push(...eight);
  };
  const byOrder = ([a]: [string, unknown], [b]: [string, unknown]): number => (a < b ? -1 : a > b ? 1 : 0);
  const withCovariates = events.some((event) => event.covariates !== undefined);
  varint(events.length);
  for (const event of events) {
    bytes.push(event.type === 'conversion' ? 1 : 0);
    bytes.push(...Buffer.from(event.eventId.replaceAll('-', ''), 'hex'));
    varint(indexOf(event.experimentId));
    varint(indexOf(event.variantId));
    varint(indexOf(event.userId));
    varint(event.metric === undefined ? 0 : indexOf(event.metric) + 1);
    double(event.value);
    double(event.timestamp);
    double(event.receivedAt);
    const segments = Object.entries(event.segments ?? {}).sort(byOrder);
    varint(segments.length);
    for (const [dimension, value] of segments) {
      varint(indexOf(dimension));
      varint(indexOf(value));
    }
    if (!withCovariates) continue;
    if (event.covariates === undefined) {
      varint(0);
      continue;
    }
    const covariates = Object.entries(event.covariates).sort(byOrder);
    varint(covariates.length + 1);
    for (const [name, value] of covariates) {
      varint(indexOf(name));
      double(value);
    }
  }
  const eventBytes = [...bytes];
  bytes.length = 0;
  varint(strings.size);
  for (const text of strings.keys()) {
    const utf8 = Buffer.from(text, 'utf8');
    varint(utf8.length);
    bytes.push(...utf8);
  }
  const body = Buffer.from([...bytes, ...eventBytes]);
  const header = Buffer.from([0x58, 0x43, 0x42, 1, (compress ? 1 : 0) | (withCovariates ? 2 : 0), 0, 0, 0, 0]);
  header.writeUInt32LE(crc32(body), 5);
  return Buffer.concat([header, body]);
}

/** A record as the reference writes it: its body inflated (and the checksum of that) when it is compressed. */
function uncompressed(record: Buffer): Buffer {
  if (((record[4] as number) & 1) === 0) return record;
  expect(record.readUInt32LE(5)).toBe(crc32(record.subarray(9)));
  const body = inflateRawSync(record.subarray(9));
  const header = Buffer.from(record.subarray(0, 9));
  header.writeUInt32LE(crc32(body), 5);
  return Buffer.concat([header, body]);
}

/** Well-formed text: ASCII, accents, other scripts, astral characters; short and long (past 42 and 128 code units). */
const text = fc.oneof(
  fc.stringMatching(/^[a-z0-9-]{1,12}$/),
  fc.string({ unit: 'grapheme', maxLength: 60 }),
  fc.string({ unit: 'grapheme-ascii', minLength: 20, maxLength: 200 }),
  fc.constantFrom('ü', 'zoë-1', '日本語', '😀'.repeat(30), 'x'.repeat(43), 'y'.repeat(128)),
);
const number = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer());
const streamEvent: fc.Arbitrary<StreamEvent> = fc
  .record(
    {
      eventId: fc.uuid(),
      type: fc.constantFrom('impression' as const, 'conversion' as const),
      experimentId: text,
      variantId: text,
      userId: text,
      metric: text,
      value: number,
      segments: fc.dictionary(text, text, { maxKeys: 12 }),
      covariates: fc.dictionary(text, number, { maxKeys: 6 }),
      timestamp: fc.integer({ min: 0, max: 2 ** 45 }),
      receivedAt: fc.integer({ min: 0, max: 2 ** 45 }),
    },
    { requiredKeys: ['eventId', 'type', 'experimentId', 'variantId', 'userId', 'value', 'timestamp', 'receivedAt'] },
  )
  .map((event) => ({ version: 1, ...event }));

describe('compact record encoder', () => {
  it('writes the bytes of the reference encoder, with and without compression (the body before it) (property)', () => {
    fc.assert(
      fc.property(fc.array(streamEvent, { maxLength: 40 }), fc.boolean(), (events, compress) => {
        expect(uncompressed(encodeCompactRecord(events, { compress }))).toEqual(referenceEncode(events, compress));
      }),
      { numRuns: 300 },
    );
  });

  it('writes the bytes of the reference encoder past 127 strings and events (two-byte counts), and after a larger record', () => {
    const many = Array.from({ length: 300 }, (_, i) => ({
      version: 1,
      eventId: `0190a1b2-c3d4-7e5f-8a9b-${String(i).padStart(12, '0')}`,
      type: 'impression' as const,
      experimentId: 'exp-1',
      variantId: i % 2 === 0 ? 'control' : 'treatment',
      userId: `user-${i}-${'u'.repeat(i % 50)}`,
      value: 1,
      segments: { device: 'ios', country: ['DE', 'US', 'FR'][i % 3] as string, [`d${i % 7}`]: `v${i}` },
      timestamp: 1_700_000_000_000 + i,
      receivedAt: 1_700_000_000_000 + i,
    }));
    expect(encodeCompactRecord(many)).toEqual(referenceEncode(many, false));
    // The encoder reuses its scratch bytes: a small record after a large one is still exact.
    const few = many.slice(0, 3);
    expect(encodeCompactRecord(few)).toEqual(referenceEncode(few, false));
  });

  it('sorts names by code units and lists only own segments, as Object.entries does', () => {
    const inherited = Object.create({ zz: 'inherited' }) as Record<string, string>;
    inherited['b'] = '2';
    inherited['a'] = '1';
    inherited['B'] = '0';
    const events: StreamEvent[] = [
      {
        version: 1,
        eventId: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
        type: 'impression',
        experimentId: 'e',
        variantId: 'v',
        userId: 'u',
        value: 1,
        segments: inherited,
        covariates: { z: 1, a: 2, é: 3 },
        timestamp: 1,
        receivedAt: 2,
      },
    ];
    expect(encodeCompactRecord(events)).toEqual(referenceEncode(events, false));
  });
});
