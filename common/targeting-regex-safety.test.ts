/**
 * checkRegexSafety's verdicts and reasons, its time budget, and which verdicts it keeps:
 * final ones (cached, even once the budget is spent) but never a timeout or a failure,
 * which may be the machine's load rather than the pattern.
 */
import { describe, expect, it } from 'vitest';
import { checkRegexSafety } from './targeting-regex-safety.js';

/** Quadratic with ten-way alternations: recheck needs ~10 ms to prove it, far more than 1 ms. */
const SLOW_TO_PROVE = '^(a|b|c|d|e|f|g|h|i|j)*(a|b|c|d|e|f|g|h|i|j)*z$';

describe('checkRegexSafety reasons', () => {
  it('shows a short attack in full', () => {
    const verdict = checkRegexSafety('(x+x+)+y', false);
    expect(verdict).toMatchObject({ safe: false, rule: 'regex-unsafe' });
    const shown = /^can take exponential time on inputs like (.*); only patterns proven linear are accepted$/.exec(
      verdict.safe ? '' : verdict.reason,
    )?.[1];
    expect(shown).toMatch(/^'x'/);
    expect(shown!.length).toBeLessThan(60);
    expect(shown).not.toMatch(/\.\.\.$/);
  });

  it('shortens an attack past 60 characters to 57 and an ellipsis', () => {
    const verdict = checkRegexSafety('^a*a*a*a*a*a*$', false);
    const shown = /on inputs like (.*); only patterns proven linear are accepted$/.exec(
      verdict.safe ? '' : verdict.reason,
    )?.[1];
    expect(shown).toHaveLength(60);
    expect(shown?.endsWith('...')).toBe(true);
  });

  it('names the construct it refuses to reason about', () => {
    expect(checkRegexSafety('(?=(a|a)+$)b', false)).toEqual({
      safe: false,
      rule: 'regex-unsupported',
      reason:
        'uses a look-ahead assertion, which cannot be proven to run in linear time; use a plain regular expression',
    });
  });

  it("refuses what recheck cannot parse, with recheck's reason", () => {
    expect(checkRegexSafety('(', false)).toEqual({
      safe: false,
      rule: 'regex-unsupported',
      reason: expect.stringMatching(/^is not supported: parsing failure/),
    });
  });
});

describe('checkRegexSafety time budget and cache', () => {
  it('refuses without checking once the budget is spent', () => {
    expect(checkRegexSafety('^budget(y|z)+$', false, 0)).toEqual({
      safe: false,
      rule: 'regex-unverifiable',
      reason: "was not checked: the rule's time for regex checks ran out",
    });
  });

  it('refuses a pattern it cannot prove in time, and does not remember that verdict', () => {
    expect(checkRegexSafety(SLOW_TO_PROVE, false, 1)).toEqual({
      safe: false,
      rule: 'regex-unverifiable',
      reason: 'could not be proven to run in linear time (timeout); simplify the pattern',
    });
    // With time, the same pattern gets its real verdict.
    expect(checkRegexSafety(SLOW_TO_PROVE, false)).toMatchObject({ safe: false, rule: 'regex-unsafe' });
  });

  it('remembers final verdicts, safe and unsafe, and serves them even once the budget is spent', () => {
    const safe = checkRegexSafety('^cached-safe$', false);
    expect(safe).toEqual({ safe: true, complexity: expect.any(String) });
    expect(checkRegexSafety('^cached-safe$', false, 0)).toBe(safe);
    const unsafe = checkRegexSafety('^(k+)+$', false);
    expect(unsafe).toMatchObject({ safe: false, rule: 'regex-unsafe' });
    expect(checkRegexSafety('^(k+)+$', false, 0)).toBe(unsafe);
  });

  it('refuses, and does not remember, a check the checker could not run', () => {
    // recheck throws on a non-string source: the nearest real stand-in for a checker failure.
    const notAString = 42 as unknown as string;
    expect(checkRegexSafety(notAString, false)).toEqual({
      safe: false,
      rule: 'regex-unverifiable',
      reason: 'could not be checked for linear time; try again',
    });
    expect(checkRegexSafety(notAString, false, 0)).toMatchObject({ reason: expect.stringMatching(/^was not checked/) });
  });
});
