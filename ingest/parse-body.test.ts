import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_EVENT_LIMITS } from '../common/config.js';
import { isPipelineError } from '../common/errors.js';
import { collectEvents } from './collect-events.js';
import { DEFER_DEPTH_CHECK_MAX_CHARS, MAX_BODY_DEPTH, parseBody } from './parse-body.js';
import { eventArbitrary } from './test-support/collector-arbitraries.js';

/**
 * The depth rule read character by character (a backslash in a string skips the next character;
 * brackets inside strings do not count), as a reference for the collector's faster JSON scan.
 */
function referenceDepthExceeds(text: string): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') {
      if (++depth > MAX_BODY_DEPTH) return true;
    } else if (c === '}' || c === ']') depth = Math.max(0, depth - 1);
  }
  return false;
}

function refusedForDepth(text: string): boolean {
  try {
    parseBody(text, 'json', { maxEvents: 1_000_000 });
    return false;
  } catch (error) {
    return isPipelineError(error) && (error.details as { rule?: string }).rule === 'max-depth';
  }
}

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
      .array(fc.constantFrom('"', '\\', '[', ']', '{', '}', 'a', ',', ':'), { maxLength: 80 })
      .map((chars) => chars.join(''));
    // Deep prefixes make the limit reachable, so both answers occur.
    const body = fc.tuple(fc.nat({ max: MAX_BODY_DEPTH + 2 }), text).map(([levels, rest]) => '['.repeat(levels) + rest);
    let refused = 0;
    fc.assert(
      fc.property(body, (candidate) => {
        const expected = referenceDepthExceeds(candidate);
        if (expected) refused++;
        expect(refusedForDepth(candidate)).toBe(expected);
      }),
      { numRuns: 5_000 },
    );
    expect(refused).toBeGreaterThan(0);
  });
});

describe('parseBody with deferDepthCheck: the depth scan after JSON.parse, for small arrays', () => {
  const limits = { maxEvents: 20, deferDepthCheck: true };
  const ruleOf = (run: () => unknown): string | undefined => {
    try {
      run();
      return undefined;
    } catch (error) {
      return isPipelineError(error) ? String((error as { details?: { rule?: string } }).details?.rule) : 'not typed';
    }
  };

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
