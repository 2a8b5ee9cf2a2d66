/** sampleMoments: from (n, Σx, Σx²) to mean and per-user variance, including where there is too little data. */
import { describe, expect, it } from 'vitest';
import { sampleMoments } from './sample-moments.js';

describe('sampleMoments', () => {
  it('reproduces its documented example: 10 users, Σx = 100, Σx² = 1002.25 → mean 10, variance 0.25', () => {
    const moments = sampleMoments({ n: 10, sum: 100, sumSquares: 1002.25 }, 'mean');
    expect(moments.n).toBe(10);
    expect(moments.mean).toBe(10);
    expect(moments.variance).toBeCloseTo(0.25, 12);
  });

  it('has neither mean nor variance without users (not 0/0 = NaN)', () => {
    expect(sampleMoments({ n: 0, sum: 0, sumSquares: 0 }, 'mean')).toEqual({ n: 0, mean: null, variance: null });
    expect(sampleMoments({ n: 0, sum: 0, sumSquares: 0 }, 'binomial')).toEqual({ n: 0, mean: null, variance: null });
  });

  it('has a mean but no variance for a single user of a mean metric', () => {
    expect(sampleMoments({ n: 1, sum: 5, sumSquares: 25 }, 'mean')).toEqual({ n: 1, mean: 5, variance: null });
  });

  it('uses p(1 − p) for a conversion metric, even for a single user', () => {
    expect(sampleMoments({ n: 4, sum: 1, sumSquares: 1 }, 'binomial')).toEqual({ n: 4, mean: 0.25, variance: 0.1875 });
    expect(sampleMoments({ n: 1, sum: 1, sumSquares: 1 }, 'binomial')).toEqual({ n: 1, mean: 1, variance: 0 });
  });

  it('reports a variance that is only rounding noise as exactly 0', () => {
    // Three users worth 0.1 each: Σx² − (Σx)²/n is 1.4e-17, not 0, in float64.
    const sum = 0.1 + 0.1 + 0.1;
    const sumSquares = 0.1 * 0.1 + 0.1 * 0.1 + 0.1 * 0.1;
    expect(sumSquares - (sum * sum) / 3).not.toBe(0);
    expect(sampleMoments({ n: 3, sum, sumSquares }, 'mean').variance).toBe(0);
  });
});
