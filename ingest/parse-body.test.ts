import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_EVENT_LIMITS } from '../common/config.js';
import { isPipelineError } from '../common/errors.js';
import { collectEvents } from './collect-events.js';
import {
  DEFER_DEPTH_CHECK_MAX_CHARS,
  MAX_BODY_DEPTH,
  assertBodyDepth,
  decodeUtf8Body,
  parseBody,
} from './parse-body.js';
import { eventArbitrary } from './test-support/collector-arbitraries.js';

/**
 * The depth rule read character by character (a backslash in a string skips the next character;
 * brackets inside strings do not count), as a reference for the collector's faster JSON scan. In
 * NDJSON a newline also ends a string and starts again at depth 0.
 */
function referenceDepthExceeds(text: string, format: 'json' | 'ndjson' = 'json'): boolean {
  const lines = format === 'ndjson';
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"' || (lines && c === '\n')) inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') {
      if (++depth > MAX_BODY_DEPTH) return true;
    } else if (c === '}' || c === ']') depth = Math.max(0, depth - 1);
    else if (lines && c === '\n') depth = 0;
  }
  return false;
}

/** The rule of the typed error `run` throws, or undefined when it throws none. */
const ruleOf = (run: () => unknown): string | undefined => {
  try {
    run();
    return undefined;
  } catch (error) {
    return isPipelineError(error) ? String((error.details as { rule?: string }).rule) : `untyped: ${String(error)}`;
  }
};

const refusedForDepth = (text: string): boolean =>
  ruleOf(() => parseBody(text, 'json', { maxEvents: 1_000_000 })) === 'max-depth';

const deep = (levels: number): string => `${'['.repeat(levels)}${']'.repeat(levels)}`;

describe('parseBody: the max-depth rule on JSON bodies', () => {
  it('refuses one level beyond the limit and takes the limit itself', () => {
    expect(refusedForDepth(deep(MAX_BODY_DEPTH))).toBe(false);
    expect(refusedForDepth(deep(MAX_BODY_DEPTH + 1))).toBe(true);
  });

  it('does not count brackets inside strings, escaped quotes included, and counts those after an escaped backslash', () => {
    const brackets = '['.repeat(MAX_BODY_DEPTH + 1);
    expect(refusedForDepth(`["${brackets}"]`)).toBe(false);
    expect(refusedForDepth(`["a\\"${brackets}"]`)).toBe(false);
    expect(refusedForDepth(`["a\\\\\\"${brackets}"]`)).toBe(false);
    expect(refusedForDepth(`["a\\\\",${deep(MAX_BODY_DEPTH)}]`)).toBe(true);
    expect(refusedForDepth(`["unterminated ${brackets}`)).toBe(false);
  });

  it('decides like the character-by-character reading on any mix of quotes, backslashes and brackets', () => {
    const text = fc
      .array(fc.constantFrom('"', '\\', '[', ']', '{', '}', 'a', ',', ':', '\n'), { maxLength: 80 })
      .map((chars) => chars.join(''));
    // Deep prefixes make the limit reachable, so both answers occur. A newline is whitespace in JSON: it starts nothing again.
    const body = fc.tuple(fc.nat({ max: MAX_BODY_DEPTH + 2 }), text).map(([levels, rest]) => '['.repeat(levels) + rest);
    let refused = 0;
    fc.assert(
      fc.property(body, (candidate) => {
        const expected = referenceDepthExceeds(candidate);
        if (expected) refused++;
        expect(refusedForDepth(candidate)).toBe(expected);
        // The check parseBody leaves to the caller (deferDepthCheck) is the same rule.
        expect(ruleOf(() => assertBodyDepth(candidate)) === 'max-depth').toBe(expected);
      }),
      { numRuns: 5_000 },
    );
    expect(refused).toBeGreaterThan(0);
  });
});

describe('parseBody with deferDepthCheck: the depth scan after JSON.parse, for small arrays', () => {
  const limits = { maxEvents: 20, deferDepthCheck: true };
  it('parses a small deep array and leaves its text to be checked; checks a wrapper, a bad body or a large one first', () => {
    const small = `[${deep(MAX_BODY_DEPTH + 4)}]`;
    expect(parseBody(small, 'json', limits).uncheckedDepthText).toBe(small);
    expect(ruleOf(() => parseBody(small, 'json', { maxEvents: 20 }))).toBe('max-depth');
    expect(ruleOf(() => parseBody(`{"events":[],"x":${deep(MAX_BODY_DEPTH + 1)}}`, 'json', limits))).toBe('max-depth');
    expect(ruleOf(() => parseBody(`${deep(MAX_BODY_DEPTH + 1)},`, 'json', limits))).toBe('max-depth');
    expect(ruleOf(() => parseBody(`{"e":${deep(MAX_BODY_DEPTH + 1)}}`, 'json', limits))).toBe('max-depth');
    const many = `[${Array.from({ length: 21 }, () => '1').join(',')},${deep(MAX_BODY_DEPTH)}]`;
    expect(ruleOf(() => parseBody(many, 'json', limits))).toBe('max-depth');
    const large = `[${deep(MAX_BODY_DEPTH + 1)},"${'a'.repeat(DEFER_DEPTH_CHECK_MAX_CHARS)}"]`;
    expect(ruleOf(() => parseBody(large, 'json', limits))).toBe('max-depth');
    // Shallow bodies keep their own rules.
    expect(ruleOf(() => parseBody('[1,', 'json', limits))).toBe('json');
    expect(ruleOf(() => parseBody('{"events":1}', 'json', limits))).toBe('shape');
    expect(ruleOf(() => parseBody('[1,2,3]', 'json', { ...limits, maxEvents: 2 }))).toBe('max-events');
    expect(parseBody('{"events":[1]}', 'json', limits).uncheckedDepthText).toBeUndefined();
  });

  it('gives every body the answer of the scan-first order once collectEvents has run (valid, deep, wrapped, cut, too many)', () => {
    const now = Date.parse('2026-11-27T10:00:00Z');
    let id = 0;
    const context = {
      now,
      limits: DEFAULT_EVENT_LIMITS,
      newEventId: () => `0190a1b2-c3d4-7e5f-8a9b-${String(id++ % 1e12).padStart(12, '0')}`,
      serialize: false,
      onDefect: (error: unknown) => {
        throw error; // the validator never throws here
      },
    };
    const outcome = (text: string, deferDepthCheck: boolean): unknown => {
      try {
        const { valid, rejected } = collectEvents(parseBody(text, 'json', { maxEvents: 6, deferDepthCheck }), context);
        return { valid: valid.map((event) => event.index), rejected: rejected.report() };
      } catch (error) {
        return { refused: isPipelineError(error) ? (error.details as { rule?: string }).rule : String(error) };
      }
    };
    const nested = fc
      .tuple(fc.integer({ min: MAX_BODY_DEPTH - 3, max: MAX_BODY_DEPTH + 3 }), fc.constantFrom('[', '{"a":'))
      .map(([levels, open]) => `${open.repeat(levels)}1${(open === '[' ? ']' : '}').repeat(levels)}`);
    const body = fc
      .tuple(
        fc.array(eventArbitrary(now), { maxLength: 14 }),
        fc.option(fc.tuple(nested, fc.nat()), { nil: undefined }),
        fc.constantFrom('array', 'wrapped', 'wrapped beside', 'cut'),
        fc.nat(),
      )
      .map(([events, extra, shape, cut]) => {
        const items = events.map((event) => JSON.stringify(event));
        if (extra !== undefined && shape !== 'wrapped beside') items.splice(extra[1] % (items.length + 1), 0, extra[0]);
        const list = `[${items.join(',')}]`;
        if (shape === 'array') return list;
        if (shape === 'cut') return list.slice(0, cut % (list.length + 1));
        return shape === 'wrapped' ? `{"events":${list}}` : `{"events":${list},"x":${extra?.[0] ?? '[]'}}`;
      });
    const seen = new Set<unknown>();
    fc.assert(
      fc.property(body, (text) => {
        const expected = outcome(text, false);
        seen.add((expected as { refused?: unknown }).refused);
        expect(outcome(text, true)).toEqual(expected);
      }),
      { numRuns: 3_000 },
    );
    // The runs reached every way out: events answered, and each whole-body rule.
    expect([...seen].sort()).toEqual(['json', 'max-depth', 'max-events', undefined].sort());
  });
});

const ruleOfParse = (text: string, format: 'json' | 'ndjson', maxEvents = 1_000_000): string | undefined =>
  ruleOf(() => parseBody(text, format, { maxEvents }));

describe('parseBody: the max-depth rule on NDJSON bodies', () => {
  it('counts each line from depth 0, ends a string at a newline, and refuses one level beyond the limit', () => {
    expect(ruleOfParse(deep(MAX_BODY_DEPTH), 'ndjson')).toBeUndefined();
    expect(ruleOfParse(deep(MAX_BODY_DEPTH + 1), 'ndjson')).toBe('max-depth');
    // Two lines of 10 levels each: 20 only if the newline did not start again.
    expect(ruleOfParse(`${'['.repeat(10)}\n${'['.repeat(10)}`, 'ndjson')).toBeUndefined();
    // Closing brackets take the depth down, never below 0.
    expect(ruleOfParse(`]]]]${'['.repeat(MAX_BODY_DEPTH)}`, 'ndjson')).toBeUndefined();
    expect(ruleOfParse(`${'[]'.repeat(40)}${'{'.repeat(MAX_BODY_DEPTH)}`, 'ndjson')).toBeUndefined();
    // Brackets in a string do not count; an escaped quote does not end it; a newline does.
    const brackets = '['.repeat(MAX_BODY_DEPTH + 1);
    expect(ruleOfParse(`"${brackets}"`, 'ndjson')).toBeUndefined();
    expect(ruleOfParse(`"a\\"${brackets}"`, 'ndjson')).toBeUndefined();
    expect(ruleOfParse(`"unterminated\n${brackets}`, 'ndjson')).toBe('max-depth');
    expect(ruleOfParse(`{"a":"b"}\n${'{"a":'.repeat(MAX_BODY_DEPTH + 1)}`, 'ndjson')).toBe('max-depth');
  });

  it('decides like the character-by-character reading on any mix of quotes, backslashes, brackets and newlines', () => {
    const text = fc
      .array(fc.constantFrom('"', '\\', '[', ']', '{', '}', '\n', 'a', ','), { maxLength: 80 })
      .map((chars) => chars.join(''));
    const body = fc.tuple(fc.nat({ max: MAX_BODY_DEPTH + 2 }), text).map(([levels, rest]) => '['.repeat(levels) + rest);
    let refused = 0;
    fc.assert(
      fc.property(body, (candidate) => {
        const expected = referenceDepthExceeds(candidate, 'ndjson');
        if (expected) refused++;
        expect(ruleOfParse(candidate, 'ndjson') === 'max-depth').toBe(expected);
      }),
      { numRuns: 5_000 },
    );
    expect(refused).toBeGreaterThan(0);
  });

  it('skips blank lines, parses each other line alone and names a bad one without losing the rest', () => {
    const parsed = parseBody('{"a":1}\n   \n\t\n{bad\n\u00a0{"b":2}\u00a0\n', 'ndjson', { maxEvents: 3 });
    // Unicode spaces around a line (here no-break spaces, which JSON.parse alone refuses) are trimmed too.
    expect(parsed.candidates).toEqual([{ a: 1 }, undefined, { b: 2 }]);
    expect(parsed.rejections).toHaveLength(1);
    expect(parsed.rejections[0]).toMatchObject({ index: 1, field: '(event)', rule: 'invalid-json' });
    expect(parsed.rejections[0]?.message).toMatch(/^line is not valid JSON: /);
    expect(ruleOfParse('{}\n{}\n   \n{}', 'ndjson', 2)).toBe('max-events');
  });
});

describe('parseBody and decodeUtf8Body: whole-request errors name their rule and say what is wrong', () => {
  const errorOf = (run: () => unknown): { message: string; details: unknown; statusCode: number } => {
    try {
      run();
    } catch (error) {
      if (isPipelineError(error))
        return { message: error.message, details: error.details, statusCode: error.statusCode };
      throw error;
    }
    throw new Error('no error');
  };

  it('gives each rule its message and details', () => {
    expect(errorOf(() => decodeUtf8Body(Buffer.from([0x5b, 0xff, 0x5d])))).toEqual({
      message: 'the body is not valid UTF-8 (rule utf-8)',
      details: { rule: 'utf-8' },
      statusCode: 400,
    });
    expect(decodeUtf8Body(Buffer.from('\ufeff[{"userId":"zoë"}]'))).toBe('[{"userId":"zoë"}]');
    expect(errorOf(() => parseBody(deep(MAX_BODY_DEPTH + 1), 'json', { maxEvents: 5 }))).toEqual({
      message: `the body is nested deeper than ${MAX_BODY_DEPTH} levels (rule max-depth)`,
      details: { rule: 'max-depth', limit: MAX_BODY_DEPTH },
      statusCode: 400,
    });
    expect(errorOf(() => parseBody('[1,', 'json', { maxEvents: 5 })).message).toMatch(/^body is not valid JSON: ./);
    expect(errorOf(() => parseBody('[1,2,3]', 'json', { maxEvents: 2 }))).toEqual({
      message: 'the request carries 3 events; at most 2 are accepted per request (rule max-events): split it',
      details: { rule: 'max-events', limit: 2, events: 3 },
      statusCode: 413,
    });
  });

  it('refuses null, a number or an object without an events array as a shape, never with a TypeError', () => {
    for (const text of ['null', '5', '"text"', '{}', '{"events":{}}', 'true']) {
      for (const deferDepthCheck of [false, true]) {
        expect(ruleOfParse(text, 'json'), text).toBe('shape');
        expect(
          errorOf(() => parseBody(text, 'json', { maxEvents: 5, deferDepthCheck })).details,
          `${text} (deferred: ${deferDepthCheck})`,
        ).toEqual({ rule: 'shape' });
      }
    }
  });

  it('defers the depth scan for an array of exactly DEFER_DEPTH_CHECK_MAX_CHARS, not one character more', () => {
    const fill = (length: number): string => `["${'a'.repeat(length - 4)}"]`;
    const limits = { maxEvents: 5, deferDepthCheck: true };
    expect(fill(DEFER_DEPTH_CHECK_MAX_CHARS)).toHaveLength(DEFER_DEPTH_CHECK_MAX_CHARS);
    expect(parseBody(fill(DEFER_DEPTH_CHECK_MAX_CHARS), 'json', limits).uncheckedDepthText).toBeDefined();
    expect(parseBody(fill(DEFER_DEPTH_CHECK_MAX_CHARS + 1), 'json', limits).uncheckedDepthText).toBeUndefined();
  });
});
