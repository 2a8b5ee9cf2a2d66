/**
 * The statistics engine's public types. Every number that leaves the engine is finite
 * or `null`: results are served as JSON, which has no NaN or Infinity.
 */

/**
 * Per-variant sufficient statistics of one metric, as the counters store them.
 * `n` is the number of exposed users (the denominator); `sum` and `sumSquares` are
 * over per-user values, users without events counting as 0. For a binomial metric
 * each user's value is 0 or 1, so `sumSquares === sum`.
 */
export interface SampleStats {
  n: number;
  sum: number;
  sumSquares: number;
}

/** `binomial`: conversion rate (variance p(1−p)); `mean`: per-user mean (sample variance). */
export type MetricKind = 'binomial' | 'mean';

/**
 * The frequentist alternative hypothesis, on the metric's own scale: `greater` tests
 * "treatment mean > control mean", `less` "treatment mean < control mean", whatever
 * `lowerIsBetter` says.
 */
export type TestAlternative = 'two-sided' | 'greater' | 'less';

/** Gaussian prior on the relative lift (gbstats' default prior type). */
export interface GaussianPrior {
  mean: number;
  variance: number;
  /** An improper (flat) prior is ignored: the posterior is the likelihood. */
  proper: boolean;
}

export interface CompareOptions {
  kind: MetricKind;
  /** Significance level for intervals and tests. Default 0.05. */
  alpha?: number;
  /** Always-valid confidence sequences instead of fixed-horizon Welch intervals. Default true. */
  sequential?: boolean;
  /** Total sample size (both arms) at which the confidence sequence is tightest. Default 5000. */
  sequentialTuning?: number;
  /** The metric improves when it goes down (e.g. latency): flips chance to win, risk and one-sided tests. */
  lowerIsBetter?: boolean;
  /** One-sided test of "treatment is better"; the open side of each interval is `null`. */
  oneSided?: boolean;
  /**
   * The alternative stated directly (a definition's `analysis.alternative`); when given it
   * replaces `oneSided` (which derives the direction from `lowerIsBetter`).
   */
  alternative?: TestAlternative;
  /** Prior on the relative lift for the Bayesian posterior; rescaled by the control mean for absolute. */
  prior?: GaussianPrior;
}

/**
 * A point estimate with its interval. `null` means "not defined" (see the comparison's
 * warnings) or, for `ciLow`/`ciHigh` of a one-sided test, "unbounded".
 */
export interface Interval {
  estimate: number | null;
  ciLow: number | null;
  ciHigh: number | null;
}

/** Why a comparison is partly or wholly `null`. */
export type ComparisonWarning =
  /** A variant has fewer than 2 users: no variance, no test. */
  | 'too-few-units'
  /** A variant's per-user values do not vary (e.g. 0 conversions): no test. */
  | 'zero-variance'
  /** The control mean is 0: a relative lift is undefined. */
  | 'zero-baseline'
  /** Values so extreme that a standard error overflowed or underflowed: that effect is untested. */
  | 'numerical-instability'
  /** A ratio metric's denominator sums to 0 in an arm with users: its ratio is undefined. */
  | 'zero-denominator';

/** Bayesian posterior of the lift (Gaussian, optional proper prior). */
export interface BayesianSummary {
  /** Posterior mean and credible interval of the absolute difference. */
  absolute: Interval;
  /** Posterior mean and credible interval of the relative lift. */
  relative: Interval;
  /** Expected relative loss if the treatment is shipped: E[max(−lift, 0)] (direction-aware). */
  riskOfLoss: number | null;
  /** Expected relative gain forgone if control is kept: E[max(lift, 0)] (direction-aware). */
  riskOfKeepingControl: number | null;
}

/** Treatment versus control for one metric. */
export interface VariantComparison {
  /** Treatment mean − control mean, with the frequentist interval (sequential or fixed). */
  absolute: Interval;
  /** (treatment mean − control mean) / control mean, delta-method interval. */
  relative: Interval;
  /** p-value of the relative lift (sequential: always-valid). */
  pValue: number | null;
  /** p-value of the absolute difference (sequential: always-valid). */
  absolutePValue: number | null;
  /** Posterior probability that the treatment is better (respects lowerIsBetter). */
  chanceToWin: number | null;
  /** Expected relative loss if the treatment is shipped (Bayesian). */
  riskOfLoss: number | null;
  standardErrors: { absolute: number | null; relative: number | null };
  /** Welch–Satterthwaite degrees of freedom of the fixed-horizon test. */
  degreesOfFreedom: number | null;
  bayesian: BayesianSummary;
  /** The settings actually applied, so a response explains itself. */
  method: {
    alpha: number;
    sequential: boolean;
    sequentialTuning: number | null;
    oneSided: boolean;
    /** The alternative tested: `two-sided`, `greater` or `less` (treatment vs control). */
    alternative: TestAlternative;
    lowerIsBetter: boolean;
    /** The prior of the Bayesian summary: proper N(mean, variance) on the lift, or flat. */
    prior: GaussianPrior | { proper: false };
  };
  warnings: ComparisonWarning[];
}
