/**
 * The compiled-pattern cache is bounded: in its own file so the module (and its cache) starts
 * empty. 500 patterns stay compiled; the 501st clears the cache rather than growing it.
 */
import { describe, expect, it } from 'vitest';
import { compilePattern } from './targeting-evaluation.js';

describe('compiled-pattern cache', () => {
  it('keeps 500 patterns, then starts over instead of growing without bound', () => {
    const first = compilePattern('^p0$', false);
    for (let index = 1; index < 500; index += 1) compilePattern(`^p${index}$`, false);
    expect(compilePattern('^p0$', false)).toBe(first);
    compilePattern('^p500$', false);
    const recompiled = compilePattern('^p0$', false);
    expect(recompiled).not.toBe(first);
    expect(recompiled?.source).toBe('^p0$');
  });
});
