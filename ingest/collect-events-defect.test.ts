import { describe, expect, it, vi } from 'vitest';
import { DEFAULT_EVENT_LIMITS } from '../common/config.js';
import { createEventIdGenerator } from '../common/event-ids.js';
import type * as ValidateEvent from '../common/validate-event.js';
import { collectEvents, VALIDATOR_DEFECT } from './collect-events.js';
import { MAX_BODY_DEPTH, parseBody } from './parse-body.js';

// The validator never throws by design; this stands in a defect that makes it throw on one event.
vi.mock('../common/validate-event.js', async (importOriginal) => {
  const original = await importOriginal<typeof ValidateEvent>();
  const defect = (candidate: unknown) => (candidate as { userId?: unknown } | null)?.userId === 'defect';
  return {
    ...original,
    normalizeCommonEvent: (candidate: unknown, context: ValidateEvent.NormalizeContext) => {
      if (defect(candidate)) throw new Error('validator defect');
      return original.normalizeCommonEvent(candidate, context);
    },
  };
});

describe('collectEvents with a validator that throws (injected defect: normalizeCommonEvent mocked)', () => {
  it('refuses only the event it threw on, with a rule of its own, hands the error over for logging and keeps the others', () => {
    const event = (userId: string) => ({ type: 'impression', experimentId: 'exp', variantId: 'control', userId });
    const defects: unknown[] = [];
    const result = collectEvents(
      { candidates: [event('a'), event('defect'), event('c')], rejections: [] },
      {
        now: Date.now(),
        limits: DEFAULT_EVENT_LIMITS,
        newEventId: createEventIdGenerator(),
        onDefect: (error) => defects.push(error),
      },
    );
    expect(result.valid.map((collected) => collected.event.userId)).toEqual(['a', 'c']);
    expect(defects).toEqual([new Error('validator defect')]);
    expect(result.rejected.report().rejected).toEqual([
      {
        index: 1,
        field: '(event)',
        rule: VALIDATOR_DEFECT,
        message: 'the collector could not validate this event (a defect on our side, logged); it was not written',
      },
    ]);
  });

  it('reports the defect even when the body then fails its deferred depth check (before, it went unlogged with the 400)', () => {
    const event = (userId: string) => ({ type: 'impression', experimentId: 'exp', variantId: 'control', userId });
    const deep = `${'['.repeat(MAX_BODY_DEPTH + 1)}1${']'.repeat(MAX_BODY_DEPTH + 1)}`;
    const text = `[${JSON.stringify(event('defect'))},${deep}]`;
    const defects: unknown[] = [];
    let refused: unknown;
    try {
      collectEvents(parseBody(text, 'json', { maxEvents: 10, deferDepthCheck: true }), {
        now: Date.now(),
        limits: DEFAULT_EVENT_LIMITS,
        newEventId: createEventIdGenerator(),
        onDefect: (error) => defects.push(error),
      });
    } catch (error) {
      refused = error;
    }
    expect(refused).toMatchObject({ code: 'BODY_UNPARSEABLE', details: { rule: 'max-depth' } });
    expect(defects).toEqual([new Error('validator defect')]);
  });
});
