/**
 * Defaults and validation of CompareOptions, done once per call so the procedures
 * below can trust their inputs.
 */
import { PipelineError } from '../../common/errors.js';
import { alternativeFor, type Alternative } from './alternative-hypothesis.js';
import type { CompareOptions, GaussianPrior, MetricKind, TestAlternative } from './types.js';

/** gbstats' defaults: 95% intervals, sequential tuning N = 5000. */
export const DEFAULT_ALPHA = 0.05;
export const DEFAULT_SEQUENTIAL_TUNING = 5000;

/** CompareOptions with every default applied. */
export interface CompareSettings {
  kind: MetricKind;
  alpha: number;
  sequential: boolean;
  sequentialTuning: number;
  lowerIsBetter: boolean;
  oneSided: boolean;
  /** The frequentist alternative, resolved from `alternative` or else `oneSided` + `lowerIsBetter`. */
  alternative: Alternative;
  prior: GaussianPrior | undefined;
}

const INTERNAL_ALTERNATIVE: Record<TestAlternative, Alternative> = {
  'two-sided': 'two-sided',
  greater: 'greater',
  less: 'lesser',
};

/**
 * Applies defaults and rejects settings the formulas cannot honour: α outside (0, 1)
 * (or ≥ 0.5 for a one-sided sequential test, whose boundary assumes 2α < 1), a
 * non-positive tuning parameter, a proper prior without positive finite variance.
 *
 * @example resolveCompareSettings({ kind: 'mean' }).sequentialTuning // 5000
 */
export function resolveCompareSettings(options: CompareOptions): CompareSettings {
  const lowerIsBetter = options.lowerIsBetter ?? false;
  const problems: string[] = [];
  // Own keys only: 'constructor' or 'toString' would find Object.prototype's functions.
  const explicit =
    options.alternative !== undefined && Object.hasOwn(INTERNAL_ALTERNATIVE, options.alternative)
      ? INTERNAL_ALTERNATIVE[options.alternative]
      : undefined;
  if (options.alternative !== undefined && explicit === undefined) {
    problems.push("alternative must be 'two-sided', 'greater' or 'less'");
  }
  const alternative = explicit ?? alternativeFor(options.oneSided ?? false, lowerIsBetter);
  const settings: CompareSettings = {
    kind: options.kind,
    alpha: options.alpha ?? DEFAULT_ALPHA,
    sequential: options.sequential ?? true,
    sequentialTuning: options.sequentialTuning ?? DEFAULT_SEQUENTIAL_TUNING,
    lowerIsBetter,
    oneSided: alternative !== 'two-sided',
    alternative,
    prior: options.prior,
  };
  if (settings.kind !== 'binomial' && settings.kind !== 'mean') problems.push("kind must be 'binomial' or 'mean'");
  if (!(settings.alpha > 0 && settings.alpha < 1)) problems.push('alpha must be between 0 and 1 (exclusive)');
  if (settings.sequential && settings.oneSided && !(settings.alpha < 0.5)) {
    problems.push('alpha must be below 0.5 for a one-sided sequential test');
  }
  if (!(Number.isFinite(settings.sequentialTuning) && settings.sequentialTuning > 0)) {
    problems.push('sequentialTuning must be a positive number');
  }
  const prior = settings.prior;
  if (prior?.proper && !(Number.isFinite(prior.mean) && Number.isFinite(prior.variance) && prior.variance > 0)) {
    problems.push('a proper prior needs a finite mean and a positive, finite variance');
  }
  if (problems.length > 0) {
    throw new PipelineError('VALIDATION_FAILED', `invalid comparison options: ${problems.join('; ')}`, {
      details: { problems },
    });
  }
  return settings;
}
