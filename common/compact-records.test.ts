import fc from 'fast-check';
import { crc32, deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { generateWorkload } from '../local/test-support/counter-workload.js';
import {
  decodeCompactRecord,
  encodeCompactRecord,
  InvalidCompactEvent,
  isCompactRecord,
  readCompactRecord,
} from './compact-records.js';
import type { StreamEvent } from './event-contract.js';
import { DEFAULT_EVENT_LIMITS } from './config.js';
import { createEventIdGenerator, writeUuidBytes } from './event-ids.js';
import { normalizeIncomingEvent, validateStreamEvent } from './validate-event.js';

const LIMITS = { maxSegments: 10 };
const AT = Date.UTC(2026, 0, 1);

const event = (overrides: Partial<StreamEvent> = {}): StreamEvent => ({
  version: 1,
  eventId: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
  type: 'conversion',
  experimentId: 'exp-1',
  variantId: 'treatment',
  userId: 'user-ü-1',
  metric: 'purchase',
  value: 12.99,
  segments: { device: 'ios', country: 'DE' },
  timestamp: AT,
  receivedAt: AT + 5,
  ...overrides,
});

function decodedEvents(data: Uint8Array) {
  const decoded = decodeCompactRecord(data, 0, LIMITS);
  if (!decoded.ok) throw new Error(`record refused: ${decoded.rejection.message}`);
  return decoded.events;
}

/** Flips the CRC so a hand-edited body is read (tests of the event rules, not of the checksum). */
async function withFixedChecksum(record: Buffer): Promise<Buffer> {
  const { crc32 } = await import('node:zlib');
  record.writeUInt32LE(crc32(record.subarray(9)), 5);
  return record;
}

describe('compact record format', () => {
  it('round-trips an event with a string larger than the buffer the encoder starts with', () => {
    // 128 three-byte characters: one string's 384 bytes exceed what the body writer holds (a few dozen bytes per string).
    const userId = '€'.repeat(128);
    const longSegments = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`d${i}`, `${'€'.repeat(63)}${i}`]));
    const cases: Partial<StreamEvent>[] = [
      { type: 'impression', metric: undefined, value: 1, segments: undefined, userId },
      { userId, segments: longSegments },
    ];
    for (const overrides of cases) {
      const original = JSON.parse(JSON.stringify(event(overrides))) as StreamEvent; // without undefined fields
      for (const compress of [false, true]) {
        const [decoded] = decodedEvents(encodeCompactRecord([original], { compress }));
        expect(decoded).toEqual({ ok: true, event: original });
      }
    }
  });

  it('decodes every event shape with its fields in the order of the JSON records, the same through both readers', () => {
    // The JSON text of a decoded event is what a dead letter or the index sink writes: whatever the shape and the
    // record format, its keys come in the order normalizeIncomingEvent writes them into JSON records.
    const ORDER = [
      'version',
      'eventId',
      'type',
      'experimentId',
      'variantId',
      'userId',
      'metric',
      'value',
      'segments',
      'covariates',
      'timestamp',
      'receivedAt',
    ];
    const shapes: Partial<StreamEvent>[] = [
      {}, // a conversion with segments
      { segments: undefined }, // a conversion without segments
      { type: 'impression', metric: undefined, value: 1 }, // an impression with segments
      { type: 'impression', metric: undefined, value: 1, segments: undefined }, // an impression without segments
      { type: 'impression', metric: undefined, value: 1, covariates: { orders: 2, revenue: 3.5 } },
      { type: 'impression', metric: undefined, value: 1, segments: undefined, covariates: { orders: 2 } },
    ];
    const originals = shapes.map((overrides) => JSON.parse(JSON.stringify(event(overrides))) as StreamEvent);
    const record = encodeCompactRecord(originals);
    const read = readCompactRecord(record, 0, LIMITS);
    if (!read.ok) throw new Error(read.rejection.message);
    expect(read.events).toEqual(originals);
    expect(read.events.map((decoded) => Object.keys(decoded))).toEqual(
      originals.map((original) => ORDER.filter((key) => key in original)),
    );
    expect(decodedEvents(record).map((decoded) => decoded.ok && JSON.stringify(decoded.event))).toEqual(
      read.events.map((decoded) => JSON.stringify(decoded)),
    );
    // The collector's JSON path gives each event the very same keys in the same order.
    const viaJson = originals.map(({ receivedAt, ...incoming }) => {
      const normalized = normalizeIncomingEvent(incoming, {
        index: 0,
        now: receivedAt, // the collector sets receivedAt
        limits: DEFAULT_EVENT_LIMITS,
        newEventId: () => incoming.eventId,
      });
      return normalized.ok ? Object.keys(normalized.event) : normalized.rejections;
    });
    expect(read.events.map((decoded) => Object.keys(decoded))).toEqual(viaJson);
  });

  it('round-trips a workload exactly, with and without compression, in far fewer bytes than JSON', () => {
    const events = generateWorkload({ seed: 7, events: 500, users: 60, duplicateRate: 0 }).map((v) => v);
    for (const compress of [false, true]) {
      const record = encodeCompactRecord(events, { compress });
      expect(isCompactRecord(record)).toBe(true);
      const decoded = decodedEvents(record);
      expect(decoded.map((d) => (d.ok ? d.event : d.rejections))).toEqual(
        events.map((e) => ({ ...e, eventId: e.eventId.toLowerCase() })),
      );
      const jsonBytes = events.reduce((sum, e) => sum + Buffer.byteLength(JSON.stringify(e)), 0);
      expect(record.length).toBeLessThan(jsonBytes / (compress ? 5 : 3));
    }
  });

  it('gives an impression without metric and without segments back as it was', () => {
    const impression = event({ type: 'impression', metric: undefined, segments: undefined, value: 1 });
    delete impression.metric;
    delete impression.segments;
    expect(decodedEvents(encodeCompactRecord([impression]))).toEqual([{ ok: true, event: impression }]);
  });

  it('refuses to encode a string that is not well-formed Unicode (UTF-8 cannot hold it: it would change)', () => {
    expect(() => encodeCompactRecord([event({ userId: 'u\ud800' })])).toThrow(/well-formed/);
  });

  it('refuses a record whose checksum, version, flags or framing is wrong, naming the rule, never throwing', () => {
    const good = encodeCompactRecord([event(), event({ userId: 'u2' })]);
    const cases: [string, (b: Buffer) => void, RegExp][] = [
      ['checksum', (b) => b.writeUInt8(b.readUInt8(b.length - 3) ^ 0xff, b.length - 3), /checksum mismatch/],
      ['version', (b) => (b[3] = 2), /version 2 is not supported/],
      ['flags', (b) => (b[4] = 0x80), /unknown compact record flags/],
    ];
    for (const [, corrupt, message] of cases) {
      const copy = Buffer.from(good);
      corrupt(copy);
      const decoded = decodeCompactRecord(copy, 3, LIMITS);
      expect(decoded).toMatchObject({ ok: false, rejection: { index: 3, field: '(record)', rule: 'compact-record' } });
      if (!decoded.ok) expect(decoded.rejection.message).toMatch(message);
    }
  });

  it('refuses truncated or padded bodies (checksum fixed up, so the framing rule itself is what refuses)', async () => {
    const good = encodeCompactRecord([event()]);
    const truncated = await withFixedChecksum(Buffer.from(good.subarray(0, good.length - 4)));
    const padded = await withFixedChecksum(Buffer.concat([good, Buffer.from([0])]));
    expect(decodeCompactRecord(truncated, 0, LIMITS)).toMatchObject({
      ok: false,
      rejection: { rule: 'compact-record', message: expect.stringMatching(/truncated/) as unknown },
    });
    expect(decodeCompactRecord(padded, 0, LIMITS)).toMatchObject({
      ok: false,
      rejection: { rule: 'compact-record', message: expect.stringMatching(/1 bytes after the last event/) as unknown },
    });
  });

  it('refuses only the event that breaks a contract rule, with the JSON validator’s field and rule', () => {
    const events = [
      event({ userId: 'ok-1' }),
      event({ value: 1e9 }),
      event({ experimentId: 'bad key!' }),
      event({ userId: 'tab\there' }),
      event({ timestamp: Date.UTC(2101, 0, 1) }),
      event({ segments: { 'bad key': 'x' } }),
      event({ userId: 'ok-2' }),
    ];
    const decoded = decodedEvents(encodeCompactRecord(events));
    expect(decoded.map((d) => d.ok)).toEqual([true, false, false, false, false, false, true]);
    const reasons = decoded.flatMap((d, index) => (d.ok ? [] : [{ index, ...d.rejections[0] }]));
    expect(reasons.map(({ index, field, rule }) => ({ index, field, rule }))).toEqual([
      { index: 1, field: 'value', rule: 'range' },
      { index: 2, field: 'experimentId', rule: 'pattern' },
      { index: 3, field: 'userId', rule: 'control-character' },
      { index: 4, field: 'timestamp', rule: 'date-range' },
      { index: 5, field: 'segments.bad key', rule: 'pattern' },
    ]);
  });

  it('refuses an event with more dimensions than the limit, and one that repeats a dimension', async () => {
    const many = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`d${String(i).padStart(2, '0')}`, 'v']));
    const [tooMany] = decodedEvents(encodeCompactRecord([event({ segments: many })]));
    expect(tooMany).toMatchObject({ ok: false, rejections: [{ field: 'segments', rule: 'max-properties' }] });

    // Hand-made: the encoder cannot write a repeated dimension, another producer could.
    const record = encodeCompactRecord([event({ segments: { a: 'x', b: 'y' } })]);
    const edited = Buffer.from(record);
    // The record ends with the segments: (dimension, value) string indices, one byte each here.
    // Make the second dimension the first one.
    edited[edited.length - 2] = edited[edited.length - 4]!;
    const [repeated] = decodedEvents(await withFixedChecksum(edited));
    expect(repeated).toMatchObject({ ok: false, rejections: [{ field: 'segments', rule: 'duplicate-key' }] });
  });

  it('accepts exactly the events the JSON validator accepts, with the same fields refused (random field values)', () => {
    const text = fc.oneof(
      fc.constantFrom('exp-1', 'a', 'A.b:c-d_e', '', ' ', 'x'.repeat(64), 'x'.repeat(65), 'é', '\u202e', 'a\u0000'),
      fc.string({ unit: 'grapheme', maxLength: 70 }),
    );
    const arbitraryEvent = fc.record({
      experimentId: text,
      variantId: text,
      userId: fc.oneof(text, fc.string({ unit: 'grapheme', minLength: 120, maxLength: 140 })),
      type: fc.constantFrom<'impression' | 'conversion'>('impression', 'conversion'),
      metric: fc.option(text, { nil: undefined }),
      value: fc.oneof(fc.double(), fc.constantFrom(1e8, -1e8, 1e8 + 1, 0, 12.5)),
      timestamp: fc.oneof(fc.constantFrom(AT, 0, Date.UTC(2100, 0, 1), Date.UTC(2100, 0, 1) - 1), fc.double()),
      segments: fc.option(fc.dictionary(text, text, { maxKeys: 12 }), { nil: undefined }),
      covariates: fc.option(
        fc.dictionary(
          text,
          fc.oneof(fc.double(), fc.constantFrom(1e8, -1e8, 1e8 + 1, 0, -2.5)).map((v) => (v === 0 ? 0 : v)),
          { maxKeys: 22 },
        ),
        { nil: undefined },
      ),
    });
    fc.assert(
      fc.property(fc.array(arbitraryEvent, { minLength: 1, maxLength: 8 }), (drafts) => {
        const events = drafts.map((draft, i) => {
          // -0 is not a JSON value (it reads back as 0): compare like with like.
          const value = draft.value === 0 ? 0 : draft.value;
          const e: StreamEvent = {
            ...event(),
            ...draft,
            value,
            eventId: `0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a${String(i).padStart(2, '0')}`,
          };
          if (draft.metric === undefined) delete e.metric;
          if (draft.segments === undefined) delete e.segments;
          if (draft.covariates === undefined) delete e.covariates;
          return e;
        });
        const decoded = decodedEvents(encodeCompactRecord(events));
        decoded.forEach((result, i) => {
          const json = validateStreamEvent(JSON.parse(JSON.stringify(events[i])), i, LIMITS);
          expect(result.ok).toBe(json.ok);
          if (result.ok && json.ok) expect(result.event).toEqual(json.event);
          if (!result.ok && !json.ok) {
            // Same fields refused. Among several bad segments the schema names the first it meets, and
            // the two sides list segments in different orders: compare segment rejections as one field.
            const fields = (list: { field: string }[]) =>
              [...new Set(list.map((r) => (r.field.startsWith('segments.') ? 'segments.*' : r.field)))].sort();
            expect(fields(result.rejections)).toEqual(fields(json.rejections));
          }
        });
      }),
      { numRuns: 300, seed: 20261126 },
    );
  });
});

describe('compact record format: segment names that are special in JavaScript', () => {
  it('keeps a `__proto__` segment as a field, like JSON.parse (and refuses it by the key rule)', () => {
    const segments = JSON.parse('{"__proto__":"x","device":"ios"}') as Record<string, string>;
    const [decoded] = decodedEvents(encodeCompactRecord([event({ segments })]));
    expect(decoded).toMatchObject({ ok: false, rejections: [{ field: 'segments.__proto__', rule: 'pattern' }] });
    if (decoded && !decoded.ok)
      expect(Object.keys(decoded.event['segments'] as object)).toEqual(['__proto__', 'device']);
  });
});

/** A compact record around hand-written body bytes, with a correct header and checksum. */
function recordOfBody(body: readonly number[] | Buffer, flags = 0): Buffer {
  const stored = Buffer.from(body);
  const header = Buffer.from([0x58, 0x43, 0x42, 1, flags, 0, 0, 0, 0]);
  header.writeUInt32LE(crc32(stored), 5);
  return Buffer.concat([header, stored]);
}

/** A body's dictionary: string count, then each string's length and UTF-8 bytes (lengths < 128). */
const dictionary = (...strings: string[]): number[] => [
  strings.length,
  ...strings.flatMap((text) => [Buffer.byteLength(text), ...Buffer.from(text)]),
];

/** One event's bytes: type, eventId, string indices (< 128), numbers, segment index pairs. */
function eventBytes(fields: {
  type?: number;
  ids?: [number, number, number];
  metricPlusOne?: number;
  numbers?: [number, number, number];
  segments?: number[];
}): number[] {
  const numbers = Buffer.alloc(24);
  (fields.numbers ?? [1, AT, AT + 5]).forEach((n, i) => numbers.writeDoubleLE(n, i * 8));
  const segments = fields.segments ?? [];
  return [
    fields.type ?? 1,
    ...Buffer.from('0190a1b2c3d47e5f8a9b0c1d2e3f4a5b', 'hex'),
    ...(fields.ids ?? [0, 1, 2]),
    fields.metricPlusOne ?? 4,
    ...numbers,
    segments.length / 2,
    ...segments,
  ];
}

const rejectionOf = (data: Uint8Array) => {
  const decoded = decodeCompactRecord(data, 5, LIMITS);
  return decoded.ok ? undefined : decoded.rejection;
};
const malformed = (detail: string) => ({
  index: 5,
  field: '(record)',
  rule: 'compact-record',
  message: `compact record is malformed: ${detail}`,
});

describe('compact record format: framing of hand-written bodies', () => {
  const STRINGS = dictionary('exp-1', 'treatment', 'user-1', 'purchase');

  it('reads a hand-written body event for event, field for field', () => {
    const [decoded] = decodedEvents(recordOfBody([...STRINGS, 1, ...eventBytes({})]));
    expect(decoded).toEqual({
      ok: true,
      event: {
        version: 1,
        eventId: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
        type: 'conversion',
        experimentId: 'exp-1',
        variantId: 'treatment',
        userId: 'user-1',
        metric: 'purchase',
        value: 1,
        timestamp: AT,
        receivedAt: AT + 5,
      },
    });
    expect(decodedEvents(recordOfBody([0, 0]))).toEqual([]);
    expect(decodedEvents(recordOfBody([...dictionary('', 'ab'), 0]))).toEqual([]);
  });

  it.each([
    ['a varint longer than 4 bytes', [0x80, 0x80, 0x80, 0x80, 0x01], 'varint longer than 4 bytes'],
    ['a varint cut short', [0x80], 'truncated varint'],
    ['more strings than the record has bytes', [0x05], 'string count 5 exceeds the record'],
    ['a 4-byte string count', [0xff, 0xff, 0xff, 0x7f], 'string count 268435455 exceeds the record'],
    ['as many strings as bytes, cut short', [0x02, 0x00], 'truncated varint'],
    ['a string longer than the rest', [0x01, 0x03, 0x61, 0x62], 'truncated string'],
    ['more events than the record has bytes', [0x00, 0x05], 'event count 5 exceeds the record'],
    ['as many events as bytes', [0x00, 0x02], 'truncated record'],
    ['a varint that ends with the record', [0x80, 0x80, 0x80], 'truncated varint'],
    ['an event with no bytes', [0x00, 0x01], 'truncated record'],
    ['an eventId cut short', [0x00, 0x01, 0x01, ...Array<number>(15).fill(0xaa)], 'truncated eventId'],
    ['a number cut short', [...STRINGS, 1, ...eventBytes({}).slice(0, 1 + 16 + 4 + 7)], 'truncated number'],
    [
      'a string index beyond the dictionary',
      [...STRINGS, 1, ...eventBytes({ ids: [0, 1, 9] })],
      'string index 9 out of range (4 strings)',
    ],
    [
      'a metric index beyond the dictionary',
      [...STRINGS, 1, ...eventBytes({ metricPlusOne: 5 })],
      'string index 4 out of range (4 strings)',
    ],
    [
      'a segment string index beyond the dictionary',
      [...STRINGS, 1, ...eventBytes({ segments: [0, 7] })],
      'string index 7 out of range (4 strings)',
    ],
    ['a body that ends after the eventId', [0x00, 0x01, 0x01, ...Array<number>(16).fill(0xaa)], 'truncated varint'],
    ['a body that ends after the numbers', [...STRINGS, 1, ...eventBytes({}).slice(0, -1)], 'truncated varint'],
    [
      'as many segments as the record has bytes, cut short',
      [...STRINGS, 1, ...eventBytes({}).slice(0, -1), STRINGS.length + 1 + eventBytes({}).length],
      'truncated varint',
    ],
    [
      'more segments than the record has bytes',
      [...STRINGS, 1, ...eventBytes({}).slice(0, -1), 0xff, 0x01],
      'segment count 255 exceeds the record',
    ],
  ] as [string, number[], string][])('refuses %s, naming the fault', (_name, body, detail) => {
    expect(rejectionOf(recordOfBody(body))).toEqual(malformed(detail));
  });

  it('reads a byte view that is not a Buffer, at any offset in its memory', () => {
    const record = encodeCompactRecord([event()]);
    const memory = new Uint8Array(record.length + 7);
    memory.set(record, 3);
    const view = memory.subarray(3, 3 + record.length);
    expect(Buffer.isBuffer(view)).toBe(false);
    expect(decodedEvents(view)).toEqual(decodedEvents(record));
  });

  it('tells a compact record by its 9-byte header and its magic, byte by byte', () => {
    const record = encodeCompactRecord([event()]);
    expect(isCompactRecord(record.subarray(0, 9))).toBe(true);
    expect(isCompactRecord(record.subarray(0, 8))).toBe(false);
    for (const at of [0, 1, 2]) {
      const copy = Buffer.from(record);
      copy[at] = 0x41;
      expect(isCompactRecord(copy)).toBe(false);
      expect(rejectionOf(copy)).toEqual({
        index: 5,
        field: '(record)',
        rule: 'compact-record',
        message: 'not a compact record (magic number missing)',
      });
    }
  });

  it('marks a compressed body in the flags and refuses one that does not inflate or inflates beyond 32 MiB', () => {
    const plain = encodeCompactRecord([event()]);
    const compressed = encodeCompactRecord([event()], { compress: true });
    expect([plain[4], compressed[4]]).toEqual([0, 1]);
    expect(plain[3]).toBe(1);
    expect(rejectionOf(recordOfBody([0xff, 0xff, 0xff], 1))?.message).toMatch(
      /^compact record body does not inflate: /,
    );
    const bomb = deflateRawSync(Buffer.alloc(32 * 1024 * 1024 + 1));
    expect(rejectionOf(recordOfBody(bomb, 1))?.message).toMatch(/^compact record body does not inflate: /);
    expect(rejectionOf(recordOfBody([0, 0], 0x04))?.message).toBe('unknown compact record flags 4');
    expect(rejectionOf(recordOfBody([0, 0], 0x07))?.message).toBe('unknown compact record flags 7');
    expect(decodedEvents(recordOfBody([0, 0], 0x02))).toEqual([]);
    const version0 = recordOfBody([0, 0]);
    version0[3] = 0;
    expect(rejectionOf(version0)?.message).toBe('compact record version 0 is not supported (supported: 1)');
    const badChecksum = recordOfBody([0, 0]);
    badChecksum.writeUInt8(badChecksum.readUInt8(5) ^ 1, 5);
    expect(rejectionOf(badChecksum)?.message).toBe('compact record checksum mismatch');
  });

  it('lists an invalid event in its place between valid ones: as InvalidCompactEvent (readCompactRecord), as ok: false (decodeCompactRecord)', () => {
    const record = recordOfBody([...STRINGS, 3, ...eventBytes({}), ...eventBytes({ type: 7 }), ...eventBytes({})]);
    const read = readCompactRecord(record, 0, LIMITS);
    if (!read.ok) throw new Error(read.rejection.message);
    expect(read.events.map((e) => (e instanceof InvalidCompactEvent ? e.rejections[0]?.rule : e.type))).toEqual([
      'conversion',
      'enum',
      'conversion',
    ]);
    const [first, second, third] = decodedEvents(record);
    expect([first?.ok, second?.ok, third?.ok]).toEqual([true, false, true]);
    const invalid = read.events[1] as InvalidCompactEvent;
    expect(second).toEqual({ ok: false, rejections: invalid.rejections, event: invalid.event });
    expect(first).toEqual({ ok: true, event: read.events[0] });
  });

  it('refuses an unknown type byte by the enum rule, showing the byte', () => {
    const [decoded] = decodedEvents(recordOfBody([...STRINGS, 1, ...eventBytes({ type: 7 })]));
    expect(decoded).toMatchObject({
      ok: false,
      rejections: [{ index: 0, field: 'type', rule: 'enum' }],
      event: { type: '(type byte 7)', userId: 'user-1' },
    });
  });

  it('refuses a conversion without metric, and accepts an impression without one', () => {
    const [conversion, impression] = decodedEvents(
      recordOfBody([...STRINGS, 2, ...eventBytes({ metricPlusOne: 0 }), ...eventBytes({ type: 0, metricPlusOne: 0 })]),
    );
    expect(conversion).toMatchObject({
      ok: false,
      rejections: [{ field: 'metric', rule: 'required-for-conversion' }],
    });
    expect(impression).toMatchObject({ ok: true, event: { type: 'impression' } });
    expect(impression?.ok && Object.keys(impression.event)).toEqual([
      'version',
      'eventId',
      'type',
      'experimentId',
      'variantId',
      'userId',
      'value',
      'timestamp',
      'receivedAt',
    ]);
  });

  it('refuses dimensions out of code-unit order (the format sorts them), saying so', () => {
    // Strings 4 and 5: 'b', 'a' — listed b then a.
    const strings = dictionary('exp-1', 'treatment', 'user-1', 'purchase', 'b', 'a');
    const [decoded] = decodedEvents(recordOfBody([...strings, 1, ...eventBytes({ segments: [4, 2, 5, 2] })]));
    expect(decoded).toEqual({
      ok: false,
      rejections: [
        {
          index: 0,
          field: 'segments',
          rule: 'key-order',
          message: 'segments must list dimensions in ascending code-unit order (the compact format sorts them)',
        },
      ],
      event: expect.objectContaining({ segments: { b: 'user-1', a: 'user-1' } }) as unknown,
    });
    const [repeated] = decodedEvents(recordOfBody([...strings, 1, ...eventBytes({ segments: [5, 2, 5, 1] })]));
    expect(repeated).toMatchObject({
      ok: false,
      rejections: [{ field: 'segments', rule: 'duplicate-key', message: 'segments names a dimension twice' }],
    });
    const [ordered] = decodedEvents(recordOfBody([...strings, 1, ...eventBytes({ segments: [5, 2, 4, 2] })]));
    expect(ordered).toMatchObject({ ok: true, event: { segments: { a: 'user-1', b: 'user-1' } } });
  });

  it('refuses dimensions out of order or repeated after the same pairs, listed once in order, were read', () => {
    // Strings 4 and 5: 'e', 'd' (used by no other test, so the shared segments table starts without them).
    const strings = dictionary('exp-1', 'treatment', 'user-1', 'purchase', 'e', 'd');
    const record = (segments: number[]) => recordOfBody([...strings, 1, ...eventBytes({ segments })]);
    const [ordered] = decodedEvents(record([5, 2, 4, 2]));
    const [single] = decodedEvents(record([5, 2]));
    expect(ordered).toMatchObject({ ok: true, event: { segments: { d: 'user-1', e: 'user-1' } } });
    expect(single).toMatchObject({ ok: true, event: { segments: { d: 'user-1' } } });

    const [outOfOrder] = decodedEvents(record([4, 2, 5, 2]));
    expect(outOfOrder).toMatchObject({ ok: false, rejections: [{ field: 'segments', rule: 'key-order' }] });
    expect(Object.keys(outOfOrder!.event.segments as object)).toEqual(['e', 'd']);
    const [repeated] = decodedEvents(record([5, 2, 5, 2]));
    expect(repeated).toMatchObject({ ok: false, rejections: [{ field: 'segments', rule: 'duplicate-key' }] });
    expect(repeated!.event.segments).not.toBe(single!.event.segments);
  });

  it('gives events with the same segments one frozen segments object', () => {
    const decoded = decodedEvents(
      encodeCompactRecord([event({ userId: 'a' }), event({ userId: 'b' }), event({ segments: { device: 'ios' } })]),
    );
    const segments = decoded.map((d) => (d.ok ? d.event.segments : undefined));
    expect(segments[0]).toBe(segments[1]);
    expect(segments[2]).toEqual({ device: 'ios' });
    expect(Object.isFrozen(segments[0])).toBe(true);
  });

  it('judges each string in each role it plays: one string can be a valid user id and an invalid key', () => {
    const decoded = decodedEvents(
      encodeCompactRecord([
        event({ userId: 'a b' }),
        event({ experimentId: 'a b' }),
        event({ userId: 'a b' }),
        event({ experimentId: 'a b' }),
        event({ segments: { device: 'a b' } }),
        event({ segments: { 'a b': 'x' } }),
        event({ segments: { device: 'a b' } }),
        event({ segments: { 'a b': 'x' } }),
      ]),
    );
    expect(decoded.map((d) => d.ok)).toEqual([true, false, true, false, true, false, true, false]);
  });

  it('grows its buffers for events and strings of any size, with varints of 1 and 2 bytes', () => {
    const wide = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`dimension-${i}`, `v${i}-`.repeat(20)]));
    const events = Array.from({ length: 300 }, (_, i) => {
      const e = event({ userId: `user-${i}-${'x'.repeat(i % 3 === 0 ? 100 : 1)}`, segments: wide });
      if (i % 7 !== 0) delete e.segments;
      return e;
    });
    for (const compress of [false, true]) {
      expect(decodedEvents(encodeCompactRecord(events, { compress })).map((d) => d.ok && d.event)).toEqual(events);
    }
  });

  it('encodes an empty batch as a record of no events', () => {
    for (const compress of [false, true]) {
      const record = encodeCompactRecord([], { compress });
      expect(decodedEvents(record)).toEqual([]);
      if (!compress) expect([...record.subarray(9)]).toEqual([0, 0]);
    }
  });

  it('stores every UUID as its 16 bytes, either case in, lower case out', () => {
    fc.assert(
      fc.property(fc.uuid(), fc.boolean(), (uuid, upper) => {
        const eventId = upper ? uuid.toUpperCase() : uuid;
        const record = encodeCompactRecord([event({ eventId })]);
        expect(record.includes(Buffer.from(uuid.replaceAll('-', ''), 'hex'))).toBe(true);
        expect(decodedEvents(record).map((decoded) => decoded.event.eventId)).toEqual([uuid.toLowerCase()]);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses to encode an eventId that is not a UUID, naming it', () => {
    expect(() => encodeCompactRecord([event({ eventId: 'not-a-uuid' })])).toThrow('eventId not-a-uuid is not a UUID');
    const tooLong = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b00';
    expect(() => encodeCompactRecord([event({ eventId: tooLong })])).toThrow(`eventId ${tooLong} is not a UUID`);
    const notHex = 'zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz';
    expect(() => encodeCompactRecord([event({ eventId: notHex })])).toThrow(`eventId ${notHex} is not a UUID`);
    for (const malformed of [
      '0190a1b2c3-d4-7e5f-8a9b-0c1d2e3f4a5b', // 36 characters, a dash out of place
      '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5g', // a letter after f, last position
      'g190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b', // first position
      '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5\u00e9', // non-ASCII
      '\u0130190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5'.slice(0, 36), // non-ASCII first
      '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a:b', // the character after 9
      '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a/b', // the character before 0
      '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a`b', // before a
      '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a@b', // before A
      '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4aGb', // after F
    ]) {
      expect(() => encodeCompactRecord([event({ eventId: malformed })])).toThrow(`eventId ${malformed} is not a UUID`);
    }
    expect(() => encodeCompactRecord([event({ userId: 'u\ud800' })])).toThrow(
      'string "u\\ud800" is not well-formed Unicode',
    );
  });

  it('names the one bad eventId among many, wherever it is, and reads every other one right', () => {
    // The ids are written as one joined text: a bad id must not shift or hide its neighbours'.
    const ids = Array.from({ length: 9 }, (_, i) => `0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a${String(i).padStart(2, '0')}`);
    for (const bad of [
      '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a\u00e9b',
      '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4\u0130bc',
      'short',
    ]) {
      for (const at of [0, 4, 8]) {
        const events = ids.map((eventId, i) => event({ eventId: i === at ? bad : eventId }));
        expect(() => encodeCompactRecord(events), `${bad} at ${at}`).toThrow(`eventId ${bad} is not a UUID`);
      }
    }
    const record = encodeCompactRecord(ids.map((eventId) => event({ eventId: eventId.toUpperCase() })));
    expect(decodedEvents(record).map((decoded) => decoded.event.eventId)).toEqual(ids);
  });

  it("takes the eventId bytes a caller gives, byte for byte the record the ids' text gives", () => {
    const ids = Array.from({ length: 7 }, (_, i) => `0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a${String(i).padStart(2, '0')}`);
    const events = ids.map((eventId) => event({ eventId }));
    const slab = Buffer.alloc(16 * ids.length + 3, 0xee);
    ids.forEach((id, i) => writeUuidBytes(slab, 3 + 16 * i, id));
    // Bytes for some events only (the others are read from their text), from anywhere in the slab.
    const given = { bytes: ids.map((_, i) => (i % 3 === 1 ? undefined : slab)), at: ids.map((_, i) => 3 + 16 * i) };
    expect(encodeCompactRecord(events, {}, given)).toEqual(encodeCompactRecord(events));
    const all = { bytes: ids.map(() => slab), at: given.at };
    expect(encodeCompactRecord(events, { compress: true }, all)).toEqual(
      encodeCompactRecord(events, { compress: true }),
    );
    // Given bytes are taken as they are: what they say is what the record says.
    const other = { bytes: [slab, ...ids.slice(1).map(() => undefined)], at: [3 + 16 * 6, ...given.at.slice(1)] };
    expect(decodedEvents(encodeCompactRecord(events, {}, other))[0]?.event.eventId).toBe(ids[6]);
    // Bytes that would run past their array are refused, not read as zeros.
    for (const at of [slab.length - 15, -1, Number.NaN]) {
      expect(() => encodeCompactRecord([events[0]!], {}, { bytes: [slab], at: [at] }), `at ${at}`).toThrow(
        `the bytes given for eventId ${ids[0]} are outside their array (at ${at})`,
      );
    }
    expect(encodeCompactRecord([events[0]!], {}, { bytes: [slab], at: [slab.length - 16] })).toHaveLength(
      encodeCompactRecord([events[0]!]).length,
    );
  });

  it("writes the collector's generated ids (strings built by concatenation) as their bytes", () => {
    const newEventId = createEventIdGenerator();
    const ids = Array.from({ length: 300 }, (_, i) => newEventId(Date.UTC(2026, 10, 27) + (i >> 6)));
    const record = encodeCompactRecord(ids.map((eventId) => event({ eventId })));
    expect(decodedEvents(record).map((decoded) => decoded.event.eventId)).toEqual(ids);
    expect(record.includes(Buffer.from((ids[299] as string).replaceAll('-', ''), 'hex'))).toBe(true);
  });
});

describe('compact record format: covariates (flag bit 1)', () => {
  const impression = (overrides: Partial<StreamEvent> = {}): StreamEvent => {
    const { metric: _metric, ...rest } = event({ type: 'impression', value: 1, ...overrides });
    return rest;
  };

  it('round-trips covariates (with and without compression), and an empty covariates object as empty', () => {
    const events = [
      impression({ covariates: { revenue: 41.5, orders: 3, 'a.b:c-d_e': -1e8 } }),
      impression({ userId: 'u-2', covariates: {} }),
      impression({ userId: 'u-3' }),
      event(),
    ];
    for (const compress of [false, true]) {
      const record = encodeCompactRecord(events, { compress });
      expect(record[4]).toBe(compress ? 3 : 2);
      expect(decodedEvents(record)).toEqual(events.map((e) => ({ ok: true, event: e })));
    }
    const [first] = decodedEvents(encodeCompactRecord(events));
    expect(first?.ok && Object.keys(first.event.covariates ?? {})).toEqual(['a.b:c-d_e', 'orders', 'revenue']);
  });

  it('writes a record without covariates exactly as before the flag (flag bit 1 clear, no covariate bytes)', () => {
    const events = [event(), impression({ userId: 'u-2' })];
    const record = encodeCompactRecord(events);
    expect(record[4]).toBe(0);
    // The same events with one carrying covariates are one count byte per event longer, plus the covariate.
    const withOne = encodeCompactRecord([event(), impression({ userId: 'u-2', covariates: { revenue: 2 } })]);
    const revenueString = 1 + Buffer.byteLength('revenue');
    expect(withOne.length - record.length).toBe(2 + revenueString + 1 + 8);
  });

  it('reads a hand-written record of the flag: covariates after the segments of every event', () => {
    const strings = dictionary('exp-1', 'treatment', 'user-1', 'purchase', 'orders', 'revenue');
    const value = (n: number) => [...new Uint8Array(new Float64Array([n]).buffer)];
    const body = [
      ...strings,
      2,
      ...eventBytes({ type: 0, metricPlusOne: 0 }),
      3, // two covariates
      4,
      ...value(3),
      5,
      ...value(41.5),
      ...eventBytes({}),
      0, // no covariates field
    ];
    const [withCovariates, without] = decodedEvents(recordOfBody(body, 0x02));
    expect(withCovariates).toMatchObject({
      ok: true,
      event: { type: 'impression', covariates: { orders: 3, revenue: 41.5 } },
    });
    expect(without?.ok && 'covariates' in without.event).toBe(false);
    // Without the flag, the same bytes are not a record of two events.
    expect(rejectionOf(recordOfBody(body))).toMatchObject({ rule: 'compact-record' });
    // A covariate count beyond the record is a framing fault.
    const tooMany = [...strings, 1, ...eventBytes({ type: 0, metricPlusOne: 0 }), 0xff, 0x01];
    expect(rejectionOf(recordOfBody(tooMany, 0x02))).toEqual(malformed('covariate count 254 exceeds the record'));
  });

  it('refuses covariates on a conversion with the JSON validator’s impression-only rule', () => {
    const [decoded] = decodedEvents(encodeCompactRecord([event({ covariates: { revenue: 1 } })]));
    expect(decoded).toMatchObject({ ok: false, rejections: [{ field: 'covariates', rule: 'impression-only' }] });
  });

  it('refuses covariate names out of order or repeated, and bad names or values by the contract’s rules', () => {
    const strings = dictionary('exp-1', 'treatment', 'user-1', 'purchase', 'b', 'a', 'bad key');
    const value = (n: number) => [...new Uint8Array(new Float64Array([n]).buffer)];
    const withCovariates = (...pairs: [number, number][]) =>
      decodedEvents(
        recordOfBody(
          [
            ...strings,
            1,
            ...eventBytes({ type: 0, metricPlusOne: 0 }),
            pairs.length + 1,
            ...pairs.flatMap(([name, v]) => [name, ...value(v)]),
          ],
          0x02,
        ),
      )[0];
    expect(withCovariates([4, 1], [5, 2])).toEqual({
      ok: false,
      rejections: [
        {
          index: 0,
          field: 'covariates',
          rule: 'key-order',
          message: 'covariates must list covariate names in ascending code-unit order (the compact format sorts them)',
        },
      ],
      event: expect.objectContaining({ covariates: { b: 1, a: 2 } }) as unknown,
    });
    expect(withCovariates([5, 1], [5, 2])).toMatchObject({
      ok: false,
      rejections: [{ field: 'covariates', rule: 'duplicate-key', message: 'covariates names a covariate twice' }],
    });
    expect(withCovariates([5, 1], [4, 2])).toMatchObject({ ok: true, event: { covariates: { a: 1, b: 2 } } });
    expect(withCovariates([6, 1])).toMatchObject({
      ok: false,
      rejections: [{ field: 'covariates.bad key', rule: 'pattern' }],
    });
    expect(withCovariates([5, 1e8 + 1])).toMatchObject({
      ok: false,
      rejections: [{ field: 'covariates.a', rule: 'range' }],
    });
    expect(withCovariates([5, Number.NaN])).toMatchObject({ ok: false, rejections: [{ field: 'covariates.a' }] });
    const twentyOne = Array.from({ length: 21 }, (_, i) => `m${String(i).padStart(2, '0')}`);
    const [many] = decodedEvents(
      encodeCompactRecord([impression({ covariates: Object.fromEntries(twentyOne.map((k) => [k, 1])) })]),
    );
    expect(many).toMatchObject({ ok: false, rejections: [{ field: 'covariates', rule: 'max-properties' }] });
    const [twenty] = decodedEvents(
      encodeCompactRecord([impression({ covariates: Object.fromEntries(twentyOne.slice(1).map((k) => [k, 1])) })]),
    );
    expect(twenty).toMatchObject({ ok: true });
  });

  it('keeps a `__proto__` covariate as a field, like JSON.parse (and refuses it by the key rule)', () => {
    const covariates = JSON.parse('{"__proto__":1,"revenue":2}') as Record<string, number>;
    const [decoded] = decodedEvents(encodeCompactRecord([impression({ covariates })]));
    expect(decoded).toMatchObject({ ok: false, rejections: [{ field: 'covariates.__proto__', rule: 'pattern' }] });
    if (decoded && !decoded.ok)
      expect(Object.keys(decoded.event['covariates'] as object)).toEqual(['__proto__', 'revenue']);
  });
});

describe('compact record format: segments objects shared across records', () => {
  const segmentsOfRecord = (events: StreamEvent[]) => {
    const decoded = decodeCompactRecord(encodeCompactRecord(events), 0, { maxSegments: 10 });
    if (!decoded.ok) throw new Error('record rejected');
    return decoded.events.map((result) => ({ ok: result.ok, segments: result.event.segments }));
  };

  it('gives events of different records with equal segments one frozen object, and different content different ones', () => {
    const [first] = segmentsOfRecord([event({ segments: { country: 'DE', device: 'ios' } })]);
    const [second, other] = segmentsOfRecord([
      event({ userId: 'u-9', segments: { country: 'DE', device: 'ios' } }),
      event({ segments: { country: 'DE', device: 'web' } }),
    ]);
    expect(second!.segments).toBe(first!.segments);
    expect(Object.isFrozen(first!.segments)).toBe(true);
    expect(other!.segments).toEqual({ country: 'DE', device: 'web' });
    expect(other!.segments).not.toBe(first!.segments);
  });

  it('never confuses contents whose joined text is alike (names and values are length-prefixed)', () => {
    const [a] = segmentsOfRecord([event({ segments: { a: 'b1:c' } })]);
    const [b] = segmentsOfRecord([event({ segments: { a: 'b', '1:c': 'x' } })]);
    expect(a!.segments).toEqual({ a: 'b1:c' });
    expect(b!.segments).toEqual({ a: 'b', '1:c': 'x' });
  });

  it('judges a shared object by its content in every record: invalid segments stay invalid, valid ones valid', () => {
    const bad = { country: 'DE\u0007' };
    expect(segmentsOfRecord([event({ segments: bad })])[0]!.ok).toBe(false);
    expect(segmentsOfRecord([event({ userId: 'u-2', segments: bad })])[0]!.ok).toBe(false);
    expect(segmentsOfRecord([event({ segments: { country: 'DE' } })])[0]!.ok).toBe(true);
  });
});
