import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_EVENT_LIMITS } from './config.js';
import {
  EVENT_TIME_END_MS,
  EVENT_TIME_MIN_MS,
  KEY_MAX_LENGTH,
  MAX_COVARIATES,
  MAX_EVENT_VALUE,
  SEGMENT_VALUE_MAX_LENGTH,
  USER_ID_MAX_LENGTH,
} from './event-contract.js';
import { createEventIdGenerator } from './event-ids.js';
import { normalizeCommonEvent, normalizeIncomingEvent, type NormalizeContext } from './validate-event.js';

const NOW = Date.parse('2026-11-24T12:00:00Z');
const context = (overrides: Partial<NormalizeContext> = {}): NormalizeContext => ({
  index: 5,
  now: NOW,
  limits: DEFAULT_EVENT_LIMITS,
  newEventId: () => '01890000-0000-7000-8000-000000000000',
  ...overrides,
});
/** What the collector validates: the value `JSON.parse` makes of the producer's text. */
const parsed = (value: unknown): unknown => JSON.parse(JSON.stringify(value) ?? 'null') as unknown;

const impression = {
  type: 'impression',
  experimentId: 'exp-1',
  variantId: 'control',
  userId: 'user-1',
  segments: { country: 'DE', device: 'ios' },
};
const conversion = { ...impression, type: 'conversion', metric: 'revenue', value: 12.5 };

/** The fast path's answer must be the full path's, field for field and key for key (the JSON records' bytes). */
function expectSameAsFullPath(input: unknown, ctx: NormalizeContext): boolean {
  const common = normalizeCommonEvent(input, ctx);
  if (common === undefined) return false;
  const full = normalizeIncomingEvent(input, ctx);
  expect(common).toEqual(full);
  if (common.ok && full.ok) {
    expect(Object.keys(common.event)).toEqual(Object.keys(full.event));
    expect(common.serialized).toBe(full.serialized);
  }
  return true;
}

// Text at the edges of every rule: lengths around the limits, key characters and not, non-ASCII,
// control, C1, bidi and surrogate code units.
const keyChar = fc.constantFrom('a', 'Z', '0', '_', '.', ':', '-', ' ', 'é', '/', '\u0000');
const key = fc.oneof(
  fc.constantFrom('exp-1', 'control', 'revenue', 'country', 'k'.repeat(KEY_MAX_LENGTH), 'k'.repeat(KEY_MAX_LENGTH + 1)),
  fc.string({ unit: keyChar, maxLength: 70 }),
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,66}$/),
);
const freeChar = fc.constantFrom(
  'a',
  ' ',
  'é',
  '日',
  '\u0007',
  '\u001f',
  '\u007f',
  '\u0085',
  '\u009f',
  '\u00a0',
  '\u202a',
  '\u202e',
  '\u2066',
  '\u2069',
  '\ud83d',
  '\ude00',
  '\ud83d\ude00',
);
const freeText = fc.oneof(
  fc.string({ unit: freeChar, maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 70 }),
  fc.constantFrom(
    '',
    'u'.repeat(USER_ID_MAX_LENGTH),
    'u'.repeat(USER_ID_MAX_LENGTH + 1),
    '😀'.repeat(USER_ID_MAX_LENGTH / 2 + 1),
    'v'.repeat(SEGMENT_VALUE_MAX_LENGTH),
    'v'.repeat(SEGMENT_VALUE_MAX_LENGTH + 1),
    '😀'.repeat(SEGMENT_VALUE_MAX_LENGTH / 2 + 1),
  ),
);
const number = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
  fc.constantFrom(MAX_EVENT_VALUE, -MAX_EVENT_VALUE, MAX_EVENT_VALUE + 1, 0.5, -0),
);
const timestamp = fc.oneof(
  fc.integer({ min: NOW - 8 * 24 * 3600 * 1000, max: NOW + 600_000 }),
  fc.constantFrom(
    NOW - DEFAULT_EVENT_LIMITS.maxAgeMs,
    NOW - DEFAULT_EVENT_LIMITS.maxAgeMs - 1,
    NOW + DEFAULT_EVENT_LIMITS.maxFutureMs,
    NOW + DEFAULT_EVENT_LIMITS.maxFutureMs + 1,
    NOW + 0.5,
    -1,
    EVENT_TIME_MIN_MS - 1,
    EVENT_TIME_END_MS,
    '2026-11-24T11:59:00Z',
    '2026-11-24T11:59:00.123+01:00',
    '2026-11-24',
    'yesterday',
    '2026-11-24T11:59:60Z',
    `${'2026-11-24T11:59:00.'}${'1'.repeat(40)}Z`,
  ),
  fc
    .date({ min: new Date(NOW - 9 * 24 * 3600 * 1000), max: new Date(NOW + 600_000), noInvalidDate: true })
    .map((d) => d.toISOString()),
);
const anything = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.string({ maxLength: 3 }),
  fc.integer(),
  fc.array(fc.integer(), { maxLength: 2 }),
  fc.object({ maxDepth: 1 }),
);

const KEEP = Symbol('keep');
const DROP = Symbol('drop');
/** A field kept as the base event has it (most often), dropped, or set to `value`. */
const change = (value: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> =>
  fc.oneof(
    { weight: 12, arbitrary: fc.constant(KEEP) },
    { weight: 1, arbitrary: fc.constant(DROP) },
    { weight: 2, arbitrary: value },
  );
const validKey = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,10}$/);

/** Mostly valid events with some fields moved to an edge of a rule, or off it, or dropped. */
const eventLike = fc
  .record({
    base: fc.constantFrom(impression, conversion),
    version: change(fc.oneof(fc.constant(1), fc.constantFrom(2, 0, '1', 1.5), anything)),
    eventId: change(
      fc.oneof(
        fc.uuid(),
        fc.uuid().map((id) => id.toUpperCase()),
        fc.constantFrom('not-a-uuid', ''),
        anything,
      ),
    ),
    type: change(fc.oneof(fc.constantFrom('impression', 'conversion', 'click'), anything)),
    experimentId: change(fc.oneof(validKey, key, anything)),
    variantId: change(fc.oneof(validKey, key)),
    userId: change(fc.oneof(freeText, anything)),
    metric: change(fc.oneof(validKey, key, anything)),
    value: change(fc.oneof(number, anything)),
    segments: change(
      fc.oneof(
        fc.dictionary(validKey, fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }), { maxKeys: 12 }),
        fc.dictionary(key, fc.oneof(freeText, anything), { maxKeys: 12 }),
        fc.dictionary(fc.constantFrom('country', 'device', 'browser', '__proto__', 'constructor'), freeText, {
          maxKeys: 3,
        }),
        anything,
      ),
    ),
    covariates: change(
      fc.oneof(
        fc.dictionary(validKey, number, { maxKeys: MAX_COVARIATES + 2 }),
        fc.dictionary(key, fc.oneof(number, anything), { maxKeys: 4 }),
        anything,
      ),
    ),
    timestamp: change(fc.oneof(timestamp, anything)),
    extra: fc.oneof({ weight: 9, arbitrary: fc.constant(DROP) }, { weight: 1, arbitrary: anything }),
  })
  .map(({ base, ...changes }) => {
    const event: Record<string, unknown> = { ...base };
    for (const [field, changed] of Object.entries(changes)) {
      if (changed === DROP) delete event[field];
      else if (changed !== KEEP) event[field] = changed;
    }
    return event;
  });

describe('normalizeCommonEvent: the fast path of the collector', () => {
  it('answers as normalizeIncomingEvent whenever it answers, on JSON values of every shape (property)', () => {
    let answered = 0;
    let runs = 0;
    fc.assert(
      fc.property(
        fc.oneof({ weight: 9, arbitrary: eventLike }, { weight: 1, arbitrary: anything }),
        fc.constantFrom<Partial<NormalizeContext>>(
          {},
          { serialize: false },
          { limits: { ...DEFAULT_EVENT_LIMITS, maxSegments: 2 } },
          { limits: { ...DEFAULT_EVENT_LIMITS, maxEventBytes: 300 }, serialize: false },
          { limits: { ...DEFAULT_EVENT_LIMITS, maxEventBytes: 300 } },
          { now: EVENT_TIME_END_MS + 5 },
        ),
        (raw, overrides) => {
          runs++;
          if (expectSameAsFullPath(parsed(raw), context(overrides))) answered++;
        },
      ),
      { numRuns: 5000 },
    );
    // The property means something only if the fast path answers often.
    expect(answered).toBeGreaterThan(runs / 10);
  });

  it('answers for the common events: impressions and conversions, with or without segments, covariates, ids, times', () => {
    const events = [
      impression,
      conversion,
      { ...impression, segments: undefined },
      { ...impression, covariates: { revenue: 3.5, sessions: -2 } },
      { ...conversion, eventId: '0B3C2C7E-8F4E-4B7A-9A51-0C1D2E3F4A5B', version: 1 },
      { ...conversion, timestamp: NOW - 60_000 },
      { ...conversion, timestamp: '2026-11-24T11:59:00Z' },
      { ...impression, userId: 'zoë 日本 😀', segments: { country: 'Köln' } },
      { ...impression, userId: 'a"b\\c', segments: { country: 'x"y', city: 'back\\slash', device: '\u0085 é' } },
      { ...impression, covariates: { tiny: 1e-7, big: -99999999.5, zero: -0, whole: 3 } },
      { ...impression, segments: { '10': 'numeric', b: '1', a: '2' } },
      { ...conversion, value: MAX_EVENT_VALUE },
      { ...impression, segments: Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`d${i}`, 'v'])) },
      { ...impression, covariates: Object.fromEntries(Array.from({ length: MAX_COVARIATES }, (_, i) => [`m${i}`, i])) },
      // Every shape of event with covariates: with or without a metric, with or without segments.
      { ...impression, segments: undefined, covariates: { revenue: 2 } },
      { ...impression, metric: 'revenue', covariates: { revenue: 2 } },
      { ...impression, metric: 'revenue', segments: undefined, covariates: { revenue: 2 } },
    ];
    for (const event of events) {
      for (const serialize of [true, false]) {
        expect(expectSameAsFullPath(parsed(event), context({ serialize })), JSON.stringify(event)).toBe(true);
      }
    }
  });

  it("lower-cases the ids of another generator, and takes the collector generator's as they are", () => {
    const upper = context({ newEventId: () => 'ABCDEF00-0000-7000-8000-00000000000A' });
    expect(expectSameAsFullPath(parsed(impression), upper)).toBe(true);
    expect(normalizeCommonEvent(parsed(impression), upper)).toMatchObject({
      event: { eventId: 'abcdef00-0000-7000-8000-00000000000a' },
    });
    const at = Date.parse('2026-11-24T12:00:00.007Z');
    const generated = normalizeCommonEvent(
      parsed(impression),
      context({ now: at, newEventId: createEventIdGenerator() }),
    );
    expect(generated?.ok && generated.event.eventId).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(generated?.ok && parseInt(generated.event.eventId.replaceAll('-', '').slice(0, 12), 16)).toBe(at);
  });

  it('leaves every broken rule to the full path, which words the rejection', () => {
    const broken = [
      { ...conversion, metric: undefined },
      { ...impression, extra: 1 },
      { ...impression, version: 2 },
      { ...impression, userId: 'bell\u0007' },
      { ...impression, userId: 'a\u202eb' },
      { ...impression, userId: '\ud800' },
      { ...impression, segments: { country: '' } },
      { ...impression, segments: { 'bad key': 'x' } },
      { ...impression, segments: Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`d${i}`, 'v'])) },
      { ...conversion, covariates: { revenue: 1 } },
      {
        ...impression,
        covariates: Object.fromEntries(Array.from({ length: MAX_COVARIATES + 1 }, (_, i) => [`m${i}`, i])),
      },
      { ...impression, covariates: { revenue: MAX_EVENT_VALUE + 1 } },
      { ...conversion, value: MAX_EVENT_VALUE * 2 },
      { ...conversion, timestamp: NOW + 600_000 },
      { ...conversion, timestamp: 'yesterday' },
      // A one-element array whose text is a UUID (a regular expression test would take it as one).
      { ...impression, eventId: ['0b3c2c7e-8f4e-4b7a-9a51-0c1d2e3f4a5b'] },
      // Covariate values that compare as numbers without being numbers.
      { ...impression, covariates: { revenue: '5' } },
      { ...impression, covariates: { revenue: null } },
      { ...impression, covariates: { revenue: true } },
      // U+0080, the first code past ASCII (a C1 control), first and later in a key, and in a userId.
      { ...impression, experimentId: '\u0080exp' },
      { ...impression, experimentId: 'exp\u0080' },
      { ...impression, segments: { 'country\u0080': 'DE' } },
      { ...impression, userId: 'user\u0080' },
      [impression],
      null,
    ];
    for (const event of broken) {
      const input = parsed(event);
      expect(normalizeCommonEvent(input, context()), JSON.stringify(event)).toBeUndefined();
      expect(normalizeIncomingEvent(input, context()).ok).toBe(false);
    }
  });

  it('leaves an event to the full path when the receive time itself is outside the date range', () => {
    // Each timestamp inside the date range and inside the receive-time window.
    for (const [now, timestamp] of [
      [EVENT_TIME_END_MS + 5, EVENT_TIME_END_MS - 1000],
      [EVENT_TIME_MIN_MS - 5, EVENT_TIME_MIN_MS + 1000],
    ]) {
      const input = parsed({ ...conversion, timestamp });
      expect(normalizeCommonEvent(input, context({ now }))).toBeUndefined();
      expect(normalizeIncomingEvent(input, context({ now }))).toMatchObject({
        ok: false,
        rejections: [expect.objectContaining({ field: 'receivedAt', rule: 'date-range' })],
      });
    }
  });

  it('leaves a timestamp outside the date range to the full path, when the receive-time window reaches past it', () => {
    // The receive time inside the range, the timestamp inside the window but at or past an end of the range.
    for (const [now, timestamp] of [
      [EVENT_TIME_END_MS - 1000, EVENT_TIME_END_MS],
      [EVENT_TIME_END_MS - 1000, EVENT_TIME_END_MS + 1000],
      [EVENT_TIME_MIN_MS + 1000, EVENT_TIME_MIN_MS - 1],
    ]) {
      const input = parsed({ ...conversion, timestamp });
      expect(normalizeCommonEvent(input, context({ now })), String(timestamp)).toBeUndefined();
      expect(normalizeIncomingEvent(input, context({ now }))).toMatchObject({
        ok: false,
        rejections: [expect.objectContaining({ field: 'timestamp', rule: 'date-range' })],
      });
    }
    // The receive time exactly at the end of the range (which excludes it).
    const atEnd = parsed({ ...conversion, timestamp: EVENT_TIME_END_MS - 1000 });
    expect(normalizeCommonEvent(atEnd, context({ now: EVENT_TIME_END_MS }))).toBeUndefined();
    // Just inside both ends, the fast path answers as the full path.
    expect(
      expectSameAsFullPath(
        parsed({ ...conversion, timestamp: EVENT_TIME_END_MS - 1 }),
        context({ now: EVENT_TIME_END_MS - 1000 }),
      ),
    ).toBe(true);
    expect(
      expectSameAsFullPath(
        parsed({ ...conversion, timestamp: EVENT_TIME_MIN_MS }),
        context({ now: EVENT_TIME_MIN_MS + 1000 }),
      ),
    ).toBe(true);
  });

  it('leaves objects that JSON.parse does not make to the full path: other prototypes, inherited fields', () => {
    const inheritedSegments = Object.create({ inherited: 'x' }) as Record<string, string>;
    inheritedSegments['country'] = 'DE';
    for (const input of [
      undefined,
      Object.assign(Object.create(null) as object, impression),
      Object.assign(Object.create({ extra: 1 }) as object, impression),
      { ...impression, segments: inheritedSegments },
      { ...impression, covariates: Object.assign(Object.create(null) as object, { revenue: 1 }) },
    ]) {
      expect(normalizeCommonEvent(input, context())).toBeUndefined();
    }
  });

  it('decides max-size as the full path near the limit: the bound below it, the full path above it', () => {
    const full = normalizeIncomingEvent(parsed(conversion), context({ serialize: false }));
    if (!full.ok) throw new Error('valid event refused');
    const atBound = context({ serialize: false, limits: { ...DEFAULT_EVENT_LIMITS, maxEventBytes: full.jsonBytes } });
    expect(normalizeCommonEvent(parsed(conversion), atBound)).toEqual(full);
    const belowBound = context({
      serialize: false,
      limits: { ...DEFAULT_EVENT_LIMITS, maxEventBytes: full.jsonBytes - 1 },
    });
    expect(normalizeCommonEvent(parsed(conversion), belowBound)).toBeUndefined();
  });
});
