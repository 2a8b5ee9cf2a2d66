import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_EVENT_LIMITS } from './config.js';
import { normalizeIncomingEvent, validateStreamEvent } from './validate-event.js';

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

const rulesOf = (input: unknown) => {
  const result = normalizeIncomingEvent(input, context(3));
  return result.ok ? [] : result.rejections.map((r) => `${r.field}:${r.rule}`);
};

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
    expect(JSON.parse(result.serialized)).toEqual(result.event);
  });

  it.each([
    [{ ...valid, experimentId: 'x'.repeat(65) }, 'experimentId:max-length'],
    [{ ...valid, variantId: 'has space' }, 'variantId:pattern'],
    [{ ...valid, userId: 'bell\u0007' }, 'userId:pattern'],
    [{ ...valid, type: 'click' }, 'type:enum'],
    [{ ...valid, metric: undefined }, 'metric:required-for-conversion'],
    [{ ...valid, value: 1e13 }, 'value:range'],
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
          type: fc.oneof(fc.constantFrom('impression', 'conversion'), fc.string()),
          experimentId: fc.oneof(fc.stringMatching(/^[a-z][a-z0-9-]{0,70}$/), fc.string(), fc.integer()),
          variantId: fc.oneof(fc.constantFrom('a', 'b'), fc.string()),
          userId: fc.oneof(fc.string({ maxLength: 140 }), fc.constant('')),
          metric: fc.oneof(fc.constant('m'), fc.string()),
          value: fc.oneof(fc.double(), fc.integer(), fc.string()),
          timestamp: fc.oneof(
            fc.integer({ min: NOW - 1e10, max: NOW + 1e10 }),
            fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
            fc.string(),
          ),
          segments: fc.dictionary(fc.string({ maxLength: 70 }), fc.oneof(fc.string({ maxLength: 70 }), fc.integer()), {
            maxKeys: 12,
          }),
          version: fc.oneof(fc.constant(1), fc.integer()),
        },
        { requiredKeys: [] },
      ),
    );
    fc.assert(
      fc.property(anyEventLike, (input) => {
        const result = normalizeIncomingEvent(input, context(7));
        if (result.ok) {
          expect(validateStreamEvent(JSON.parse(result.serialized), 0, DEFAULT_EVENT_LIMITS).ok).toBe(true);
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

describe('validateStreamEvent', () => {
  it('accepts old events (no clock window on the stream) and rejects unnormalised ones', () => {
    const streamEvent = {
      version: 1,
      eventId: '0b3c2c7e-8f4e-4b7a-9a51-0c1d2e3f4a5b',
      type: 'impression',
      experimentId: 'e',
      variantId: 'a',
      userId: 'u',
      value: 1,
      timestamp: 1,
      receivedAt: 2,
    };
    expect(validateStreamEvent(streamEvent, 0, DEFAULT_EVENT_LIMITS).ok).toBe(true);
    const { eventId: _omitted, ...withoutEventId } = streamEvent;
    const result = validateStreamEvent(withoutEventId, 4, DEFAULT_EVENT_LIMITS);
    expect(result.ok ? [] : result.rejections).toEqual([
      expect.objectContaining({ index: 4, field: 'eventId', rule: 'required' }),
    ]);
  });
});
