/**
 * Multiple-comparison corrections for the many p-values of a segment breakdown
 * (values × variants × metrics). Adjusted p-values are returned in the input order so
 * they can be compared with the same α as unadjusted ones.
 */
import { PipelineError } from '../../common/errors.js';

/** `holm`: family-wise error rate; `bh`: false discovery rate; `none`: unchanged. */
export type PValueAdjustment = 'holm' | 'bh' | 'none';

/**
 * Holm (1979) step-down: with p₍₁₎ ≤ … ≤ p₍ₘ₎, p̃₍ᵢ₎ = maxⱼ≤ᵢ min(1, (m − j + 1)·p₍ⱼ₎).
 * Benjamini–Hochberg (1995) step-up: p̃₍ᵢ₎ = minⱼ≥ᵢ min(1, m·p₍ⱼ₎/j).
 * `null` entries (untestable comparisons) stay null and do not count towards m.
 * These match R's `p.adjust(p, "holm")` and `p.adjust(p, "BH")`.
 *
 * @example adjustPValues([0.01, 0.04, 0.03, 0.005], 'holm') // [0.03, 0.06, 0.06, 0.02]
 */
export function adjustPValues(pValues: (number | null)[], method: PValueAdjustment): (number | null)[] {
  assertValidPValues(pValues, method);
  if (method === 'none') return [...pValues];
  const ranked = pValues
    .map((pValue, index) => ({ pValue, index }))
    .filter((entry): entry is { pValue: number; index: number } => entry.pValue !== null)
    .sort((left, right) => left.pValue - right.pValue);
  const m = ranked.length;
  const adjusted: (number | null)[] = pValues.map(() => null);
  if (method === 'holm') {
    let runningMax = 0;
    ranked.forEach(({ pValue, index }, rank) => {
      runningMax = Math.max(runningMax, Math.min(1, (m - rank) * pValue));
      adjusted[index] = runningMax;
    });
  } else {
    ranked.reduceRight((runningMin, { pValue, index }, rank) => {
      // max(p, ·) only absorbs float rounding of m·p/m: an adjusted p is never below the raw one.
      const adjustedP = Math.min(runningMin, Math.max(pValue, (m * pValue) / (rank + 1)));
      adjusted[index] = adjustedP;
      return adjustedP;
    }, 1);
  }
  return adjusted;
}

function assertValidPValues(pValues: (number | null)[], method: string): void {
  if (method !== 'holm' && method !== 'bh' && method !== 'none') {
    throw new PipelineError('VALIDATION_FAILED', `unknown p-value adjustment '${method}' (holm, bh or none)`);
  }
  const invalid = pValues.filter((pValue) => pValue !== null && !(pValue >= 0 && pValue <= 1));
  if (invalid.length > 0) {
    throw new PipelineError('VALIDATION_FAILED', 'p-values must be between 0 and 1 or null', {
      details: { invalid },
    });
  }
}
