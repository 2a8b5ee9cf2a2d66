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
    for (const byte of utf8) bytes.push(byte); // no spread: a long string would overflow the stack
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
  // U+007F and U+0080 are the edges of the ASCII fast path (one byte, then two).
  fc.constantFrom(
    'ü',
    'zoë-1',
    '日本語',
    '😀'.repeat(30),
    'x'.repeat(43),
    'y'.repeat(128),
    '\u007f',
    'a\u0080',
    '\u0080',
  ),
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

/** A contract-valid impression numbered `i`, with `fields` over it. */
function eventAt(i: number, fields: Partial<StreamEvent> = {}): StreamEvent {
  return {
    version: 1,
    eventId: `0190a1b2-c3d4-7e5f-8a9b-${String(i).padStart(12, '0')}`,
    type: 'impression',
    experimentId: 'exp-1',
    variantId: 'control',
    userId: `user-${i}`,
    value: 1,
    timestamp: 1_700_000_000_000 + i,
    receivedAt: 1_700_000_000_000 + i,
    ...fields,
  };
}

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

  it('writes the one-byte and two-byte edges of UTF-8 in short strings (U+007F, U+0080)', () => {
    const events = ['\u007f', '\u0080', 'ab\u0080', 'x\u07ff', '\u0800'].map((userId, i) =>
      eventAt(i, { userId, segments: { d: userId } }),
    );
    const record = encodeCompactRecord(events);
    expect(record).toEqual(referenceEncode(events, false));
    expect(record.includes(Buffer.from('ab\u0080', 'utf8'))).toBe(true);
  });

  it('counts dictionaries of 127, 128, 16,383 and 16,384 strings in one, two and three varint bytes', () => {
    const counts: [number, number[]][] = [
      [127, [0x7f]],
      [128, [0x80, 0x01]],
      [16_383, [0xff, 0x7f]],
      [16_384, [0x80, 0x80, 0x01]],
    ];
    for (const [size, varint] of counts) {
      // One event brings experiment, variant and user; the rest are segment dimensions and values.
      const segments: Record<string, string> = {};
      for (let i = 0; i < Math.floor((size - 3) / 2); i++) segments[`d${String(i).padStart(5, '0')}`] = `v${i}`;
      if ((size - 3) % 2 === 1) segments['z'] = 'v0'; // one string more: 'v0' is there already
      const events = [eventAt(0, { segments })];
      const record = encodeCompactRecord(events);
      expect(record).toEqual(referenceEncode(events, false));
      // The body starts after the 9-byte header: the string count, then the first string's length ('exp-1').
      expect([...record.subarray(9, 9 + varint.length + 1)], `${size} strings`).toEqual([...varint, 5]);
    }
  });

  it('grows its scratch bytes for a string longer than twice their size, and for events with thousands of segments', () => {
    // 200,000 two-byte characters (400 KB of UTF-8, 600 KB ensured): more than twice any scratch the tests before grew.
    const long = [eventAt(0, { userId: '\u00e9'.repeat(200_000) })];
    expect(encodeCompactRecord(long)).toEqual(referenceEncode(long, false));
    // Twenty events of 2,000 segments each (about 8 KB per event) cross the scratch's end at least
    // twice; each must be ensured in full before its unchecked writes.
    const wide = Array.from({ length: 20 }, (_, e) => {
      const segments: Record<string, string> = {};
      for (let i = 0; i < 2000; i++) segments[`d${String(i).padStart(4, '0')}`] = `v${(i + e) % 7}`;
      return eventAt(e, { segments });
    });
    expect(encodeCompactRecord(wide)).toEqual(referenceEncode(wide, false));
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
