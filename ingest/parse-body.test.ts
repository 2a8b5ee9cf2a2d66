import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isPipelineError } from '../common/errors.js';
import { MAX_BODY_DEPTH, parseBody } from './parse-body.js';

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
