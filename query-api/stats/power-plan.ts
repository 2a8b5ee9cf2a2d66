/**
 * The power calculator's front: the request (`PowerInput`), its rules beyond the JSON
 * schema (`powerInputViolations`: every problem names its field and rule), and the answer
 * per variant (`planSampleSize`): users rounded up per variant, totals and days for the
 * fixed-horizon test, the confidence sequence at the results' tuning N*, and the sequence
 * tuned to the plan. The formulas are in power.ts and query-api/stats/README.md.
 *
 * @example
 *   planSampleSize({ metricType: 'binomial', baseline: 0.1, minimumDetectableEffect: 0.1, dailyTraffic: 2000 })
 *     .fixedHorizon // { usersPerVariant: [{ variantId: 'control', users: 14750 }, { variantId: 'treatment', users: 14750 }], totalUsers: 29500, days: 15 }
 */
import { PipelineError } from '../../common/errors.js';
import { DEFAULT_ALPHA, DEFAULT_SEQUENTIAL_TUNING } from './compare-settings.js';
import { fixedHorizonTotalUsers, sequentialTotalUsers, sequentialTunedTotalUsers, type PairDesign } from './power.js';

/** Power asked for when none is given: an 80% chance to detect the MDE. */
export const DEFAULT_POWER = 0.8;
/** Largest relative MDE accepted (+10,000%). */
export const MAX_RELATIVE_EFFECT = 100;
/** Smallest daily traffic accepted: days stay finite (≤ MAX_TOTAL_USERS / this). */
export const MIN_DAILY_TRAFFIC = 0.001;

export interface PowerVariant {
  id: string;
  /** Relative traffic weight (> 0); weights are normalised over the variants. */
  weight: number;
}

/** What the calculator needs to know. */
export interface PowerInput {
  metricType: 'binomial' | 'mean';
  /** Control's conversion rate (binomial, 0–1) or per-user mean (mean metrics, ≠ 0). */
  baseline: number;
  /** Per-user variance of a mean metric (> 0); binomial metrics take μ(1 − μ). */
  variance?: number;
  /** Smallest relative change worth detecting: 0.1 = +10%. Non-zero, in (−1, MAX_RELATIVE_EFFECT]. */
  minimumDetectableEffect: number;
  /** Two-sided significance level, (0, 0.5]. Default 0.05. */
  alpha?: number;
  /** Chance to detect the MDE, [0.5, 1). Default 0.8. */
  power?: number;
  /** Default: control and treatment at 50/50. */
  variants?: readonly PowerVariant[];
  /** Default: the first variant. */
  controlVariantId?: string;
  /** Users entering the experiment per day (all variants together, ≥ MIN_DAILY_TRAFFIC); days are null without it. */
  dailyTraffic?: number;
  /** The confidence sequence's tuning N* (sequential.ts). Default 5000, as the results. */
  sequentialTuning?: number;
}

export interface UsersPerVariant {
  variantId: string;
  users: number;
}

/** A sample size: users per variant (each rounded up), their total, and days at the given traffic. */
export interface SampleSize {
  usersPerVariant: UsersPerVariant[];
  totalUsers: number;
  /** ⌈totalUsers / dailyTraffic⌉, or null when no daily traffic was given. */
  days: number | null;
}

export interface PowerPlan {
  /** Everything the numbers rest on, defaults applied, so an answer explains itself. */
  assumptions: {
    metricType: 'binomial' | 'mean';
    baseline: number;
    treatmentMean: number;
    absoluteEffect: number;
    minimumDetectableEffect: number;
    controlVariance: number;
    treatmentVariance: number;
    alpha: number;
    power: number;
    twoSided: true;
    variants: PowerVariant[];
    controlVariantId: string;
    dailyTraffic: number | null;
    notes: string[];
  };
  /** The fixed-horizon Welch t-test, looked at once at the planned size. */
  fixedHorizon: SampleSize;
  /** The always-valid confidence sequence at the results' tuning N*. */
  sequential: SampleSize & { tuning: number };
  /** The same sequence tuned to this plan (N* = its total): the fewest users a sequential test needs. */
  sequentialTunedToPlan: SampleSize & { tuning: number };
}

/** One broken rule, as the HTTP error details list them. */
interface Violation {
  field: string;
  rule: string;
  message: string;
}

/** Every problem with an input the schema cannot see (cross-field rules), naming the field. */
export function powerInputViolations(input: PowerInput): Violation[] {
  const violations: Violation[] = [];
  const add = (field: string, rule: string, message: string) => violations.push({ field, rule, message });
  const { baseline, minimumDetectableEffect: mde } = input;
  const alpha = input.alpha ?? DEFAULT_ALPHA;
  const power = input.power ?? DEFAULT_POWER;
  if (!Number.isFinite(baseline)) add('baseline', 'finite', 'must be a finite number');
  if (!(Number.isFinite(mde) && mde > -1 && mde <= MAX_RELATIVE_EFFECT && mde !== 0)) {
    add(
      'minimumDetectableEffect',
      'nonZeroRelativeChange',
      `must be a non-zero relative change in (-1, ${MAX_RELATIVE_EFFECT}] (0.1 = +10%)`,
    );
  }

  if (!(alpha > 0 && alpha <= 0.5)) add('alpha', 'range', 'must be in (0, 0.5]');
  if (!(power >= 0.5 && power < 1)) add('power', 'range', 'must be in [0.5, 1)');
  if (input.metricType === 'binomial') {
    if (input.variance !== undefined) {
      add('variance', 'onlyForMeanMetrics', 'a binomial metric’s variance is μ(1 − μ): omit variance');
    }
    if (!(baseline > 0 && baseline < 1)) add('baseline', 'rateBetweenZeroAndOne', 'a conversion rate in (0, 1)');
    else if (!(baseline * (1 + mde) > 0 && baseline * (1 + mde) < 1)) {
      add(
        'minimumDetectableEffect',
        'treatmentRateBetweenZeroAndOne',
        `baseline × (1 + MDE) = ${baseline * (1 + mde)} is not a rate in (0, 1)`,
      );
    }
  } else {
    if (input.variance === undefined) add('variance', 'requiredForMeanMetrics', 'the per-user variance of the metric');
    else if (!(Number.isFinite(input.variance) && input.variance > 0)) add('variance', 'positive', 'must be > 0');
    if (baseline === 0) add('baseline', 'nonZero', 'a relative effect of a zero mean is undefined');
    else if (!Number.isFinite(baseline * mde)) {
      add('minimumDetectableEffect', 'finiteEffect', 'baseline × MDE is too large to represent');
    }
  }
  if (
    input.dailyTraffic !== undefined &&
    !(Number.isFinite(input.dailyTraffic) && input.dailyTraffic >= MIN_DAILY_TRAFFIC)
  ) {
    add('dailyTraffic', 'minimum', `users per day must be at least ${MIN_DAILY_TRAFFIC}`);
  }
  if (
    input.sequentialTuning !== undefined &&
    !(Number.isFinite(input.sequentialTuning) && input.sequentialTuning > 0)
  ) {
    add('sequentialTuning', 'positive', 'must be > 0');
  }
  const variants = input.variants ?? [];
  if (input.variants !== undefined && variants.length < 2) add('variants', 'minItems', 'at least 2 variants');
  variants.forEach((variant, index) => {
    if (!(Number.isFinite(variant.weight) && variant.weight > 0)) {
      add(`variants.${index}.weight`, 'positive', 'every variant needs a weight > 0 to be compared');
    }
  });
  const ids = variants.map((variant) => variant.id);
  for (const id of new Set(ids.filter((id, index) => ids.indexOf(id) !== index))) {
    add('variants', 'uniqueVariantIds', `variant id "${id}" appears twice`);
  }
  if (input.controlVariantId !== undefined && input.variants !== undefined && !ids.includes(input.controlVariantId)) {
    add('controlVariantId', 'controlAmongVariants', `"${input.controlVariantId}" is not one of the variants`);
  }
  return violations;
}

const DEFAULT_VARIANTS: readonly PowerVariant[] = [
  { id: 'control', weight: 0.5 },
  { id: 'treatment', weight: 0.5 },
];

function sampleSize(
  totalUsers: number,
  variants: readonly PowerVariant[],
  dailyTraffic: number | undefined,
): SampleSize {
  const usersPerVariant = variants.map((variant) => ({
    variantId: variant.id,
    // The 1e-9 slack keeps float noise of an exact N·w (e.g. 100.00000000001) from adding a user.
    users: Math.ceil(totalUsers * variant.weight - 1e-9),
  }));
  const total = usersPerVariant.reduce((sum, variant) => sum + variant.users, 0);
  return {
    usersPerVariant,
    totalUsers: total,
    days: dailyTraffic === undefined ? null : Math.ceil(total / dailyTraffic),
  };
}

/**
 * Users per variant and days for the fixed-horizon and sequential tests. With several
 * treatments each is compared to the control at `alpha` (no correction) and the largest
 * requirement wins. Throws VALIDATION_FAILED (details: field, rule, message) on bad input.
 */
export function planSampleSize(input: PowerInput): PowerPlan {
  const violations = powerInputViolations(input);
  if (violations.length > 0) {
    const summary = violations.map((v) => `${v.field}: ${v.message} (${v.rule})`).join('; ');
    throw new PipelineError('VALIDATION_FAILED', `power request is invalid: ${summary}`, { details: violations });
  }
  const alpha = input.alpha ?? DEFAULT_ALPHA;
  const power = input.power ?? DEFAULT_POWER;
  const tuning = input.sequentialTuning ?? DEFAULT_SEQUENTIAL_TUNING;
  const weightSum = (input.variants ?? DEFAULT_VARIANTS).reduce((sum, variant) => sum + variant.weight, 0);
  const variants = (input.variants ?? DEFAULT_VARIANTS).map((variant) => ({
    id: variant.id,
    weight: variant.weight / weightSum,
  }));
  const controlVariantId = input.controlVariantId ?? variants[0]!.id;
  const control = variants.find((variant) => variant.id === controlVariantId)!;
  const baseline = input.baseline;
  const treatmentMean = baseline * (1 + input.minimumDetectableEffect);
  const controlVariance = input.metricType === 'binomial' ? baseline * (1 - baseline) : input.variance!;
  const treatmentVariance = input.metricType === 'binomial' ? treatmentMean * (1 - treatmentMean) : input.variance!;
  const pairs: PairDesign[] = variants
    .filter((variant) => variant !== control)
    .map((treatment) => ({
      effect: treatmentMean - baseline,
      controlVariance,
      treatmentVariance,
      controlShare: control.weight,
      treatmentShare: treatment.weight,
    }));
  const largest = (needed: (pair: PairDesign) => number) => Math.max(...pairs.map(needed));
  const tuned = sampleSize(
    largest((pair) => sequentialTunedTotalUsers(pair, alpha, power)),
    variants,
    input.dailyTraffic,
  );
  const notes = [
    'Power is for the difference in means (the results’ absolute effect); the relative lift’s delta-method interval is a little wider for positive effects.',
    'Two-sided tests; the far tail (a significant result of the wrong sign) is ignored.',
    'The sequential size is the smallest at which one look has the requested power; earlier looks can stop sooner, so it is conservative.',
    ...(input.metricType === 'mean' ? ['The treatment’s per-user variance is assumed equal to the control’s.'] : []),
    ...(pairs.length > 1
      ? [
          `${pairs.length} treatments are each compared to the control at alpha without correction; pass alpha / ${pairs.length} for Bonferroni.`,
        ]
      : []),
    ...(input.dailyTraffic === undefined ? [] : ['Every day brings dailyTraffic users new to the experiment.']),
  ];
  return {
    assumptions: {
      metricType: input.metricType,
      baseline,
      treatmentMean,
      absoluteEffect: treatmentMean - baseline,
      minimumDetectableEffect: input.minimumDetectableEffect,
      controlVariance,
      treatmentVariance,
      alpha,
      power,
      twoSided: true,
      variants,
      controlVariantId,
      dailyTraffic: input.dailyTraffic ?? null,
      notes,
    },
    fixedHorizon: sampleSize(
      largest((pair) => fixedHorizonTotalUsers(pair, alpha, power)),
      variants,
      input.dailyTraffic,
    ),
    sequential: {
      ...sampleSize(
        largest((pair) => sequentialTotalUsers(pair, alpha, power, tuning)),
        variants,
        input.dailyTraffic,
      ),
      tuning,
    },
    sequentialTunedToPlan: { ...tuned, tuning: tuned.totalUsers },
  };
}
