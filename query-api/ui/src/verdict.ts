/**
 * The one-word verdicts of the results pages (pure; unit-tested in ../verdict.test.ts).
 *
 * A treatment row is **winning** when its p-value is below alpha and the lift goes the
 * metric's better way (up, or down for `lowerIsBetter`), **losing** when it is significant
 * the other way, **no data** when the statistics are undefined (too few users, zero
 * variance: the API's warnings say which), else **inconclusive**. The p-value is the
 * sequential one unless the reader switched to fixed horizon; in segment breakdowns the
 * corrected (`adjustedPValue`) one. An experiment's verdict on a metric is **SRM** when the
 * sample ratio check failed (nothing else can be trusted), else winning if any treatment
 * wins, losing if every decided treatment loses, else inconclusive.
 *
 * @example variantVerdict({ pValue: 0.01, relative: { estimate: 0.12 } … }, 0.05, false) // → 'winning'
 */
import type { Comparison, VerdictResults } from './api-types.js';

export type Verdict = 'winning' | 'losing' | 'inconclusive' | 'no-data' | 'srm' | 'control';

/** Word, icon and description of each verdict: never colour alone. */
export const VERDICT_LABELS: Record<Verdict, { word: string; icon: string }> = {
  winning: { word: 'winning', icon: '▲' },
  losing: { word: 'losing', icon: '▼' },
  inconclusive: { word: 'inconclusive', icon: '●' },
  'no-data': { word: 'no data', icon: '○' },
  srm: { word: 'SRM', icon: '⚠' },
  control: { word: 'control', icon: '◆' },
};

/** The verdict of one treatment against the control on one metric. */
export function variantVerdict(
  comparison: (Pick<Comparison, 'pValue' | 'absolute' | 'relative'> & { adjustedPValue?: number | null }) | null,
  alpha: number,
  lowerIsBetter: boolean,
  useAdjusted = false,
): Verdict {
  if (!comparison) return 'control';
  const p = useAdjusted ? (comparison.adjustedPValue ?? comparison.pValue) : comparison.pValue;
  const lift = comparison.relative.estimate ?? comparison.absolute.estimate;
  if (p === null || lift === null) return 'no-data';
  if (p >= alpha || lift === 0) return 'inconclusive';
  return lift > 0 !== lowerIsBetter ? 'winning' : 'losing';
}

/** The verdict of an experiment on one metric (the list page's column): a results answer or a summary's. */
export function metricVerdict(results: VerdictResults, metricKey: string): Verdict {
  if (results.srm.mismatch) return 'srm';
  const metric = results.metrics.find((m) => m.key === metricKey);
  if (!metric) return 'no-data';
  const verdicts = results.variants
    .filter((v) => v.variantId !== results.controlVariantId)
    .map((v) => variantVerdict(v.metrics[metricKey]?.vsControl ?? null, results.alpha, metric.lowerIsBetter));
  if (verdicts.includes('winning')) return 'winning';
  const decided = verdicts.filter((v) => v !== 'no-data');
  if (decided.length === 0) return 'no-data';
  if (decided.every((v) => v === 'losing')) return 'losing';
  return 'inconclusive';
}

/** Plain-language text of the API's warnings. */
export const WARNING_TEXT: Record<string, string> = {
  'too-few-units': 'too few users',
  'zero-variance': 'zero variance',
  'zero-baseline': 'control mean is zero',
};

/** The text of a warning code (unknown codes are shown as they are). */
export const warningText = (code: string): string => WARNING_TEXT[code] ?? code;
