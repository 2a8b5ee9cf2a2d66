/** The definition's `analysis` with its defaults and the query overrides (query-api/results/analysis-settings.ts). */
import { describe, expect, it } from 'vitest';
import { isPipelineError } from '../../common/errors.js';
import { resolveAnalysisSettings } from './analysis-settings.js';

describe('resolveAnalysisSettings', () => {
  it('applies the documented defaults to a definition without settings', () => {
    expect(resolveAnalysisSettings({}, {})).toEqual({
      alpha: 0.05,
      sequential: true,
      sequentialTuning: 5000,
      sequentialTuningSource: 'default',
      alternative: 'two-sided',
      prior: { proper: false },
      correction: 'none',
    });
  });

  it('takes N* from the expected sample size, unless N* is set directly', () => {
    const fromExpected = resolveAnalysisSettings({ analysis: { expectedSampleSize: 40_000 } }, {});
    expect(fromExpected).toMatchObject({ sequentialTuning: 40_000, sequentialTuningSource: 'expectedSampleSize' });
    const direct = resolveAnalysisSettings({ analysis: { expectedSampleSize: 40_000, sequentialTuning: 1234 } }, {});
    expect(direct).toMatchObject({ sequentialTuning: 1234, sequentialTuningSource: 'sequentialTuning' });
  });

  it("uses the definition's alpha, sequential, alternative and correction; query parameters override alpha and sequential", () => {
    const definition = {
      analysis: { alpha: 0.1, sequential: false, alternative: 'less' as const, correction: 'bh' as const },
    };
    expect(resolveAnalysisSettings(definition, {})).toMatchObject({
      alpha: 0.1,
      sequential: false,
      alternative: 'less',
      correction: 'bh',
    });
    expect(resolveAnalysisSettings(definition, { alpha: 0.01, sequential: true })).toMatchObject({
      alpha: 0.01,
      sequential: true,
      alternative: 'less',
    });
  });

  it("completes a proper prior with GrowthBook's defaults (mean 0, variance 0.3²) and ignores a flat prior's numbers", () => {
    expect(resolveAnalysisSettings({ analysis: { prior: { proper: true } } }, {}).prior).toEqual({
      proper: true,
      mean: 0,
      variance: 0.09,
    });
    expect(
      resolveAnalysisSettings({ analysis: { prior: { proper: true, mean: 0.1, variance: 0.01 } } }, {}).prior,
    ).toEqual({ proper: true, mean: 0.1, variance: 0.01 });
    expect(resolveAnalysisSettings({ analysis: { prior: { proper: false, mean: 3 } } }, {}).prior).toEqual({
      proper: false,
    });
  });

  it('refuses a query alpha of 0.5 for a one-sided sequential experiment, naming alpha and the rule', () => {
    const definition = { analysis: { alternative: 'greater' as const } };
    let thrown: unknown;
    try {
      resolveAnalysisSettings(definition, { alpha: 0.5 });
    } catch (error) {
      thrown = error;
    }
    expect(isPipelineError(thrown) && thrown.code).toBe('VALIDATION_FAILED');
    expect(isPipelineError(thrown) && thrown.details).toEqual([
      expect.objectContaining({ field: 'alpha', rule: 'oneSidedSequentialAlpha' }),
    ]);
    // Two-sided, or fixed-horizon, 0.5 is a valid (if odd) level.
    expect(resolveAnalysisSettings({}, { alpha: 0.5 }).alpha).toBe(0.5);
    expect(resolveAnalysisSettings(definition, { alpha: 0.5, sequential: false }).alpha).toBe(0.5);
  });
});
