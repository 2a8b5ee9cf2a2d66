/**
 * Pure: the pipeline's health from the processors' Prometheus metrics (their `/metrics`
 * endpoints: `npm start`, the KCL or local consumers).
 *
 *   deadLetters  Σ processor_dead_letters_total over every reason and endpoint (a counter)
 *   lagMs        max processor_millis_behind_latest over every shard and endpoint
 *   stateLost    any processor_state_lost > 0
 *
 * Dead-letter growth over a window is the counter's increase across the samples the
 * monitor kept (one per run): the sum of positive steps, a drop counting as a restart from
 * zero — Prometheus' `increase()` without extrapolation. Worked example: samples 5, 9, 2
 * (a restart), 4 → (9 − 5) + 2 + (4 − 2) = 8.
 */

/**
 * The processors' health figures read in one run. Dead letters come either as a counter's
 * total (`deadLetters`: the monitor computes the growth over its samples) or as the growth
 * over the window itself (`deadLetterGrowth`, e.g. from CloudWatch).
 */
export interface ProcessorHealthReading {
  deadLetters?: number;
  deadLetterGrowth?: number;
  lagMs: number;
  stateLost: boolean;
}

/** Samples `name{labels} value` of one metric in Prometheus text exposition format. */
export function prometheusSamples(text: string, name: string): number[] {
  const values: number[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line.trim());
    if (!match || match[1] !== name) continue;
    const value = Number(match[3]);
    if (Number.isFinite(value)) values.push(value);
  }
  return values;
}

/** Health figures from the `/metrics` texts of every processors endpoint. */
export function healthFromMetrics(texts: readonly string[]): ProcessorHealthReading {
  const all = (name: string) => texts.flatMap((text) => prometheusSamples(text, name));
  return {
    deadLetters: all('processor_dead_letters_total').reduce((sum, value) => sum + value, 0),
    lagMs: Math.max(0, ...all('processor_millis_behind_latest')),
    stateLost: all('processor_state_lost').some((value) => value > 0),
  };
}

/** Increase of a counter across samples in time order (a drop is a restart from zero). */
export function counterIncrease(samples: readonly number[]): number {
  let increase = 0;
  for (let i = 1; i < samples.length; i++) {
    const step = samples[i]! - samples[i - 1]!;
    increase += step >= 0 ? step : samples[i]!;
  }
  return increase;
}
