import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_EVENT_LIMITS } from './config.js';
import {
  EVENT_TIME_END_MS,
  EVENT_TIME_MIN_MS,
  KEY_MAX_LENGTH,
  KEY_PATTERN,
  MAX_COVARIATES,
  MAX_EVENT_VALUE,
} from './event-contract.js';
import { jsonByteBound, normalizeIncomingEvent, streamFieldChecks, validateStreamEvent } from './validate-event.js';

const NOW = Date.parse('2026-11-24T12:00:00Z');
const context = (index = 0) => ({
  index,
  now: NOW,
  limits: DEFAULT_EVENT_LIMITS,
  newEventId: () => '01890000-0000-7000-8000-000000000000',
});
const valid = {
  type: 'conversion',
  experimentId: 'exp-1',
  variantId: 'b',
  userId: 'u-1',
  metric: 'revenue',
  value: 12.5,
  segments: { country: 'DE' },
};

const rulesOf = (input: unknown, ctx = context(3)) => {
  const result = normalizeIncomingEvent(input, ctx);
  return result.ok ? [] : result.rejections.map((r) => `${r.field}:${r.rule}`);
};
const streamEvent = {
  version: 1,
  eventId: '0b3c2c7e-8f4e-4b7a-9a51-0c1d2e3f4a5b',
  type: 'conversion',
  experimentId: 'e',
  variantId: 'a',
  userId: 'u',
  metric: 'm',
  value: 1,
  segments: { country: 'DE' },
  timestamp: Date.parse('2001-02-03T04:05:06Z'),
  receivedAt: Date.parse('2001-02-03T04:05:07Z'),
};
const streamRulesOf = (input: unknown) => {
  const result = validateStreamEvent(input, 0, DEFAULT_EVENT_LIMITS);
  return result.ok ? [] : result.rejections.map((r) => `${r.field}:${r.rule}`);
};
/** Every string field of the contract, as a function putting `text` into a valid event. */
const STRING_FIELDS: [string, (text: string) => Record<string, unknown>][] = [
  ['eventId', (text) => ({ eventId: text })],
  ['type', (text) => ({ type: text })],
  ['experimentId', (text) => ({ experimentId: text })],
  ['variantId', (text) => ({ variantId: text })],
  ['userId', (text) => ({ userId: text })],
  ['metric', (text) => ({ metric: text })],
  ['timestamp', (text) => ({ timestamp: text })],
  ['segments.country', (text) => ({ segments: { country: text } })],
];
/** One UTF-16 code unit from the surrogate range: alone, it is ill-formed Unicode. */
const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((unit) => String.fromCharCode(unit));
/** Strings of any code points, often with lone surrogates (plain 'binary' strings rarely hold one). */
const anyString = fc.string({
  unit: fc.oneof(
    fc.constantFrom('a', 'Z', '-', '7'),
    loneSurrogate,
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  ),
  maxLength: 20,
});
/** Every string in a JSON value, keys included. */
const stringsIn = (value: unknown): string[] =>
  typeof value === 'string'
    ? [value]
    : value !== null && typeof value === 'object'
      ? Object.entries(value).flatMap(([key, inner]) => [key, ...stringsIn(inner)])
      : [];
/** Collector context with a window wide enough to reach the contract's date range. */
const wideWindow = (now = NOW) => ({
  ...context(3),
  now,
  limits: { ...DEFAULT_EVENT_LIMITS, maxAgeMs: 1e15, maxFutureMs: 1e15 },
});

describe('normalizeIncomingEvent', () => {
  it('normalises a valid event: defaults, receive time, serialised bytes', () => {
    const result = normalizeIncomingEvent({ ...valid, value: undefined, timestamp: '2026-11-24T11:59:00Z' }, context());
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.event).toEqual({
      version: 1,
      eventId: '01890000-0000-7000-8000-000000000000',
      type: 'conversion',
      experimentId: 'exp-1',
      variantId: 'b',
      userId: 'u-1',
      metric: 'revenue',
      value: 1,
      segments: { country: 'DE' },
      timestamp: NOW - 60_000,
      receivedAt: NOW,
    });
    expect(JSON.parse(String(result.serialized))).toEqual(result.event);
  });

  it.each([
    [{ ...valid, experimentId: 'x'.repeat(65) }, 'experimentId:max-length'],
    [{ ...valid, variantId: 'has space' }, 'variantId:pattern'],
    [{ ...valid, userId: 'bell\u0007' }, 'userId:control-character'],
    [{ ...valid, type: 'click' }, 'type:enum'],
    [{ ...valid, metric: undefined }, 'metric:required-for-conversion'],
    [{ ...valid, value: 1e13 }, 'value:range'],
    [{ ...valid, value: MAX_EVENT_VALUE + 1 }, 'value:range'],
    [{ ...valid, value: -MAX_EVENT_VALUE - 0.5 }, 'value:range'],
    [{ ...valid, value: '3' }, 'value:type'],
    [{ ...valid, timestamp: NOW - 8 * 24 * 3600 * 1000 }, 'timestamp:timestamp-too-old'],
    [{ ...valid, timestamp: NOW + 600_000 }, 'timestamp:timestamp-in-future'],
    [{ ...valid, timestamp: 'yesterday' }, 'timestamp:type'],
    [{ ...valid, eventId: 'not-a-uuid' }, 'eventId:pattern'],
    [{ ...valid, segments: { 'bad key': 'x' } }, 'segments.bad key:pattern'],
    [
      { ...valid, segments: Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`d${i}`, 'v'])) },
      'segments:max-properties',
    ],
    [{ ...valid, segments: { country: '' } }, 'segments.country:min-length'],
    [{ ...valid, version: 2 }, 'version:unsupported-version'],
    [{ ...valid, extra: true }, 'extra:unknown-field'],
    [[valid], '(event):type'],
    [null, '(event):type'],
  ])('rejects %j with %s', (input, expected) => {
    expect(rulesOf(input)).toContain(expected);
  });

  it('bounds |value| by MAX_EVENT_VALUE = 1e8, both ends included', () => {
    expect(MAX_EVENT_VALUE).toBe(1e8);
    expect(rulesOf({ ...valid, value: 1e8 })).toEqual([]);
    expect(rulesOf({ ...valid, value: -1e8 })).toEqual([]);
    expect(rulesOf({ ...valid, value: 100_000_001 })).toEqual(['value:range']);
    expect(rulesOf({ ...valid, value: 1e12 })).toEqual(['value:range']);
  });

  it.each(STRING_FIELDS)('rejects a lone surrogate in %s as well-formed-unicode, naming the field', (field, put) => {
    for (const lone of ['x\ud800', 'x\udbff', '\udc00x', 'x\udfff']) {
      const result = normalizeIncomingEvent({ ...valid, ...put(lone) }, context(3));
      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.rejections).toContainEqual({
        index: 3,
        field,
        rule: 'well-formed-unicode',
        message: expect.stringContaining('well-formed Unicode'),
      });
    }
  });

  it('no longer lets u\ud800 and u\udbff through as one user; a real surrogate pair is fine', () => {
    expect(rulesOf({ ...valid, userId: 'u\ud800' })).toEqual(['userId:well-formed-unicode']);
    expect(rulesOf({ ...valid, userId: 'u\udbff' })).toEqual(['userId:well-formed-unicode']);
    expect(rulesOf({ ...valid, userId: 'u\ud83d\ude00' })).toEqual([]);
    expect(rulesOf({ ...valid, segments: { country: 'Ελλάδα 🇬🇷' } })).toEqual([]);
  });

  it('rejects a segment dimension name with a lone surrogate, reporting a printable field', () => {
    const result = normalizeIncomingEvent({ ...valid, segments: { 'k\ud800': 'v' } }, context(3));
    expect(result.ok ? [] : result.rejections).toEqual([
      expect.objectContaining({ field: 'segments.k\ufffd', rule: 'well-formed-unicode' }),
    ]);
  });

  it.each([
    ['C0', '\u0000'],
    ['C0', '\u001f'],
    ['DEL', '\u007f'],
    ['C1', '\u0080'],
    ['C1 (NEL)', '\u0085'],
    ['C1', '\u009f'],
  ])('rejects a %s control character in every id as control-character', (_kind, character) => {
    expect(rulesOf({ ...valid, userId: `u${character}1` })).toEqual(['userId:control-character']);
    expect(rulesOf({ ...valid, experimentId: `e${character}` })).toEqual(['experimentId:control-character']);
    expect(rulesOf({ ...valid, variantId: `v${character}` })).toEqual(['variantId:control-character']);
    expect(rulesOf({ ...valid, metric: `m${character}` })).toEqual(['metric:control-character']);
    expect(rulesOf({ ...valid, segments: { [`k${character}`]: 'v' } })).toEqual([
      `segments.k${character}:control-character`,
    ]);
  });

  it.each(['\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069'])(
    'rejects the bidi control %j in every id as bidi-control',
    (character) => {
      expect(rulesOf({ ...valid, userId: `admin${character}nimda` })).toEqual(['userId:bidi-control']);
      expect(rulesOf({ ...valid, experimentId: `e${character}` })).toEqual(['experimentId:bidi-control']);
      expect(rulesOf({ ...valid, variantId: `v${character}` })).toEqual(['variantId:bidi-control']);
      expect(rulesOf({ ...valid, metric: `m${character}` })).toEqual(['metric:bidi-control']);
      expect(rulesOf({ ...valid, segments: { [`k${character}`]: 'v' } })).toEqual([
        `segments.k${character}:bidi-control`,
      ]);
    },
  );

  it('keeps user ids free text: spaces, accents, emoji and other scripts are accepted', () => {
    for (const userId of ['Jane Doe', 'josé@example.com', 'ユーザー', 'u-😀', 'ربيع\u200f']) {
      expect(rulesOf({ ...valid, userId })).toEqual([]);
    }
  });

  it('writes eventIds in one canonical form: lower case, so ABC… and abc… are the same event', () => {
    const upper = normalizeIncomingEvent({ ...valid, eventId: '0B3C2C7E-8F4E-4B7A-9A51-0C1D2E3F4A5B' }, context());
    const lower = normalizeIncomingEvent({ ...valid, eventId: '0b3c2c7e-8f4e-4b7a-9a51-0c1d2e3f4a5b' }, context());
    expect(upper.ok && upper.event.eventId).toBe('0b3c2c7e-8f4e-4b7a-9a51-0c1d2e3f4a5b');
    expect(upper.ok && JSON.parse(String(upper.serialized)).eventId).toBe('0b3c2c7e-8f4e-4b7a-9a51-0c1d2e3f4a5b');
    expect(lower.ok && lower.event.eventId).toBe('0b3c2c7e-8f4e-4b7a-9a51-0c1d2e3f4a5b');
    const generated = normalizeIncomingEvent(valid, {
      ...context(),
      newEventId: () => 'ABCDEF00-0000-7000-8000-00000000000A',
    });
    expect(generated.ok && generated.event.eventId).toBe('abcdef00-0000-7000-8000-00000000000a');
  });

  it('rejects timestamps outside [2000-01-01, 2100-01-01) UTC as date-range, before the receive-time window', () => {
    expect(EVENT_TIME_MIN_MS).toBe(Date.parse('2000-01-01T00:00:00Z'));
    expect(EVENT_TIME_END_MS).toBe(Date.parse('2100-01-01T00:00:00Z'));
    const late = wideWindow(EVENT_TIME_END_MS - 1);
    expect(rulesOf({ ...valid, timestamp: EVENT_TIME_MIN_MS - 1 }, wideWindow())).toEqual(['timestamp:date-range']);
    expect(rulesOf({ ...valid, timestamp: '1999-12-31T23:59:59.999Z' }, wideWindow())).toEqual([
      'timestamp:date-range',
    ]);
    expect(rulesOf({ ...valid, timestamp: EVENT_TIME_MIN_MS }, wideWindow())).toEqual([]);
    expect(rulesOf({ ...valid, timestamp: EVENT_TIME_END_MS - 1 }, late)).toEqual([]);
    expect(rulesOf({ ...valid, timestamp: EVENT_TIME_END_MS }, late)).toEqual(['timestamp:date-range']);
    expect(rulesOf({ ...valid, timestamp: '2100-01-01T00:00:00Z' }, late)).toEqual(['timestamp:date-range']);
    expect(rulesOf({ ...valid, timestamp: 8.64e15 + 1 }, late)).toEqual(['timestamp:date-range']);
    // With the default window the date range is reported, not a misleading timestamp-in-future.
    expect(rulesOf({ ...valid, timestamp: 9e15 })).toEqual(['timestamp:date-range']);
    const result = normalizeIncomingEvent({ ...valid, timestamp: 9e15 }, context(3));
    expect(result.ok ? '' : result.rejections[0]!.message).toContain('2100-01-01T00:00:00Z');
  });

  it('refuses to stamp a receivedAt outside the date range (a collector clock gone wrong)', () => {
    const at = (now: number) => normalizeIncomingEvent({ ...valid, timestamp: now }, wideWindow(now));
    const before = at(EVENT_TIME_MIN_MS - 1);
    expect(before.ok ? [] : before.rejections.map((r) => `${r.field}:${r.rule}`)).toEqual([
      'timestamp:date-range',
      'receivedAt:date-range',
    ]);
    const after = normalizeIncomingEvent(valid, wideWindow(EVENT_TIME_END_MS));
    expect(after.ok ? [] : after.rejections.map((r) => `${r.field}:${r.rule}`)).toContain('receivedAt:date-range');
    expect(at(EVENT_TIME_MIN_MS).ok).toBe(true);
  });

  it('reports every missing required field by name', () => {
    expect(rulesOf({})).toEqual(
      expect.arrayContaining(['experimentId:required', 'variantId:required', 'userId:required', 'type:required']),
    );
  });

  it('rejects an event whose serialised form exceeds the size limit', () => {
    const result = normalizeIncomingEvent(valid, {
      ...context(),
      limits: { ...DEFAULT_EVENT_LIMITS, maxEventBytes: 256 },
    });
    expect(result.ok).toBe(true);
    const big = normalizeIncomingEvent(
      { ...valid, userId: 'u'.repeat(128), segments: { a: 'v'.repeat(64), b: 'w'.repeat(64) } },
      { ...context(), limits: { ...DEFAULT_EVENT_LIMITS, maxEventBytes: 256 } },
    );
    expect(big.ok ? [] : big.rejections.map((r) => r.rule)).toEqual(['max-size']);
  });

  it('never throws: any input yields a stream-valid event or structured rejections (property)', () => {
    const anyEventLike = fc.oneof(
      fc.anything(),
      fc.record(
        {
          eventId: fc.oneof(
            fc.uuid(),
            fc.uuid().map((id) => id.toUpperCase()),
            anyString,
          ),
          type: fc.oneof(fc.constantFrom('impression', 'conversion'), anyString),
          experimentId: fc.oneof(fc.stringMatching(/^[a-z][a-z0-9-]{0,70}$/), anyString, fc.integer()),
          variantId: fc.oneof(fc.constantFrom('a', 'b'), anyString),
          userId: fc.oneof(fc.string({ maxLength: 140 }), anyString, fc.constant('')),
          metric: fc.oneof(fc.constant('m'), anyString),
          value: fc.oneof(fc.double(), fc.integer(), fc.string()),
          timestamp: fc.oneof(
            fc.integer({ min: NOW - 1e10, max: NOW + 1e10 }),
            fc.integer({ min: -1e16, max: 1e16 }),
            fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
            anyString,
          ),
          segments: fc.dictionary(
            fc.oneof(fc.string({ maxLength: 70 }), anyString),
            fc.oneof(fc.string({ maxLength: 70 }), anyString, fc.integer()),
            { maxKeys: 12 },
          ),
          version: fc.oneof(fc.constant(1), fc.integer()),
          covariates: fc.oneof(
            fc.dictionary(
              fc.oneof(fc.stringMatching(/^[a-z]{1,8}$/), fc.string({ maxLength: 70 }), anyString),
              fc.oneof(fc.double(), fc.integer(), fc.string(), fc.constantFrom(1e8, -1e8, 1e8 + 1)),
              { maxKeys: 24 },
            ),
            fc.anything(),
          ),
        },
        { requiredKeys: [] },
      ),
    );
    fc.assert(
      fc.property(anyEventLike, (input) => {
        const result = normalizeIncomingEvent(input, context(7));
        if (result.ok) {
          expect(validateStreamEvent(JSON.parse(String(result.serialized)), 0, DEFAULT_EVENT_LIMITS).ok).toBe(true);
          expect(stringsIn(JSON.parse(String(result.serialized))).every((text) => text.isWellFormed())).toBe(true);
          expect(result.event.eventId).toBe(result.event.eventId.toLowerCase());
          expect(Math.abs(result.event.value)).toBeLessThanOrEqual(MAX_EVENT_VALUE);
          if (result.event.covariates !== undefined) {
            expect(result.event.type).toBe('impression');
            const values = Object.values(result.event.covariates);
            expect(values.length).toBeLessThanOrEqual(MAX_COVARIATES);
            expect(values.every((v) => Number.isFinite(v) && Math.abs(v) <= MAX_EVENT_VALUE)).toBe(true);
          }
          expect(result.event.timestamp).toBeGreaterThanOrEqual(EVENT_TIME_MIN_MS);
          expect(result.event.timestamp).toBeLessThan(EVENT_TIME_END_MS);
        } else {
          expect(result.rejections.length).toBeGreaterThan(0);
          for (const rejection of result.rejections) {
            expect(rejection.index).toBe(7);
            expect(rejection.field.length).toBeGreaterThan(0);
            expect(rejection.rule).toMatch(/^[a-z-]+$/);
            expect(rejection.message.length).toBeGreaterThan(0);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('ill-formed Unicode is never accepted (property)', () => {
  const loneSurrogate = fc.oneof(
    fc.integer({ min: 0xd800, max: 0xdbff }).map((unit) => ({ unit, high: true })),
    fc.integer({ min: 0xdc00, max: 0xdfff }).map((unit) => ({ unit, high: false })),
  );
  // Text around the lone surrogate that cannot pair with it (no surrogates at all).
  const plainText = fc.string({ unit: 'grapheme-ascii', maxLength: 8 });
  const illFormed = fc
    .tuple(plainText, loneSurrogate, plainText)
    .map(([before, { unit }, after]) => `${before}${String.fromCharCode(unit)}${after}`);

  it('rejects any event with a lone surrogate in any string field, naming that field', () => {
    fc.assert(
      fc.property(fc.constantFrom(...STRING_FIELDS), illFormed, ([field, put], text) => {
        expect(text.isWellFormed()).toBe(false);
        const incoming = normalizeIncomingEvent({ ...valid, ...put(text) }, context(1));
        expect(incoming.ok).toBe(false);
        if (!incoming.ok)
          expect(incoming.rejections).toContainEqual(expect.objectContaining({ field, rule: 'well-formed-unicode' }));
        if (field === 'timestamp') return; // an epoch-ms integer on the stream
        const onStream = validateStreamEvent({ ...streamEvent, ...put(text) }, 0, DEFAULT_EVENT_LIMITS);
        expect(onStream.ok).toBe(false);
        if (!onStream.ok)
          expect(onStream.rejections).toContainEqual(expect.objectContaining({ field, rule: 'well-formed-unicode' }));
      }),
      { numRuns: 1000 },
    );
  });

  it('accepts only strings that survive UTF-8 (what every store writes) unchanged, so no two users merge', () => {
    fc.assert(
      fc.property(anyString, anyString, (userId, country) => {
        const result = normalizeIncomingEvent({ ...valid, userId, segments: { country } }, context());
        if (!result.ok) return;
        for (const text of [result.event.userId, result.event.segments?.['country'] ?? '']) {
          expect(Buffer.from(text, 'utf8').toString('utf8')).toBe(text);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('validateStreamEvent', () => {
  it('accepts old events (no clock window on the stream) and rejects unnormalised ones', () => {
    expect(validateStreamEvent(streamEvent, 0, DEFAULT_EVENT_LIMITS).ok).toBe(true);
    const { eventId: _omitted, ...withoutEventId } = streamEvent;
    const result = validateStreamEvent(withoutEventId, 4, DEFAULT_EVENT_LIMITS);
    expect(result.ok ? [] : result.rejections).toEqual([
      expect.objectContaining({ index: 4, field: 'eventId', rule: 'required' }),
    ]);
  });
});

describe('validateStreamEvent: the contract bounds every sink', () => {
  it('rejects timestamp and receivedAt outside [2000-01-01, 2100-01-01) UTC as date-range', () => {
    expect(streamRulesOf({ ...streamEvent, timestamp: 9e15 })).toEqual(['timestamp:date-range']);
    expect(streamRulesOf({ ...streamEvent, timestamp: 8.64e15 + 1 })).toEqual(['timestamp:date-range']);
    expect(streamRulesOf({ ...streamEvent, timestamp: EVENT_TIME_END_MS })).toEqual(['timestamp:date-range']);
    expect(streamRulesOf({ ...streamEvent, timestamp: EVENT_TIME_MIN_MS - 1 })).toEqual(['timestamp:date-range']);
    expect(streamRulesOf({ ...streamEvent, timestamp: 1, receivedAt: 2 })).toEqual([
      'timestamp:date-range',
      'receivedAt:date-range',
    ]);
    expect(streamRulesOf({ ...streamEvent, receivedAt: EVENT_TIME_END_MS })).toEqual(['receivedAt:date-range']);
    expect(streamRulesOf({ ...streamEvent, timestamp: EVENT_TIME_MIN_MS, receivedAt: EVENT_TIME_END_MS - 1 })).toEqual(
      [],
    );
  });

  it('rejects |value| above MAX_EVENT_VALUE with the range rule', () => {
    expect(streamRulesOf({ ...streamEvent, value: 1e8 })).toEqual([]);
    expect(streamRulesOf({ ...streamEvent, value: -1e8 - 1 })).toEqual(['value:range']);
    expect(streamRulesOf({ ...streamEvent, value: 5e11 })).toEqual(['value:range']);
  });

  it('rejects lone surrogates, control and bidi characters written by another producer', () => {
    expect(streamRulesOf({ ...streamEvent, userId: 'u\ud800' })).toEqual(['userId:well-formed-unicode']);
    expect(streamRulesOf({ ...streamEvent, segments: { country: '\udbffDE' } })).toEqual([
      'segments.country:well-formed-unicode',
    ]);
    expect(streamRulesOf({ ...streamEvent, userId: 'u\u0085' })).toEqual(['userId:control-character']);
    expect(streamRulesOf({ ...streamEvent, userId: 'u\u2067' })).toEqual(['userId:bidi-control']);
  });

  it('refuses, without throwing, a segment whose name breaks the key pattern and whose value is not a string', () => {
    for (const value of [0, [], {}, null, true]) {
      expect(streamRulesOf({ ...streamEvent, segments: { '': value } })).toEqual(['segments.:pattern']);
      const incoming = normalizeIncomingEvent({ ...valid, segments: { '-x': value } }, context());
      expect(incoming.ok ? [] : incoming.rejections.map((r) => `${r.field}:${r.rule}`)).toEqual([
        'segments.-x:pattern',
      ]);
    }
  });

  it('returns the eventId lower case, and the input itself when it already was', () => {
    const upper = { ...streamEvent, eventId: streamEvent.eventId.toUpperCase() };
    const fromUpper = validateStreamEvent(upper, 0, DEFAULT_EVENT_LIMITS);
    expect(fromUpper.ok && fromUpper.event).toEqual(streamEvent);
    expect(upper.eventId).toBe('0B3C2C7E-8F4E-4B7A-9A51-0C1D2E3F4A5B'); // the caller's object is untouched
    const fromLower = validateStreamEvent(streamEvent, 0, DEFAULT_EVENT_LIMITS);
    expect(fromLower.ok && fromLower.event).toBe(streamEvent);
  });
});

describe('rejections name the field, the rule and say what is wrong', () => {
  const rejectionsOf = (input: unknown, ctx = context(3)) => {
    const result = normalizeIncomingEvent(input, ctx);
    return result.ok ? [] : result.rejections;
  };
  const only = (field: string, rule: string, message: string) => [{ index: 3, field, rule, message }];

  it('calls anything but a JSON object an event that must be one', () => {
    for (const input of [42, 'event', [], null, true]) {
      expect(rejectionsOf(input)).toEqual(only('(event)', 'type', 'event must be a JSON object'));
    }
  });

  it('says which types a field takes: timestamp as string or epoch ms, value as finite number, others by the schema', () => {
    const timestampRule = 'timestamp must be an ISO-8601 date-time string or epoch milliseconds ≥ 0';
    for (const timestamp of [true, -1, 'yesterday', '2026-11-24T12:00:00Z\u0007']) {
      expect(rejectionsOf({ ...valid, timestamp })).toEqual(only('timestamp', 'type', timestampRule));
    }
    for (const value of [NaN, Infinity, -Infinity]) {
      expect(rejectionsOf({ ...valid, value })).toEqual(only('value', 'finite', 'value must be a finite number'));
    }
    expect(rejectionsOf({ ...valid, value: 'x' })).toEqual(only('value', 'type', 'value must be number'));
    expect(rejectionsOf({ ...valid, userId: 5 })).toEqual(only('userId', 'type', 'userId must be string'));
    // On the stream, timestamp is epoch ms only: a negative one breaks the minimum, not the union.
    const stream = validateStreamEvent({ ...streamEvent, timestamp: -1 }, 3, DEFAULT_EVENT_LIMITS);
    expect(stream.ok ? [] : stream.rejections).toEqual(only('timestamp', 'range', 'timestamp must be >= 0'));
  });

  it('names a missing field and an unknown one, printable whatever its name holds', () => {
    const { userId: _omitted, ...withoutUser } = valid;
    expect(rejectionsOf(withoutUser)).toEqual(only('userId', 'required', 'userId is required'));
    expect(rejectionsOf({ ...valid, 'a/b~c': 1, '': 2, '\ud800x': 3 })).toEqual([
      { index: 3, field: 'a/b~c', rule: 'unknown-field', message: 'a/b~c is not a field of the event contract' },
      { index: 3, field: '""', rule: 'unknown-field', message: '"" is not a field of the event contract' },
      { index: 3, field: '\ufffdx', rule: 'unknown-field', message: '\ufffdx is not a field of the event contract' },
    ]);
  });

  it('explains the character rules, and holds only identifiers to the control and bidi rules', () => {
    expect(rejectionsOf({ ...valid, userId: 'a\u0001' })).toEqual(
      only('userId', 'control-character', 'userId must not contain control characters (U+0000–U+001F, U+007F–U+009F)'),
    );
    expect(rejectionsOf({ ...valid, userId: 'a\u202e' })).toEqual(
      only(
        'userId',
        'bidi-control',
        'userId must not contain bidi override or isolate characters (U+202A–U+202E, U+2066–U+2069)',
      ),
    );
    // A segment value is free text: a bidi character is allowed there.
    expect(rejectionsOf({ ...valid, segments: { country: 'a\u202eb' } })).toEqual([]);
  });

  it('holds segment values to the free-text rules, not the identifier ones, when another field is refused', () => {
    // A refused event has every string checked; a bidi character is still fine in a segment value.
    expect(rejectionsOf({ ...valid, userId: 5, segments: { country: 'a\u202eb' } })).toEqual(
      only('userId', 'type', 'userId must be string'),
    );
  });

  it('refuses segments that are not an object by type alone, whatever they hold', () => {
    for (const segments of [['\ud800'], '\ud800', 'DE']) {
      expect(rejectionsOf({ ...valid, segments })).toEqual(only('segments', 'type', 'segments must be object'));
    }
  });

  it('looks only at the segments’ own dimensions, not at inherited ones', () => {
    const segments = Object.create({ '\ud800': 'x' }) as Record<string, string>;
    segments['country'] = 'DE';
    const result = normalizeIncomingEvent({ ...valid, segments }, context(3));
    expect(result.ok && result.event.segments).toBe(segments);
  });

  it('allows exactly maxSegments dimensions, of at most KEY_MAX_LENGTH characters each', () => {
    const limits = { ...DEFAULT_EVENT_LIMITS, maxSegments: 2 };
    expect(rejectionsOf({ ...valid, segments: { a: 'x', b: 'y' } }, { ...context(3), limits })).toEqual([]);
    expect(rejectionsOf({ ...valid, segments: { a: 'x', b: 'y', c: 'z' } }, { ...context(3), limits })).toEqual(
      only('segments', 'max-properties', 'segments has 3 dimensions; at most 2 are allowed'),
    );
    const longest = 'k'.repeat(KEY_MAX_LENGTH);
    expect(rejectionsOf({ ...valid, segments: { [longest]: 'x' } })).toEqual([]);
    expect(rejectionsOf({ ...valid, segments: { [`${longest}k`]: 'x' } })).toEqual(
      only(
        `segments.${longest}`, // the field name is cut to the longest valid name
        'pattern',
        `segment dimension names must match ${KEY_PATTERN} and be at most ${KEY_MAX_LENGTH} characters`,
      ),
    );
  });

  it('says why a conversion without metric is refused', () => {
    const { metric: _omitted, ...withoutMetric } = valid;
    expect(rejectionsOf(withoutMetric)).toEqual(
      only('metric', 'required-for-conversion', 'metric is required when type is conversion'),
    );
  });

  it('refuses a date-time the format allows but no date has (a leap second) as format', () => {
    expect(rejectionsOf({ ...valid, timestamp: '2026-11-23T23:59:60Z' })).toEqual(
      only('timestamp', 'format', 'timestamp is not a valid date-time'),
    );
  });

  it('accepts timestamps exactly at both edges of the receive-time window and explains the ones beyond', () => {
    const limits = { ...DEFAULT_EVENT_LIMITS, maxAgeMs: 2 * 3_600_000, maxFutureMs: 30_000 };
    const ctx = { ...context(3), limits };
    expect(rejectionsOf({ ...valid, timestamp: NOW - limits.maxAgeMs }, ctx)).toEqual([]);
    expect(rejectionsOf({ ...valid, timestamp: NOW + limits.maxFutureMs }, ctx)).toEqual([]);
    expect(rejectionsOf({ ...valid, timestamp: NOW - limits.maxAgeMs - 1 }, ctx)).toEqual(
      only('timestamp', 'timestamp-too-old', 'timestamp is more than 2 h before the receive time'),
    );
    expect(rejectionsOf({ ...valid, timestamp: NOW + limits.maxFutureMs + 1 }, ctx)).toEqual(
      only('timestamp', 'timestamp-in-future', 'timestamp is more than 30 s after the receive time'),
    );
  });

  it('leaves metric and segments out of the normalised event when the input has none', () => {
    const result = normalizeIncomingEvent(
      { type: 'impression', experimentId: 'e', variantId: 'a', userId: 'u' },
      context(),
    );
    expect(result.ok && Object.keys(result.event)).toEqual([
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

  it('allows an event of exactly maxEventBytes and names both sizes for a bigger one', () => {
    const measured = normalizeIncomingEvent(valid, context());
    if (!measured.ok) throw new Error('valid event refused');
    const bytes = Buffer.byteLength(String(measured.serialized));
    const withLimit = (maxEventBytes: number) => ({
      ...context(3),
      limits: { ...DEFAULT_EVENT_LIMITS, maxEventBytes },
    });
    expect(rejectionsOf(valid, withLimit(bytes))).toEqual([]);
    expect(rejectionsOf(valid, withLimit(bytes - 1))).toEqual(
      only('(event)', 'max-size', `event is ${bytes} bytes; the limit is ${bytes - 1}`),
    );
  });

  it('without serializing (compact writers) decides max-size exactly as with: bound when far below, exact size near the limit', () => {
    const measured = normalizeIncomingEvent(valid, context());
    if (!measured.ok) throw new Error('valid event refused');
    const bytes = Buffer.byteLength(String(measured.serialized));
    expect(measured.jsonBytes).toBe(bytes);
    const eventOnly = (maxEventBytes: number) => ({
      ...context(3),
      serialize: false,
      limits: { ...DEFAULT_EVENT_LIMITS, maxEventBytes },
    });
    // Far below the limit: no JSON text, and an upper bound of its length.
    const roomy = normalizeIncomingEvent(valid, eventOnly(DEFAULT_EVENT_LIMITS.maxEventBytes));
    expect(roomy.ok && roomy.serialized).toBeUndefined();
    expect(roomy.ok && roomy.jsonBytes).toBe(roomy.ok && jsonByteBound(roomy.event));
    expect(roomy.ok && roomy.jsonBytes).toBeGreaterThanOrEqual(bytes);
    expect(roomy.ok && roomy.jsonBytes).toBeLessThanOrEqual(DEFAULT_EVENT_LIMITS.maxEventBytes);
    // At the limit the bound is over it: measured exactly, still no JSON text returned.
    const tight = normalizeIncomingEvent(valid, eventOnly(bytes));
    expect(tight.ok && tight.serialized).toBeUndefined();
    expect(tight.ok && tight.jsonBytes).toBe(bytes);
    expect(rejectionsOf(valid, eventOnly(bytes - 1))).toEqual(
      only('(event)', 'max-size', `event is ${bytes} bytes; the limit is ${bytes - 1}`),
    );
  });

  it('jsonByteBound charges 146 frame bytes, 24 per number and 6 per code unit and segment', () => {
    const full = {
      version: 1,
      eventId: '0b3c2c7e-8f4e-4b7a-9a51-0c1d2e3f4a5b',
      type: 'conversion' as const,
      experimentId: 'exp-1',
      variantId: 'b',
      userId: 'u-1',
      metric: 'revenue',
      value: 1,
      segments: { country: 'DE', device: 'ios' },
      timestamp: 1,
      receivedAt: 2,
    };
    // 36 + 10 + 5 + 1 + 3 code units, 7 of metric, 9 + 9 of two segments: 80 units.
    expect(jsonByteBound(full)).toBe(146 + 4 * 24 + 6 * 80 + 6 * 2);
    const { metric: _metric, segments: _segments, ...bare } = full;
    expect(jsonByteBound({ ...bare, type: 'impression' })).toBe(146 + 4 * 24 + 6 * 55);
    // A limit exactly at the bound: decided on the bound, nothing serialized.
    const measured = normalizeIncomingEvent(valid, { ...context(), serialize: false });
    if (!measured.ok) throw new Error('valid event refused');
    const atLimit = normalizeIncomingEvent(valid, {
      ...context(),
      serialize: false,
      limits: { ...DEFAULT_EVENT_LIMITS, maxEventBytes: measured.jsonBytes },
    });
    expect(atLimit.ok && atLimit.jsonBytes).toBe(measured.jsonBytes);
  });

  it('jsonByteBound is never below the JSON length, whatever the strings (escapes, astral, lone surrogates) and numbers', () => {
    const text = fc.oneof(anyString, fc.string({ unit: 'grapheme', maxLength: 30 }), fc.string({ maxLength: 200 }));
    const number = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.constant(-5e-324));
    const anyStreamEvent = fc.record(
      {
        version: number,
        eventId: text,
        type: fc.constantFrom('impression' as const, 'conversion' as const),
        experimentId: text,
        variantId: text,
        userId: text,
        metric: text,
        value: number,
        segments: fc.dictionary(text, text, { maxKeys: 12 }),
        covariates: fc.dictionary(text, number, { maxKeys: 24 }),
        timestamp: number,
        receivedAt: number,
      },
      {
        requiredKeys: [
          'version',
          'eventId',
          'type',
          'experimentId',
          'variantId',
          'userId',
          'value',
          'timestamp',
          'receivedAt',
        ],
      },
    );
    fc.assert(
      fc.property(anyStreamEvent, (event) => {
        expect(jsonByteBound(event)).toBeGreaterThanOrEqual(Buffer.byteLength(JSON.stringify(event)));
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts and refuses the same events with and without serializing, with the same rejections', () => {
    const anyEvent = fc
      .record({
        userId: fc.oneof(fc.string({ maxLength: 300 }), anyString),
        segments: fc.dictionary(fc.stringMatching(/^[a-z]{1,8}$/), fc.string({ maxLength: 120 }), { maxKeys: 12 }),
      })
      .map((varied) => ({ ...valid, ...varied }));
    const maxEventBytes = fc.integer({ min: 150, max: 3000 });
    fc.assert(
      fc.property(anyEvent, maxEventBytes, (input, limit) => {
        const ctx = { ...context(2), limits: { ...DEFAULT_EVENT_LIMITS, maxEventBytes: limit } };
        const serialized = normalizeIncomingEvent(input, ctx);
        const eventOnly = normalizeIncomingEvent(input, { ...ctx, serialize: false });
        expect(eventOnly.ok).toBe(serialized.ok);
        if (serialized.ok && eventOnly.ok) {
          expect(eventOnly.event).toEqual(serialized.event);
          expect(eventOnly.jsonBytes).toBeGreaterThanOrEqual(serialized.jsonBytes);
          expect(eventOnly.jsonBytes).toBeLessThanOrEqual(limit);
        } else {
          expect(eventOnly).toEqual(serialized);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('refuses an unsupported contract version on the stream too', () => {
    const result = validateStreamEvent({ ...streamEvent, version: 2 }, 3, DEFAULT_EVENT_LIMITS);
    expect(result.ok ? [] : result.rejections).toEqual(
      only('version', 'unsupported-version', 'contract version 2 is not supported (supported: 1)'),
    );
  });
});

describe('streamFieldChecks: the stream contract one field at a time', () => {
  it('bounds segment names by length and pattern, and segment values by the printable rule and well-formedness', () => {
    expect(streamFieldChecks.segmentKey('k'.repeat(KEY_MAX_LENGTH))).toBe(true);
    expect(streamFieldChecks.segmentKey('k'.repeat(KEY_MAX_LENGTH + 1))).toBe(false);
    expect(streamFieldChecks.segmentKey('-k')).toBe(false);
    expect(streamFieldChecks.segmentValue('DE')).toBe(true);
    expect(streamFieldChecks.segmentValue('a\u202eb')).toBe(true);
    expect(streamFieldChecks.segmentValue('')).toBe(false);
    expect(streamFieldChecks.segmentValue('a\tb')).toBe(false);
    expect(streamFieldChecks.segmentValue('D\ud800E')).toBe(false);
  });

  it('takes as instants only integer epoch ms in [2000-01-01, 2100-01-01)', () => {
    expect(streamFieldChecks.instant(EVENT_TIME_MIN_MS)).toBe(true);
    expect(streamFieldChecks.instant(EVENT_TIME_END_MS - 1)).toBe(true);
    expect(streamFieldChecks.instant(EVENT_TIME_MIN_MS - 1)).toBe(false);
    expect(streamFieldChecks.instant(EVENT_TIME_END_MS)).toBe(false);
    expect(streamFieldChecks.instant(EVENT_TIME_MIN_MS + 0.5)).toBe(false);
    expect(streamFieldChecks.instant(NaN)).toBe(false);
  });

  it('agrees with validateStreamEvent on each of these values', () => {
    const cases: [keyof typeof streamEvent | 'segment', unknown][] = [
      ['segment', 'k'.repeat(KEY_MAX_LENGTH + 1)],
      ['segment', 'D\ud800E'],
      ['timestamp', EVENT_TIME_MIN_MS + 0.5],
      ['timestamp', EVENT_TIME_MIN_MS - 1],
      ['timestamp', EVENT_TIME_END_MS],
    ];
    for (const [field, value] of cases) {
      const input =
        field === 'segment'
          ? {
              ...streamEvent,
              segments: (value as string).startsWith('k') ? { [value as string]: 'x' } : { country: value },
            }
          : { ...streamEvent, [field]: value };
      expect(validateStreamEvent(input, 0, DEFAULT_EVENT_LIMITS).ok).toBe(false);
    }
  });
});

describe('covariates: pre-exposure values on impressions (CUPED)', () => {
  const impression = {
    type: 'impression',
    experimentId: 'exp-1',
    variantId: 'b',
    userId: 'u-1',
    covariates: { revenue: 41.5, 'orders.count': 3, signup: 0 },
  };

  it('carries an impression’s covariates onto the stream event as sent, and leaves them out when absent', () => {
    const result = normalizeIncomingEvent(impression, context());
    if (!result.ok) throw new Error(JSON.stringify(result.rejections));
    expect(result.event.covariates).toEqual({ revenue: 41.5, 'orders.count': 3, signup: 0 });
    expect(JSON.parse(String(result.serialized)).covariates).toEqual(impression.covariates);
    expect(validateStreamEvent(JSON.parse(String(result.serialized)), 0, DEFAULT_EVENT_LIMITS).ok).toBe(true);
    const { covariates: _covariates, ...without } = impression;
    const bare = normalizeIncomingEvent(without, context());
    expect(bare.ok && 'covariates' in bare.event).toBe(false);
    const empty = normalizeIncomingEvent({ ...impression, covariates: {} }, context());
    expect(empty.ok && empty.event.covariates).toEqual({});
  });

  it('refuses covariates on a conversion, naming the field and the impression-only rule', () => {
    const conversion = { ...valid, covariates: { revenue: 1 } };
    const result = normalizeIncomingEvent(conversion, context(4));
    expect(result.ok ? [] : result.rejections).toEqual([
      {
        index: 4,
        field: 'covariates',
        rule: 'impression-only',
        message:
          'covariates are pre-exposure values and are carried only by impressions; send them with the exposure, not with a conversion',
      },
    ]);
    const stream = { ...streamEvent, covariates: { m: 2 } };
    expect(streamRulesOf(stream)).toEqual(['covariates:impression-only']);
    expect(streamRulesOf({ ...stream, type: 'impression', metric: undefined })).toEqual([]);
  });

  it('holds each covariate to the metric-key rules and to the value bounds, naming the covariate', () => {
    expect(rulesOf({ ...impression, covariates: { 'bad key': 1 } })).toEqual(['covariates.bad key:pattern']);
    const badKey = normalizeIncomingEvent({ ...impression, covariates: { 'bad key': 1 } }, context());
    expect(badKey.ok ? [] : badKey.rejections.map((rejection) => rejection.message)).toEqual([
      `covariate names are metric keys: they must match ${KEY_PATTERN} and be at most ${KEY_MAX_LENGTH} characters`,
    ]);
    expect(rulesOf({ ...impression, covariates: { ['k'.repeat(KEY_MAX_LENGTH + 1)]: 1 } })).toEqual([
      `covariates.${'k'.repeat(KEY_MAX_LENGTH)}:pattern`,
    ]);
    expect(rulesOf({ ...impression, covariates: { ['k'.repeat(KEY_MAX_LENGTH)]: 1 } })).toEqual([]);
    expect(rulesOf({ ...impression, covariates: { '\ud800x': 1 } })).toEqual(['covariates.\ufffdx:pattern']);
    expect(rulesOf({ ...impression, covariates: { revenue: MAX_EVENT_VALUE } })).toEqual([]);
    expect(rulesOf({ ...impression, covariates: { revenue: -MAX_EVENT_VALUE } })).toEqual([]);
    expect(rulesOf({ ...impression, covariates: { revenue: MAX_EVENT_VALUE * 1.5 } })).toEqual([
      'covariates.revenue:range',
    ]);
    expect(rulesOf({ ...impression, covariates: { revenue: '12' } })).toEqual(['covariates.revenue:type']);
    expect(rulesOf({ ...impression, covariates: [1, 2] })).toEqual(['covariates:type']);
    expect(streamRulesOf({ ...streamEvent, type: 'impression', covariates: { m: Number.NaN } })).toEqual([
      'covariates.m:type',
    ]);
    expect(streamRulesOf({ ...streamEvent, type: 'impression', covariates: { m: Infinity } })).not.toEqual([]);
  });

  it('allows exactly MAX_COVARIATES (20) covariates', () => {
    const many = (count: number) => Object.fromEntries(Array.from({ length: count }, (_, i) => [`m${i}`, i]));
    expect(MAX_COVARIATES).toBe(20);
    expect(rulesOf({ ...impression, covariates: many(20) })).toEqual([]);
    expect(rulesOf({ ...impression, covariates: many(21) })).toEqual(['covariates:max-properties']);
  });

  it('jsonByteBound charges covariates 16 frame bytes, and per covariate 4 bytes, 24 for its number and 6 per code unit', () => {
    const base = {
      version: 1,
      eventId: '0b3c2c7e-8f4e-4b7a-9a51-0c1d2e3f4a5b',
      type: 'impression' as const,
      experimentId: 'exp-1',
      variantId: 'b',
      userId: 'u-1',
      value: 1,
      timestamp: 1,
      receivedAt: 2,
    };
    expect(jsonByteBound({ ...base, covariates: {} })).toBe(jsonByteBound(base) + 16);
    // 'revenue' (7) + 'orders' (6) code units.
    expect(jsonByteBound({ ...base, covariates: { revenue: -1.25e-7, orders: 3 } })).toBe(
      jsonByteBound(base) + 16 + 2 * (4 + 24) + 6 * 13,
    );
    const extreme = { ...base, covariates: { a: -1.7976931348623157e308, ['\u0000'.repeat(64)]: -5e-324 } };
    expect(jsonByteBound(extreme)).toBeGreaterThanOrEqual(Buffer.byteLength(JSON.stringify(extreme)));
  });

  it('decides max-size the same with and without serializing when covariates are present (property)', () => {
    const anyImpression = fc
      .record({
        userId: fc.string({ minLength: 1, maxLength: 120 }),
        covariates: fc.dictionary(
          fc.stringMatching(/^[a-z][a-z0-9_.:-]{0,63}$/),
          fc.double({ min: -MAX_EVENT_VALUE, max: MAX_EVENT_VALUE, noNaN: true }),
          { maxKeys: 20 },
        ),
      })
      .map((varied) => ({ ...impression, ...varied }));
    fc.assert(
      fc.property(anyImpression, fc.integer({ min: 150, max: 3000 }), (input, limit) => {
        const ctx = { ...context(2), limits: { ...DEFAULT_EVENT_LIMITS, maxEventBytes: limit } };
        const serialized = normalizeIncomingEvent(input, ctx);
        const eventOnly = normalizeIncomingEvent(input, { ...ctx, serialize: false });
        expect(eventOnly.ok).toBe(serialized.ok);
        if (serialized.ok && eventOnly.ok) {
          expect(eventOnly.jsonBytes).toBeGreaterThanOrEqual(serialized.jsonBytes);
          expect(eventOnly.jsonBytes).toBeLessThanOrEqual(limit);
          expect(eventOnly.event.covariates).toEqual(input.covariates);
        } else {
          expect(eventOnly).toEqual(serialized);
        }
      }),
      { numRuns: 300 },
    );
  });
});
