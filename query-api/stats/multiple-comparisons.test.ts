/**
 * Holm and Benjamini–Hochberg against textbook examples whose adjusted values are
 * those of R's p.adjust.
 */
import { describe, expect, it } from 'vitest';
import { PipelineError } from '../../common/errors.js';
import { adjustPValues } from './index.js';

/** Benjamini & Hochberg (1995), section 4: the 15 p-values of the myocardial infarction study. */
const BH_1995_P_VALUES = [
  0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.324, 0.4262, 0.5719, 0.6528, 0.759, 1.0,
];
/** p.adjust(BH_1995_P_VALUES, "BH"). */
const BH_1995_ADJUSTED = [
  0.0015, 0.003, 0.0095, 0.035625, 0.0603, 0.0638571428571, 0.0638571428571, 0.0645, 0.0765, 0.486, 0.581181818182,
  0.714875, 0.753230769231, 0.813214285714, 1.0,
];

describe('adjustPValues', () => {
  it('Holm: [0.01, 0.04, 0.03, 0.005] → [0.03, 0.06, 0.06, 0.02] (p.adjust "holm")', () => {
    const adjusted = adjustPValues([0.01, 0.04, 0.03, 0.005], 'holm');
    [0.03, 0.06, 0.06, 0.02].forEach((expected, index) => expect(adjusted[index]).toBeCloseTo(expected, 12));
  });

  it('BH: reproduces Benjamini & Hochberg (1995), rejecting exactly 4 of 15 at q = 0.05', () => {
    const adjusted = adjustPValues(BH_1995_P_VALUES, 'bh');
    BH_1995_ADJUSTED.forEach((expected, index) => expect(adjusted[index]).toBeCloseTo(expected, 10));
    expect(adjusted.filter((p) => p !== null && p <= 0.05)).toHaveLength(4);
  });

  it('Holm on the same study rejects only 3: it controls the stricter family-wise rate', () => {
    const adjusted = adjustPValues(BH_1995_P_VALUES, 'holm');
    expect(adjusted.filter((p) => p !== null && p <= 0.05)).toHaveLength(3);
    expect(adjusted[0]).toBeCloseTo(0.0015, 12);
    expect(adjusted[1]).toBeCloseTo(0.0056, 12);
    expect(adjusted[2]).toBeCloseTo(0.0247, 12);
    expect(adjusted[3]).toBeCloseTo(0.114, 12);
  });

  it('keeps the input order and leaves nulls in place without counting them', () => {
    expect(adjustPValues([0.04, null, 0.01], 'holm')).toEqual([0.04, null, 0.02]);
    expect(adjustPValues([0.04, null, 0.01], 'bh')).toEqual([0.04, null, 0.02]);
    expect(adjustPValues([null, null], 'bh')).toEqual([null, null]);
    expect(adjustPValues([], 'holm')).toEqual([]);
  });

  it('caps adjusted values at 1', () => {
    expect(adjustPValues([0.6, 0.7, 0.9], 'holm')).toEqual([1, 1, 1]);
  });

  it("'none' returns a copy of the input", () => {
    const input = [0.2, null, 0.01];
    const output = adjustPValues(input, 'none');
    expect(output).toEqual(input);
    expect(output).not.toBe(input);
  });

  it('names the rule and the offending values when it rejects', () => {
    expect(() => adjustPValues([0.2, -0.01, null, 1.5], 'bh')).toThrow(
      expect.objectContaining({
        code: 'VALIDATION_FAILED',
        message: 'p-values must be between 0 and 1 or null',
        details: { invalid: [-0.01, 1.5] },
      }),
    );
    expect(() => adjustPValues([0.1], 'bonferroni' as 'holm')).toThrow(
      expect.objectContaining({ message: "unknown p-value adjustment 'bonferroni' (holm, bh or none)" }),
    );
    // The bounds themselves are probabilities.
    expect(adjustPValues([0, 1], 'holm')).toEqual([0, 1]);
  });

  it('rejects values that are not probabilities and unknown methods', () => {
    expect(() => adjustPValues([1.2], 'holm')).toThrow(PipelineError);
    expect(() => adjustPValues([Number.NaN], 'bh')).toThrow(PipelineError);
    expect(() => adjustPValues([0.1], 'bonferroni' as 'holm')).toThrow(PipelineError);
  });
});
