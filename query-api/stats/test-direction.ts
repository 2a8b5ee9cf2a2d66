/**
 * Settings shared by the frequentist procedures: the level and which alternative a
 * one-sided test takes.
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
