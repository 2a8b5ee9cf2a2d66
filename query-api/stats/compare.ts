/**
 * compareToControl: one metric, treatment versus control. Guards first (too few users,
 * zero variance, zero baseline), then the effect moments, then the frequentist
 * (sequential or fixed-horizon) and Bayesian summaries of each effect.
 */
import { absolutePrior, gaussianPosterior, type GaussianPosterior } from './bayesian.js';
import { resolveCompareSettings, type CompareSettings } from './compare-settings.js';
import {
  absoluteEffect,
  relativeEffect,
  welchDegreesOfFreedom,
  type EffectEstimate,
  type VariantMoments,
} from './effect-moments.js';
import { fixedHorizonInference } from './fixed-horizon.js';
import { assertValidSampleStats, sampleMoments, type SampleMoments } from './sample-moments.js';
import { sequentialInference } from './sequential.js';
import type { FrequentistInference } from './alternative-hypothesis.js';
import type { CompareOptions, ComparisonWarning, Interval, SampleStats, VariantComparison } from './types.js';

/**
 * Compares a treatment with control on one metric. Every number is finite or null;
 * `warnings` says why something is null.
 *
 * @example
 *   compareToControl(
 *     { n: 3407, sum: 1396.87, sumSquares: 52377.9767 },
 *     { n: 3461, sum: 2422.7, sumSquares: 134698.29 },
 *     { kind: 'mean', sequential: false },
 *   ).relative // { estimate: 0.70732, ciLow: -0.03526, ciHigh: 1.44989 }, pValue 0.06191
 */
export function compareToControl(
  control: SampleStats,
  treatment: SampleStats,
  options: CompareOptions,
): VariantComparison {
  const settings = resolveCompareSettings(options);
  assertValidSampleStats(control, settings.kind, 'control');
  assertValidSampleStats(treatment, settings.kind, 'treatment');
  return compareMoments(sampleMoments(control, settings.kind), sampleMoments(treatment, settings.kind), settings);
}

/**
 * compareToControl from each arm's per-unit moments (n, mean, variance), whatever produced
 * them: a mean or conversion metric (sampleMoments) or a ratio metric (ratioMoments, the
 * delta method). `warnings` come first in the result's warnings (e.g. `zero-denominator`).
 *
 * @example compareMoments({ n: 100, mean: 0.49, variance: 0.2499 }, { n: 100, mean: 0.51, variance: 0.2499 }, settings)
 */
export function compareMoments(
  controlMoments: SampleMoments,
  treatmentMoments: SampleMoments,
  settings: CompareSettings,
  warnings: ComparisonWarning[] = [],
): VariantComparison {
  warnings.push(...guardWarnings(controlMoments, treatmentMoments));
  const absoluteEstimate =
    controlMoments.mean !== null && treatmentMoments.mean !== null
      ? finiteOrNull(treatmentMoments.mean - controlMoments.mean)
      : null;
  const relativeEstimate =
    absoluteEstimate !== null && controlMoments.mean
      ? finiteOrNull(absoluteEstimate / Math.abs(controlMoments.mean))
      : null;

  const testable = testableMoments(controlMoments, treatmentMoments);
  if (testable === null) return untestedComparison(absoluteEstimate, relativeEstimate, settings, warnings);

  const [controlTestable, treatmentTestable] = testable;
  const absolute = usableEffect(absoluteEffect(controlTestable, treatmentTestable));
  const relative = usableEffect(relativeEffect(controlTestable, treatmentTestable));
  if (absolute === null || (relative === null && controlTestable.mean !== 0)) {
    warnings.push('numerical-instability');
  }
  if (absolute === null) return untestedComparison(absoluteEstimate, relativeEstimate, settings, warnings);

  return summarizeEffects({
    absolute,
    relative,
    relativeEstimate,
    controlMean: controlTestable.mean,
    degreesOfFreedom: welchDegreesOfFreedom(controlTestable, treatmentTestable),
    totalUsers: controlMoments.n + treatmentMoments.n,
    settings,
    warnings,
  });
}

/** Testable effects of one comparison, with what the frequentist and Bayesian summaries need. */
export interface EffectsToSummarize {
  absolute: EffectEstimate;
  /** Null when the relative lift is undefined (zero baseline) or numerically unusable. */
  relative: EffectEstimate | null;
  /** Shown when `relative` is null but a point estimate exists. */
  relativeEstimate: number | null;
  /** Control mean: rescales a relative prior to the absolute scale. */
  controlMean: number;
  degreesOfFreedom: number;
  /** n_c + n_t, the sample size of the confidence sequence. */
  totalUsers: number;
  settings: CompareSettings;
  warnings: ComparisonWarning[];
}

/**
 * The frequentist (sequential or fixed-horizon) and Bayesian summaries of an absolute and a
 * relative effect: shared by every estimator (means, ratios, CUPED).
 *
 * @example summarizeEffects({ absolute: { estimate: 0.29, standardError: 0.12478 }, … }).absolutePValue
 */
export function summarizeEffects(effects: EffectsToSummarize): VariantComparison {
  const { absolute, relative, relativeEstimate, controlMean, degreesOfFreedom, settings, warnings } = effects;
  const absoluteInference = frequentistInference(absolute, effects);
  const relativeInference = relative === null ? null : frequentistInference(relative, effects);

  const relativePosterior =
    relative === null ? null : gaussianPosterior(relative, settings.prior, settings.alpha, settings.lowerIsBetter);
  const absolutePosterior = gaussianPosterior(
    absolute,
    settings.prior === undefined ? undefined : absolutePrior(settings.prior, controlMean),
    settings.alpha,
    settings.lowerIsBetter,
  );

  return {
    absolute: frequentistInterval(absolute, absoluteInference),
    // relativeInference is null exactly when relative is.
    relative:
      relativeInference === null ? emptyInterval(relativeEstimate) : frequentistInterval(relative!, relativeInference),
    pValue: finiteOrNull(relativeInference?.pValue),
    absolutePValue: finiteOrNull(absoluteInference.pValue),
    chanceToWin: finiteOrNull(relativePosterior?.chanceToWin),
    riskOfLoss: finiteOrNull(relativePosterior?.riskOfLoss),
    standardErrors: { absolute: absolute.standardError, relative: relative?.standardError ?? null },
    degreesOfFreedom: finiteOrNull(degreesOfFreedom),
    bayesian: {
      absolute: credibleInterval(absolutePosterior),
      relative: relativePosterior === null ? emptyInterval(null) : credibleInterval(relativePosterior),
      riskOfLoss: finiteOrNull(relativePosterior?.riskOfLoss),
      riskOfKeepingControl: finiteOrNull(relativePosterior?.riskOfKeepingControl),
    },
    method: methodOf(settings),
    warnings,
  };
}

/**
 * The confidence sequence of one effect when `sequential`, else the fixed-horizon Welch
 * interval and test. A module function rather than a closure made per comparison: under
 * tsx (esbuild's keepNames, as `npm run bench` and the tests run) each closure made costs a
 * defineProperty of its name, which made the 40 comparisons of the bench's results about a
 * fifth slower.
 */
function frequentistInference(effect: EffectEstimate, effects: EffectsToSummarize): FrequentistInference {
  const { settings } = effects;
  return settings.sequential
    ? sequentialInference(effect, effects.totalUsers, settings.alpha, settings.sequentialTuning, settings.alternative)
    : fixedHorizonInference(effect, effects.degreesOfFreedom, settings.alpha, settings.alternative);
}

/**
 * An effect is usable when its estimate is finite and its standard error finite and
 * positive; extreme inputs (a control mean near 1e-300, sums near 1e300) can overflow
 * μ⁴ or underflow σ²/n, and JSON must never carry NaN or Infinity.
 */
function usableEffect(effect: EffectEstimate | null): EffectEstimate | null {
  if (effect === null) return null;
  const usable = Number.isFinite(effect.estimate) && Number.isFinite(effect.standardError) && effect.standardError > 0;
  return usable ? effect : null;
}

/** Finite numbers pass (−0 becomes 0, as JSON would make it); anything else, null and undefined included, is null. */
function finiteOrNull(value: number | null | undefined): number | null {
  return Number.isFinite(value) ? (value as number) + 0 : null;
}

function frequentistInterval(effect: EffectEstimate, inference: FrequentistInference): Interval {
  return {
    estimate: finiteOrNull(effect.estimate),
    ciLow: finiteOrNull(inference.ciLow),
    ciHigh: finiteOrNull(inference.ciHigh),
  };
}

/** The reasons, in a stable order, why some inference will be missing. */
function guardWarnings(control: SampleMoments, treatment: SampleMoments): ComparisonWarning[] {
  const warnings: ComparisonWarning[] = [];
  if (control.n < 2 || treatment.n < 2) warnings.push('too-few-units');
  else if (testableMoments(control, treatment) === null) {
    // gbstats refuses to test when either arm has no spread: Welch's SE would rest on one arm alone.
    warnings.push('zero-variance');
  }
  if (control.mean === 0) warnings.push('zero-baseline');
  return warnings;
}

/**
 * Both arms' moments when a test is possible (positive variance in each), else null. A
 * positive variance implies n ≥ 2: sampleMoments has no variance for fewer than 2 users
 * of a mean metric, and a single 0/1 user has p(1 − p) = 0.
 */
function testableMoments(control: SampleMoments, treatment: SampleMoments): [VariantMoments, VariantMoments] | null {
  const controlTestable = testableArm(control);
  const treatmentTestable = testableArm(treatment);
  return controlTestable === null || treatmentTestable === null ? null : [controlTestable, treatmentTestable];
}

function testableArm({ n, mean, variance }: SampleMoments): VariantMoments | null {
  return mean !== null && variance !== null && variance > 0 ? { n, mean, variance } : null;
}

function untestedComparison(
  absoluteEstimate: number | null,
  relativeEstimate: number | null,
  settings: CompareSettings,
  warnings: ComparisonWarning[],
): VariantComparison {
  return {
    absolute: emptyInterval(absoluteEstimate),
    relative: emptyInterval(relativeEstimate),
    pValue: null,
    absolutePValue: null,
    chanceToWin: null,
    riskOfLoss: null,
    standardErrors: { absolute: null, relative: null },
    degreesOfFreedom: null,
    bayesian: {
      absolute: emptyInterval(null),
      relative: emptyInterval(null),
      riskOfLoss: null,
      riskOfKeepingControl: null,
    },
    method: methodOf(settings),
    warnings,
  };
}

function emptyInterval(estimate: number | null): Interval {
  return { estimate, ciLow: null, ciHigh: null };
}

function credibleInterval(posterior: GaussianPosterior): Interval {
  return {
    estimate: finiteOrNull(posterior.mean),
    ciLow: finiteOrNull(posterior.credibleLow),
    ciHigh: finiteOrNull(posterior.credibleHigh),
  };
}

function methodOf(settings: CompareSettings): VariantComparison['method'] {
  return {
    alpha: settings.alpha,
    sequential: settings.sequential,
    sequentialTuning: settings.sequential ? settings.sequentialTuning : null,
    oneSided: settings.oneSided,
    alternative: settings.alternative === 'lesser' ? 'less' : settings.alternative,
    lowerIsBetter: settings.lowerIsBetter,
    // + 0 turns −0 into 0, as JSON would.
    prior: settings.prior?.proper
      ? { proper: true, mean: settings.prior.mean + 0, variance: settings.prior.variance }
      : { proper: false },
  };
}
