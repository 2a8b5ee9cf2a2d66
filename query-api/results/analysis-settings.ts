/**
 * The statistics settings a results computation uses: the experiment definition's
 * `analysis` (common/analysis-settings.ts) with every default applied, and the request's
 * `alpha` / `sequential` query parameters on top. Pure; computed once per response and
 * echoed in it as `analysis`.
 *
 *   alpha              query alpha ?? analysis.alpha ?? 0.05
 *   sequential         query sequential ?? analysis.sequential ?? true
 *   sequentialTuning   analysis.sequentialTuning ?? analysis.expectedSampleSize ?? 5000   (N*, total users)
 *   alternative        analysis.alternative ?? 'two-sided'
 *   prior              analysis.prior (mean default 0, variance default 0.09) ?? flat
 *   correction         analysis.correction ?? 'none'   (main results: goal metrics × treatments)
 */
import type { AnalysisSettingsInput } from '../../common/analysis-settings.js';
import { PipelineError } from '../../common/errors.js';
import type { ExperimentDefinition } from '../../common/experiment-definition.js';
import { DEFAULT_ALPHA, DEFAULT_SEQUENTIAL_TUNING, type TestAlternative } from '../stats/index.js';

/** GrowthBook's default proper prior: N(0, 0.3²) on the relative lift. */
export const DEFAULT_PRIOR_MEAN = 0;
export const DEFAULT_PRIOR_VARIANCE = 0.09;

export type Correction = 'holm' | 'bh' | 'none';

/** Request-level overrides (query parameters); absent fields fall back to the definition. */
export interface AnalysisOptions {
  alpha?: number;
  sequential?: boolean;
}

/** Every setting resolved; served as the response's `analysis`. */
export interface AnalysisSettings {
  alpha: number;
  sequential: boolean;
  /** N*; present (and used) only when `sequential`. */
  sequentialTuning: number;
  /** Where N* came from. */
  sequentialTuningSource: 'sequentialTuning' | 'expectedSampleSize' | 'default';
  alternative: TestAlternative;
  prior: { proper: true; mean: number; variance: number } | { proper: false };
  correction: Correction;
}

/**
 * Resolves the settings of `definition` under the request's overrides. Throws
 * VALIDATION_FAILED (a 400 naming `alpha`) when a query `alpha` of 0.5 meets a one-sided
 * sequential test, whose boundary needs 2α < 1.
 *
 * @example
 *   resolveAnalysisSettings({ ...definition, analysis: { expectedSampleSize: 40000 } }, {})
 *   // { alpha: 0.05, sequential: true, sequentialTuning: 40000, sequentialTuningSource: 'expectedSampleSize', … }
 */
export function resolveAnalysisSettings(
  definition: Pick<ExperimentDefinition, 'analysis'>,
  overrides: AnalysisOptions,
): AnalysisSettings {
  const analysis: AnalysisSettingsInput = definition.analysis ?? {};
  const settings: AnalysisSettings = {
    alpha: overrides.alpha ?? analysis.alpha ?? DEFAULT_ALPHA,
    sequential: overrides.sequential ?? analysis.sequential ?? true,
    ...sequentialTuningOf(analysis),
    alternative: analysis.alternative ?? 'two-sided',
    prior: analysis.prior?.proper
      ? {
          proper: true,
          mean: analysis.prior.mean ?? DEFAULT_PRIOR_MEAN,
          variance: analysis.prior.variance ?? DEFAULT_PRIOR_VARIANCE,
        }
      : { proper: false },
    correction: analysis.correction ?? 'none',
  };
  if (settings.sequential && settings.alternative !== 'two-sided' && !(settings.alpha < 0.5)) {
    const message = `must be below 0.5 for the one-sided (${settings.alternative}) sequential test of this experiment`;
    throw new PipelineError('VALIDATION_FAILED', `alpha: ${message}`, {
      details: [{ field: 'alpha', rule: 'oneSidedSequentialAlpha', message }],
    });
  }
  return settings;
}

function sequentialTuningOf(
  analysis: AnalysisSettingsInput,
): Pick<AnalysisSettings, 'sequentialTuning' | 'sequentialTuningSource'> {
  if (analysis.sequentialTuning !== undefined) {
    return { sequentialTuning: analysis.sequentialTuning, sequentialTuningSource: 'sequentialTuning' };
  }
  if (analysis.expectedSampleSize !== undefined) {
    return { sequentialTuning: analysis.expectedSampleSize, sequentialTuningSource: 'expectedSampleSize' };
  }
  return { sequentialTuning: DEFAULT_SEQUENTIAL_TUNING, sequentialTuningSource: 'default' };
}
