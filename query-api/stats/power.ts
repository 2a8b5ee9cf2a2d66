/**
 * Power calculator: how many users an experiment needs to detect a relative change of
 * `minimumDetectableEffect` with probability `power`, for the two tests the results run —
 * the fixed-horizon Welch t-test (fixed-horizon.ts) and the always-valid confidence
 * sequence the results use by default (sequential.ts) — and how many days that takes.
 *
 * Notation (formulas in query-api/stats/README.md, "Power and sample size"):
 *   μ_c = baseline, μ_t = μ_c(1 + MDE), δ = μ_t − μ_c (the absolute effect).
 *   Binomial: σ²_c = μ_c(1 − μ_c), σ²_t = μ_t(1 − μ_t). Mean: σ²_c = σ²_t = the given variance.
 *   w_c, w_t: the control's and a treatment's share of all users (weights normalised over
 *   every variant), N: total users in the experiment, so n_c = w_c·N, n_t = w_t·N and
 *   SE(N) = s/√N with s² = σ²_c/w_c + σ²_t/w_t.
 *
 * Fixed horizon: the smallest N with |δ|/SE(N) ≥ t_{1−α/2,ν} + t_{1−β,ν}, ν the
 * Welch–Satterthwaite degrees of freedom at n_c, n_t (t → z for large N, so this is the
 * textbook n = (z_{1−α/2} + z_{1−β})²·(σ²_c + σ²_t)/δ² per arm for an even split).
 *
 * Sequential: the results reject when the confidence sequence excludes 0, i.e. when
 * |δ̂| > h(N) = SE(N)·c(N), c(N) = √(2(v+1)/v · ln(√(v+1)/α)), v = N·ρ², ρ from the tuning N*
 * (sequentialRho). With δ̂ ~ N(δ, SE²), a look at N rejects with probability
 * ≈ Φ((|δ| − h(N))/SE(N)), so the sample size is the smallest N with
 * |δ|/SE(N) ≥ c(N) + z_{1−β}. The left side grows like √N and c(N) only like √(ln N), and
 * h(N) decreases in N for α ≤ ½ (README), so the condition is monotone and bisection finds
 * N. Because the sequence is valid at every look, a rejection at any earlier look counts
 * too: the probability of having rejected by N is at least the requested power (this N is
 * conservative). Tuning the sequence to the plan (N* = N, so v = K := −2 ln α + ln(1 − 2 ln α))
 * makes c constant and N closed-form: N = s²·(c_K + z_{1−β})²/δ².
 *
 * Both ignore the far tail (rejecting with the wrong sign, probability < α/2).
 *
 * The inputs, their rules and the per-variant answer: power-plan.ts (`planSampleSize`).
 *
 * @example
 *   fixedHorizonTotalUsers({ effect: 0.01, controlVariance: 0.09, treatmentVariance: 0.0979, controlShare: 0.5, treatmentShare: 0.5 }, 0.05, 0.8)
 *   // ≈ 29498 (14,750 per arm after rounding up)
 */
import { PipelineError } from '../../common/errors.js';
import { normalCdf, normalQuantile, studentTCdf, studentTQuantile } from './distributions.js';
import { sequentialRho } from './sequential.js';

/** Largest sample size the calculator answers (beyond it the MDE is not detectable in practice). */
export const MAX_TOTAL_USERS = 1e12;
/** Every arm of a comparison needs at least this many users for a variance (and a Welch test). */
const MIN_USERS_PER_ARM = 2;
const BISECTION_STEPS = 200;

/** One comparison (control vs one treatment) as the formulas see it. */
export interface PairDesign {
  /** δ = μ_t − μ_c. */
  effect: number;
  controlVariance: number;
  treatmentVariance: number;
  /** Shares of all users (w_c, w_t), each in (0, 1]. */
  controlShare: number;
  treatmentShare: number;
}

const standardErrorAt = (pair: PairDesign, totalUsers: number) =>
  Math.sqrt(
    pair.controlVariance / (pair.controlShare * totalUsers) +
      pair.treatmentVariance / (pair.treatmentShare * totalUsers),
  );

/**
 * Welch–Satterthwaite degrees of freedom of the planned arms:
 * ν = (a + b)² / (a²/(n_c − 1) + b²/(n_t − 1)), a = σ²_c/n_c, b = σ²_t/n_t.
 *
 * @example welchDegreesOfFreedom({ effect: 1, controlVariance: 1, treatmentVariance: 1, controlShare: 0.5, treatmentShare: 0.5 }, 40) // 38
 */
export function welchDegreesOfFreedom(pair: PairDesign, totalUsers: number): number {
  const controlUsers = pair.controlShare * totalUsers;
  const treatmentUsers = pair.treatmentShare * totalUsers;
  const a = pair.controlVariance / controlUsers;
  const b = pair.treatmentVariance / treatmentUsers;
  return (a + b) ** 2 / (a ** 2 / (controlUsers - 1) + b ** 2 / (treatmentUsers - 1));
}

/**
 * The confidence sequence's two-sided critical value at N total users:
 * c = √(2(v+1)/v · ln(√(v+1)/α)), v = N·ρ² (sequential.ts; half-width = c·SE).
 *
 * @example sequentialCriticalValue(0.05, 5000, 5000) // ≈ 3.0352 (v = K = 7.9362)
 */
export function sequentialCriticalValue(alpha: number, tuning: number, totalUsers: number): number {
  const v = totalUsers * sequentialRho(alpha, tuning, true) ** 2;
  return Math.sqrt(((2 * (v + 1)) / v) * Math.log(Math.sqrt(v + 1) / alpha));
}

/**
 * Power of the fixed-horizon two-sided Welch test at N total users, central-t
 * approximation: F_ν(|δ|/SE − t_{1−α/2,ν}).
 *
 * @example fixedHorizonPower({ effect: 1, controlVariance: 1, treatmentVariance: 1, controlShare: 0.5, treatmentShare: 0.5 }, 0.05, 40)
 *   // ≈ 0.869 (R power.t.test(n = 20, delta = 1): 0.8689528, noncentral t)
 */
export function fixedHorizonPower(pair: PairDesign, alpha: number, totalUsers: number): number {
  const df = welchDegreesOfFreedom(pair, totalUsers);
  const standardized = Math.abs(pair.effect) / standardErrorAt(pair, totalUsers);
  return studentTCdf(standardized - studentTQuantile(1 - alpha / 2, df), df);
}

/**
 * Probability that the confidence sequence excludes 0 at a look at N total users:
 * Φ(|δ|/SE − c(N)) (a lower bound on the chance of having rejected by N).
 *
 * @example sequentialPower({ effect: 0.01, controlVariance: 0.09, treatmentVariance: 0.0979, controlShare: 0.5, treatmentShare: 0.5 }, 0.05, 5000, 63_600) // ≈ 0.80
 */
export function sequentialPower(pair: PairDesign, alpha: number, tuning: number, totalUsers: number): number {
  const standardized = Math.abs(pair.effect) / standardErrorAt(pair, totalUsers);
  return normalCdf(standardized - sequentialCriticalValue(alpha, tuning, totalUsers));
}

/** The effect is too small (or the variance too large) to detect with MAX_TOTAL_USERS. */
function undetectable(): PipelineError {
  return new PipelineError(
    'VALIDATION_FAILED',
    `minimumDetectableEffect is too small to detect with fewer than ${MAX_TOTAL_USERS} users`,
    {
      details: [
        {
          field: 'minimumDetectableEffect',
          rule: 'detectable',
          message: `needs more than ${MAX_TOTAL_USERS} users; choose a larger effect`,
        },
      ],
    },
  );
}

/**
 * Smallest real N in [lowest, MAX_TOTAL_USERS] where the monotone `detects(N)` holds,
 * by doubling then bisection; throws VALIDATION_FAILED when even MAX_TOTAL_USERS fails.
 */
function smallestTotalUsers(lowest: number, detects: (totalUsers: number) => boolean): number {
  if (detects(lowest)) return lowest;
  let low = lowest;
  let high = lowest * 2;
  while (!detects(high)) {
    if (high >= MAX_TOTAL_USERS) throw undetectable();
    low = high;
    high = Math.min(high * 2, MAX_TOTAL_USERS);
  }
  for (let step = 0; step < BISECTION_STEPS && high - low > 1e-9 * high; step++) {
    const middle = (low + high) / 2;
    if (detects(middle)) high = middle;
    else low = middle;
  }
  return high;
}

const lowestTotalUsers = (pair: PairDesign) =>
  Math.max(MIN_USERS_PER_ARM / pair.controlShare, MIN_USERS_PER_ARM / pair.treatmentShare);

/**
 * Fixed-horizon total N (real): the smallest N with |δ|/SE(N) ≥ t_{1−α/2,ν} + t_{1−β,ν}.
 *
 * @example fixedHorizonTotalUsers({ effect: 0.01, controlVariance: 0.09, treatmentVariance: 0.0979, controlShare: 0.5, treatmentShare: 0.5 }, 0.05, 0.8) // ≈ 29498
 */
export function fixedHorizonTotalUsers(pair: PairDesign, alpha: number, power: number): number {
  return smallestTotalUsers(lowestTotalUsers(pair), (totalUsers) => {
    const df = welchDegreesOfFreedom(pair, totalUsers);
    const needed = studentTQuantile(1 - alpha / 2, df) + studentTQuantile(power, df);
    return Math.abs(pair.effect) / standardErrorAt(pair, totalUsers) >= needed;
  });
}

/**
 * Sequential total N (real) at tuning N*: the smallest N with |δ|/SE(N) ≥ c(N) + z_{1−β}.
 *
 * @example sequentialTotalUsers({ effect: 0.01, controlVariance: 0.09, treatmentVariance: 0.0979, controlShare: 0.5, treatmentShare: 0.5 }, 0.05, 0.8, 5000) // ≈ 63668
 */
export function sequentialTotalUsers(pair: PairDesign, alpha: number, power: number, tuning: number): number {
  const zPower = normalQuantile(power);
  return smallestTotalUsers(
    lowestTotalUsers(pair),
    (totalUsers) =>
      Math.abs(pair.effect) / standardErrorAt(pair, totalUsers) >=
      sequentialCriticalValue(alpha, tuning, totalUsers) + zPower,
  );
}

/**
 * Sequential total N with the sequence tuned to it (N* = N): v = K, so
 * N = s²·(c_K + z_{1−β})²/δ², s² = σ²_c/w_c + σ²_t/w_t (at least 2 users per arm).
 *
 * @example sequentialTunedTotalUsers({ effect: 0.01, controlVariance: 0.09, treatmentVariance: 0.0979, controlShare: 0.5, treatmentShare: 0.5 }, 0.05, 0.8) // ≈ 56482
 */
export function sequentialTunedTotalUsers(pair: PairDesign, alpha: number, power: number): number {
  const spread = pair.controlVariance / pair.controlShare + pair.treatmentVariance / pair.treatmentShare;
  const critical = sequentialCriticalValue(alpha, 1, 1); // v = ρ²·N with N = N*: independent of N*.
  const totalUsers = (spread * (critical + normalQuantile(power)) ** 2) / pair.effect ** 2;
  if (!(totalUsers <= MAX_TOTAL_USERS)) throw undetectable(); // NaN and Infinity included
  return Math.max(totalUsers, lowestTotalUsers(pair));
}
