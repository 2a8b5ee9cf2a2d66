import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import {
  canonicalEventId,
  createEventIdGenerator,
  eventIdBytesWriter,
  makesCanonicalIds,
  uuidText,
  writeUuidBytes,
  writeUuidBytesFromAscii,
} from './event-ids.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('createEventIdGenerator', () => {
  it('makes unique UUIDv7 ids carrying the current millisecond, across pool refills', () => {
    const next = createEventIdGenerator();
    const before = Date.now();
    const ids = Array.from({ length: 5000 }, next);
    const after = Date.now();
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) {
      expect(id).toMatch(UUID_V7);
      const millis = parseInt(id.replaceAll('-', '').slice(0, 12), 16);
      expect(millis).toBeGreaterThanOrEqual(before);
      expect(millis).toBeLessThanOrEqual(after);
    }
  });
});

describe('canonicalEventId', () => {
  it('lower-cases a UUID, so every case spelling of one id is the same event', () => {
    expect(canonicalEventId('0B3C2C7E-8F4E-4B7A-9A51-0C1D2E3F4A5B')).toBe('0b3c2c7e-8f4e-4b7a-9a51-0c1d2e3f4a5b');
    expect(canonicalEventId('0b3c2c7e-8F4E-4b7a-9A51-0c1d2e3f4a5b')).toBe('0b3c2c7e-8f4e-4b7a-9a51-0c1d2e3f4a5b');
  });

  it('leaves generated ids as they are: they are canonical already', () => {
    const next = createEventIdGenerator();
    expect(makesCanonicalIds(next)).toBe(true);
    expect(makesCanonicalIds(() => 'ABCDEF00-0000-7000-8000-00000000000A')).toBe(false);
    for (let i = 0; i < 100; i++) {
      const id = next();
      expect(canonicalEventId(id)).toBe(id);
    }
  });
});

describe('writeUuidBytes', () => {
  it('writes any UUID, either case, as its 16 bytes at the offset and touches nothing else', () => {
    fc.assert(
      fc.property(fc.uuid(), fc.boolean(), fc.integer({ min: 0, max: 8 }), (uuid, upper, offset) => {
        const target = Buffer.alloc(32, 0xee);
        expect(writeUuidBytes(target, offset, upper ? uuid.toUpperCase() : uuid)).toBe(true);
        expect(target.subarray(offset, offset + 16)).toEqual(Buffer.from(uuid.replaceAll('-', ''), 'hex'));
        expect([...target.subarray(0, offset), ...target.subarray(offset + 16)].every((byte) => byte === 0xee)).toBe(
          true,
        );
      }),
      { numRuns: 500 },
    );
  });

  it('refuses anything but the 8-4-4-4-12 hex text', () => {
    const valid = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';
    expect(writeUuidBytes(Buffer.alloc(16), 0, valid)).toBe(true);
    for (const malformed of [
      '',
      'not-a-uuid',
      `${valid}0`,
      valid.slice(0, 35),
      valid.replaceAll('-', ''),
      '0190a1b2c3-d4-7e5f-8a9b-0c1d2e3f4a5b', // a dash out of place
      '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5g', // after f, last position
      'g190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b', // first position
      '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5\u00e9', // non-ASCII, low digit
      '\u0130190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5', // non-ASCII, high digit
      '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a:b', // after 9
      '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a/b', // before 0
      '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a`b', // before a
      '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a@b', // before A
      '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4aGb', // after F
      '0190a1b2+c3d4-7e5f-8a9b-0c1d2e3f4a5b', // another separator
    ]) {
      expect(writeUuidBytes(Buffer.alloc(16), 0, malformed), malformed).toBe(false);
    }
  });
});

describe('uuidText', () => {
  it('reads any 16 bytes at any offset as the lower-case text writeUuidBytes reads back to them', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 40 }), fc.nat(), (bytes, at) => {
        const offset = at % (bytes.length - 15);
        const text = uuidText(bytes, offset);
        expect(text).toBe(
          Buffer.from(bytes.subarray(offset, offset + 16))
            .toString('hex')
            .replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-'),
        );
        const back = Buffer.alloc(16);
        expect(writeUuidBytes(back, 0, text)).toBe(true);
        expect([...back]).toEqual([...bytes.subarray(offset, offset + 16)]);
      }),
    );
  });

  it('returns a new string each call (the scratch buffer is not shared with callers)', () => {
    const first = uuidText(Buffer.alloc(16, 0xab), 0);
    const second = uuidText(Buffer.alloc(16, 0x01), 0);
    expect(first).toBe('abababab-abab-abab-abab-abababababab');
    expect(second).toBe('01010101-0101-0101-0101-010101010101');
  });
});

describe('createEventIdGenerator within one millisecond', () => {
  const frozenAt = Date.parse('2026-11-26T20:00:00.123Z');

  it('counts up in rand_a: the ids of one millisecond ascend, share the time and random part, and stay v7', () => {
    const now = vi.spyOn(Date, 'now').mockReturnValue(frozenAt);
    try {
      const next = createEventIdGenerator();
      // The counter starts below 2,048, so 2,000 ids never reach its end (4,096).
      const ids = Array.from({ length: 2000 }, next);
      for (const id of ids) {
        expect(id).toMatch(UUID_V7);
        expect(parseInt(id.replaceAll('-', '').slice(0, 12), 16)).toBe(frozenAt);
        expect(id.slice(19)).toBe((ids[0] as string).slice(19));
      }
      for (let i = 1; i < ids.length; i++) {
        expect(parseInt((ids[i] as string).slice(15, 18), 16)).toBe(
          parseInt((ids[i - 1] as string).slice(15, 18), 16) + 1,
        );
      }
      expect([...ids].sort()).toEqual(ids);
    } finally {
      now.mockRestore();
    }
  });

  it('draws a new random part when the counter runs out, so ids stay distinct past 4,096 in one millisecond', () => {
    const now = vi.spyOn(Date, 'now').mockReturnValue(frozenAt);
    try {
      const next = createEventIdGenerator();
      const ids = Array.from({ length: 20_000 }, next);
      expect(new Set(ids).size).toBe(ids.length);
      expect(new Set(ids.map((id) => id.slice(19))).size).toBeGreaterThanOrEqual(5);
      for (const id of ids) expect(id).toMatch(UUID_V7);
    } finally {
      now.mockRestore();
    }
  });

  it('starts a new series in a new millisecond, and two generators draw different random parts', () => {
    let clock = frozenAt;
    const now = vi.spyOn(Date, 'now').mockImplementation(() => clock);
    try {
      const next = createEventIdGenerator();
      const first = next();
      clock += 1;
      const second = next();
      expect(parseInt(second.replaceAll('-', '').slice(0, 12), 16)).toBe(frozenAt + 1);
      expect(second.slice(19)).not.toBe(first.slice(19));
      expect(createEventIdGenerator()().slice(19)).not.toBe(second.slice(19));
    } finally {
      now.mockRestore();
    }
  });
});

describe('createEventIdGenerator given the time', () => {
  const millisOf = (id: string): number => parseInt(id.replaceAll('-', '').slice(0, 12), 16);

  it('formats the first millisecond it is given, the earliest ones included', () => {
    for (const time of [0, 1, 2]) {
      const id = createEventIdGenerator()(time);
      expect(id).toMatch(UUID_V7);
      expect(millisOf(id)).toBe(time);
    }
  });

  it('carries the millisecond it is given (the receive time), without reading the clock', () => {
    const now = vi.spyOn(Date, 'now');
    try {
      const next = createEventIdGenerator();
      const at = Date.UTC(2026, 10, 26, 20, 0, 0, 7);
      const ids = Array.from({ length: 100 }, () => next(at));
      expect(now).not.toHaveBeenCalled();
      for (const id of ids) {
        expect(id).toMatch(UUID_V7);
        expect(millisOf(id)).toBe(at);
      }
      expect(new Set(ids).size).toBe(ids.length);
      expect(millisOf(next(0))).toBe(0);
      expect(millisOf(next(2 ** 48 - 1))).toBe(2 ** 48 - 1);
    } finally {
      now.mockRestore();
    }
  });

  it('takes the clock for a time 48 bits cannot carry', () => {
    const next = createEventIdGenerator();
    for (const wrong of [-1, 2 ** 48, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      const before = Date.now();
      const id = next(wrong);
      expect(id).toMatch(UUID_V7);
      expect(millisOf(id)).toBeGreaterThanOrEqual(before);
      expect(millisOf(id)).toBeLessThanOrEqual(Date.now());
    }
  });
});

describe('writeUuidBytesFromAscii', () => {
  it("gives writeUuidBytes' answer and bytes for the same characters, at any position of the text", () => {
    const texts = fc.oneof(
      fc.uuid().map((uuid) => uuid.toUpperCase()),
      fc.uuid(),
      fc.string({ unit: 'binary-ascii', minLength: 36, maxLength: 36 }),
      fc
        .uuid()
        .chain((uuid) =>
          fc
            .tuple(fc.integer({ min: 0, max: 35 }), fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 1 }))
            .map(([at, char]) => uuid.slice(0, at) + char + uuid.slice(at + 1)),
        ),
    );
    fc.assert(
      fc.property(texts, fc.integer({ min: 0, max: 40 }), (text, at) => {
        const ascii = Buffer.concat([Buffer.alloc(at, 0x30), Buffer.from(text, 'latin1')]);
        const fromAscii = Buffer.alloc(16, 0xee);
        const fromText = Buffer.alloc(16, 0xee);
        const ok = writeUuidBytes(fromText, 0, text);
        expect(writeUuidBytesFromAscii(fromAscii, 0, ascii, at)).toBe(ok);
        if (ok) expect(fromAscii).toEqual(fromText);
      }),
      { numRuns: 1000 },
    );
  });

  it('refuses bytes that are not ASCII and text that does not fit in the array', () => {
    const valid = Buffer.from('0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b');
    expect(writeUuidBytesFromAscii(Buffer.alloc(16), 0, valid, 0)).toBe(true);
    for (const [at, byte] of [
      [0, 0xb0],
      [35, 0xe1],
      [17, 0xc6],
    ] as const) {
      const text = Buffer.from(valid);
      text[at] = byte;
      expect(writeUuidBytesFromAscii(Buffer.alloc(16), 0, text, 0), `byte ${byte} at ${at}`).toBe(false);
    }
    expect(writeUuidBytesFromAscii(Buffer.alloc(16), 0, valid, 1)).toBe(false);
    expect(writeUuidBytesFromAscii(Buffer.alloc(16), 0, valid.subarray(0, 35), 0)).toBe(false);
    expect(writeUuidBytesFromAscii(Buffer.alloc(16), 0, valid, -1)).toBe(false);
  });
});

describe('eventIdBytesWriter', () => {
  const textBytes = (id: string): Buffer => {
    const bytes = Buffer.alloc(16);
    expect(writeUuidBytes(bytes, 0, id)).toBe(true);
    return bytes;
  };

  it("writes the last id's bytes as its text reads, across milliseconds, series and counters run out", () => {
    const next = createEventIdGenerator();
    const writeLast = eventIdBytesWriter(next);
    expect(writeLast).toBeDefined();
    const start = Date.parse('2026-11-27T10:00:00.000Z');
    // Some milliseconds take one id, some over 4,096 (a new random series mid-millisecond).
    const perMillisecond = [1, 3, 5000, 1, 9000, 2, 4096, 4097];
    let checked = 0;
    for (const [i, count] of perMillisecond.entries()) {
      for (let k = 0; k < count; k++) {
        const id = next(start + i * 7);
        const bytes = Buffer.alloc(20, 0xee);
        expect(writeLast?.(id, bytes, 2)).toBe(true);
        expect(bytes.subarray(2, 18)).toEqual(textBytes(id));
        expect([bytes[0], bytes[1], bytes[18], bytes[19]]).toEqual([0xee, 0xee, 0xee, 0xee]);
        checked++;
      }
    }
    expect(checked).toBe(perMillisecond.reduce((a, b) => a + b, 0));
    // The largest millisecond the ids can carry (48 bits), whose halves are both non-zero.
    const last = next(2 ** 48 - 1);
    const bytes = Buffer.alloc(16);
    expect(writeLast?.(last, bytes, 0)).toBe(true);
    expect(bytes).toEqual(textBytes(last));
  });

  it('writes nothing for an id that is not the last one, and has no writer for another generator', () => {
    const next = createEventIdGenerator();
    const writeLast = eventIdBytesWriter(next);
    const earlier = next(Date.UTC(2026, 10, 27));
    const latest = next(Date.UTC(2026, 10, 27));
    const bytes = Buffer.alloc(16, 0xee);
    expect(writeLast?.(earlier, bytes, 0)).toBe(false);
    expect(writeLast?.('0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b', bytes, 0)).toBe(false);
    expect(bytes).toEqual(Buffer.alloc(16, 0xee));
    // The same id as a string of its own (equal text, not the same string) is the same id.
    expect(writeLast?.(`${latest.slice(0, 10)}${latest.slice(10)}`, bytes, 0)).toBe(true);
    expect(bytes).toEqual(textBytes(latest));
    expect(eventIdBytesWriter(createEventIdGenerator())).not.toBe(writeLast);
    expect(eventIdBytesWriter(() => crypto.randomUUID())).toBeUndefined();
    expect(eventIdBytesWriter(createEventIdGenerator())?.(latest, bytes, 0)).toBe(false);
  });
});
