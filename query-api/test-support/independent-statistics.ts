/**
 * Test support: the reference formulas, written out independently of query-api/stats
 * from the public gbstats definitions, so tests check the served numbers against a
 * second implementation (fixed-horizon Welch test, delta-method relative lift, Gaussian
 * chance to win with a flat prior, Holm and Benjamini-Hochberg).
 */
import jStat from 'jstat';

export interface Sample {
  n: number;
  sum: number;
  sumSquares: number;
}

const momentsOf = (sample: Sample, binomial: boolean) => {
  const mean = sample.sum / sample.n;
  const variance = binomial
    ? mean * (1 - mean)
    : (sample.sumSquares - (sample.sum * sample.sum) / sample.n) / (sample.n - 1);
  return { mean, variance };
};

/** Welch two-sided fixed-horizon comparison, absolute and relative (delta method), plus chance to win. */
export function welchReference(control: Sample, treatment: Sample, binomial: boolean, alpha = 0.05) {
  const c = momentsOf(control, binomial);
  const t = momentsOf(treatment, binomial);
  const vc = c.variance / control.n;
  const vt = t.variance / treatment.n;
  const df = (vc + vt) ** 2 / (vc ** 2 / (control.n - 1) + vt ** 2 / (treatment.n - 1));
  const q = jStat.studentt.inv(1 - alpha / 2, df);
  const absolute = t.mean - c.mean;
  const absoluteSe = Math.sqrt(vc + vt);
  const relative = t.mean / c.mean - 1;
  const relativeSe = Math.sqrt(vt / c.mean ** 2 + (vc * t.mean ** 2) / c.mean ** 4);
  return {
    absolute: { estimate: absolute, ciLow: absolute - q * absoluteSe, ciHigh: absolute + q * absoluteSe },
    relative: { estimate: relative, ciLow: relative - q * relativeSe, ciHigh: relative + q * relativeSe },
    pValue: 2 * jStat.studentt.cdf(-Math.abs(relative / relativeSe), df),
    chanceToWin: jStat.normal.cdf(relative / relativeSe, 0, 1),
  };
}

/** Holm step-down adjusted p-values (nulls stay null). */
export function holmReference(pValues: (number | null)[]): (number | null)[] {
  const indexed = pValues.flatMap((p, i) => (p === null ? [] : [{ p, i }])).sort((a, b) => a.p - b.p);
  const m = indexed.length;
  const out: (number | null)[] = pValues.map(() => null);
  let running = 0;
  indexed.forEach(({ p, i }, rank) => {
    running = Math.max(running, Math.min(1, (m - rank) * p));
    out[i] = running;
  });
  return out;
}

/** Pearson chi-square p-value of observed counts against expected weights. */
export function srmReference(observed: number[], weights: number[]): number {
  const total = observed.reduce((a, b) => a + b, 0);
  const weightSum = weights.reduce((a, b) => a + b, 0);
  const statistic = observed.reduce((acc, o, i) => {
    const expected = (total * weights[i]!) / weightSum;
    return acc + (o - expected) ** 2 / expected;
  }, 0);
  return 1 - jStat.chisquare.cdf(statistic, observed.length - 1);
}
