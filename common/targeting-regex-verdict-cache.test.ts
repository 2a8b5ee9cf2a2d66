/**
 * The regex verdict cache is bounded: in its own file so the module (and its cache) starts
 * empty. 1,000 verdicts are kept; the 1,001st clears the cache rather than growing it.
 */
import { describe, expect, it } from 'vitest';
import { checkRegexSafety } from './targeting-regex-safety.js';

describe('regex verdict cache', () => {
  it('keeps 1,000 verdicts, then starts over instead of growing without bound', () => {
    const first = checkRegexSafety('^v0$', false);
    for (let index = 1; index < 1_000; index += 1) checkRegexSafety(`^v${index}$`, false);
    expect(checkRegexSafety('^v0$', false, 0)).toBe(first);
    checkRegexSafety('^v1000$', false);
    // Cleared: without budget, the first pattern is no longer known.
    expect(checkRegexSafety('^v0$', false, 0)).toMatchObject({ safe: false, rule: 'regex-unverifiable' });
  });
});
