import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateWorkload } from '../processors/counters/test-workload.js';
import { decodeCompactRecord, encodeCompactRecord, isCompactRecord } from './compact-records.js';
import type { StreamEvent } from './event-contract.js';
import { validateStreamEvent } from './validate-event.js';

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
