/**
 * The alternative hypothesis of the frequentist procedures (fixed-horizon and sequential):
 * two-sided, or which side a one-sided test takes, and the shape of what they infer
 * (interval bounds and p-value).
 */

/** `two-sided`, or the one-sided alternative "treatment greater" / "treatment lesser". */
export type Alternative = 'two-sided' | 'greater' | 'lesser';

/** Interval bounds and p-value; an open one-sided bound is null. */
export interface FrequentistInference {
  ciLow: number | null;
  ciHigh: number | null;
  pValue: number;
}

/**
 * The alternative that means "treatment is better": greater, unless lower is better.
 *
 * @example alternativeFor(true, true) // 'lesser'
 */
export function alternativeFor(oneSided: boolean, lowerIsBetter: boolean): Alternative {
  if (!oneSided) return 'two-sided';
  return lowerIsBetter ? 'lesser' : 'greater';
}
