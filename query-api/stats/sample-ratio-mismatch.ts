/**
 * Sample ratio mismatch: Pearson's chi-square goodness-of-fit test of the observed
 * users per variant against the configured weights (gbstats `check_srm`). A mismatch
 * means assignment or logging is broken, so the threshold is strict (p < 0.001).
 */
import { PipelineError } from '../../common/errors.js';
import { chiSquareSurvival } from './distributions.js';

/** p below which the split is called broken: strict, because it voids the whole experiment. */
export const SRM_P_VALUE_THRESHOLD = 0.001;
/** Below this many users in a variant the chi-square approximation is too rough to alarm on. */
export const SRM_MIN_USERS_PER_VARIANT = 8;

/** Result of the SRM check. */
export interface SampleRatioMismatch {
  pValue: number;
  mismatch: boolean;
}

/**
 * χ² = Σ (oᵢ − eᵢ)²/eᵢ with eᵢ = N·wᵢ/Σw over variants with positive weight, on
 * k − 1 degrees of freedom (k = variants with positive weight); p = P(χ²_{k−1} ≥ χ²).
 * A variant with weight 0 that received users cannot happen in a healthy split: p = 0.
 * `mismatch` needs p < 0.001 and at least 8 users in every weighted variant.
 *
 * @example sampleRatioMismatch([1000, 1200], [0.5, 0.5]) // { pValue: 0.000020079, mismatch: true }
 */
export function sampleRatioMismatch(observedUsers: number[], expectedWeights: number[]): SampleRatioMismatch {
  assertValidSplit(observedUsers, expectedWeights);
  const weighted = observedUsers
    .map((users, index) => ({ users, weight: expectedWeights[index] ?? 0 }))
    .filter(({ weight }) => weight > 0);
  const totalUsers = weighted.reduce((total, { users }) => total + users, 0);
  const totalWeight = weighted.reduce((total, { weight }) => total + weight, 0);
  const usersInUnweightedVariants = observedUsers.some((users, index) => users > 0 && expectedWeights[index] === 0);
  const enoughUsers = weighted.every(({ users }) => users >= SRM_MIN_USERS_PER_VARIANT);

  let pValue: number;
  if (usersInUnweightedVariants) pValue = 0;
  else if (weighted.length < 2 || totalUsers === 0) pValue = 1;
  else {
    const chiSquare = weighted.reduce((statistic, { users, weight }) => {
      const expected = (totalUsers * weight) / totalWeight;
      return statistic + (users - expected) ** 2 / expected;
    }, 0);
    pValue = chiSquareSurvival(chiSquare, weighted.length - 1);
  }
  return { pValue, mismatch: pValue < SRM_P_VALUE_THRESHOLD && enoughUsers };
}

function assertValidSplit(observedUsers: number[], expectedWeights: number[]): void {
  const problems: string[] = [];
  if (observedUsers.length !== expectedWeights.length) problems.push('one weight per variant is required');
  if (observedUsers.some((users) => !Number.isSafeInteger(users) || users < 0)) {
    problems.push('users must be non-negative integers');
  }
  if (expectedWeights.some((weight) => !Number.isFinite(weight) || weight < 0)) {
    problems.push('weights must be finite and non-negative');
  }
  if (!expectedWeights.some((weight) => weight > 0)) problems.push('at least one weight must be positive');
  if (problems.length > 0) {
    throw new PipelineError('VALIDATION_FAILED', `invalid SRM input: ${problems.join('; ')}`, {
      details: { observedUsers, expectedWeights, problems },
    });
  }
}
