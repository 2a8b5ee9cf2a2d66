/**
 * Seeded experiment workloads for the counter tests and the bench: several experiments,
 * variants and metrics, repeat users with changing segments, fractional values,
 * producer-retry duplicates (same eventId in a new record) and KPL sub-records.
 * Not a test file itself: tests and the bench import it.
 */
import { counterPlanOf, type CounterPlan } from '../../common/counter-plan.js';
import type { StreamEvent } from '../../common/event-contract.js';
import type { ExperimentDefinition } from '../../common/experiment-definition.js';
import type { ValidEvent } from '../../processors/types.js';

/** mulberry32: a tiny seeded PRNG, so a failing property run can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface WorkloadOptions {
  seed: number;
  events: number;
  users: number;
  experiments?: number;
  /** Distinct countries (to exercise the segment cap). */
  countries?: number;
  /** Share of records that re-send an earlier eventId (producer retry). */
  duplicateRate?: number;
  /** Prefix of experiment ids, so parallel tests never share cells. */
  experimentPrefix?: string;
  /** Metric keys of conversions (default `purchase`, `click`). */
  metrics?: readonly string[];
  /**
   * Impressions carry `covariates` with a random subset of these keys (values in ±50, some
   * fractional, some 0). Without it impressions carry none (and the random sequence is the same as ever).
   */
  covariateKeys?: readonly string[];
}

/**
 * A workload and counter plan that exercise every extra sum: `purchase` capped at 50 and
 * CUPED, `click` CUPED (binomial), ratios `revenue/orders` and `purchase/click` (so
 * `purchase` feeds its own cells and a ratio cell), covariates on impressions (`unused` is in
 * no plan). Pass `metrics` and `covariateKeys` to generateWorkload and `plan` to the sink's
 * plan source and the ground truth.
 */
export const STATISTICS_WORKLOAD = Object.freeze({
  metrics: ['purchase', 'click', 'revenue', 'orders'] as readonly string[],
  covariateKeys: ['purchase', 'click', 'revenue', 'unused'] as readonly string[],
  definitionMetrics: [
    { key: 'purchase', type: 'mean', lowerIsBetter: false, cap: 50, cuped: true },
    { key: 'click', type: 'binomial', lowerIsBetter: false, cuped: true },
    { key: 'aov', type: 'ratio', lowerIsBetter: false, numerator: 'revenue', denominator: 'orders' },
    { key: 'ppc', type: 'ratio', lowerIsBetter: false, numerator: 'purchase', denominator: 'click' },
  ] as ExperimentDefinition['metrics'],
});

/** The counter plan of STATISTICS_WORKLOAD's metrics. */
export const statisticsTestPlan = (): CounterPlan => counterPlanOf({ metrics: STATISTICS_WORKLOAD.definitionMetrics });

const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;

const uuidOf = (random: () => number): string => {
  const hex = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20)}`;
};

/** Some of `keys`, each with a value in ±50: integers, 3-decimal fractions, or 0. */
function randomCovariates(random: () => number, keys: readonly string[]): Record<string, number> {
  const covariates: Record<string, number> = {};
  for (const key of keys) {
    if (random() < 0.3) continue;
    const roll = random();
    covariates[key] =
      roll < 0.1 ? 0 : roll < 0.6 ? Math.floor(random() * 101) - 50 : Math.round(random() * 1e5) / 1e3 - 50;
  }
  return covariates;
}

/** Generates events in stream order; duplicates are byte-identical re-sends of earlier events. */
export function generateWorkload(options: WorkloadOptions): StreamEvent[] {
  const random = seededRandom(options.seed);
  const experiments = Array.from(
    { length: options.experiments ?? 2 },
    (_, i) => `${options.experimentPrefix ?? 'exp'}-${i}`,
  );
  const countries = Array.from({ length: options.countries ?? 5 }, (_, i) => `C${i}`);
  const devices = ['ios', 'android', 'web+desktop'];
  const events: StreamEvent[] = [];
  for (let i = 0; i < options.events; i++) {
    const earlier = events[Math.floor(random() * events.length)];
    if (earlier && random() < (options.duplicateRate ?? 0.05)) {
      events.push(earlier);
      continue;
    }
    const userId = `u${Math.floor(random() * options.users)}`;
    const experimentId = pick(random, experiments);
    const variantId = userId.length % 2 === 0 ? 'control' : 'treatment';
    const impression = random() < 0.4;
    const value = impression ? 1 : random() < 0.5 ? Math.floor(random() * 100) : Math.round(random() * 1e7) / 1e3;
    const segments: Record<string, string> = { country: pick(random, countries), device: pick(random, devices) };
    if (random() < 0.5) segments.browser = pick(random, ['chrome', 'safari']);
    if (random() < 0.3) segments.plan = pick(random, ['free', 'pro']);
    events.push({
      version: 1,
      eventId: uuidOf(random),
      experimentId,
      variantId,
      userId,
      type: impression ? 'impression' : 'conversion',
      ...(impression ? {} : { metric: pick(random, options.metrics ?? ['purchase', 'click']) }),
      value,
      timestamp: 1_700_000_000_000 + i,
      receivedAt: 1_700_000_000_000 + i,
      segments,
      ...(impression && options.covariateKeys ? { covariates: randomCovariates(random, options.covariateKeys) } : {}),
    });
  }
  return events;
}

/**
 * Puts events into records of one shard, with kinesalite-like 56-digit sequence numbers;
 * about one record in five continues the previous KPL aggregate (next sub-sequence number).
 */
export function toShardRecords(shardId: string, events: readonly StreamEvent[], seed = 1): ValidEvent[] {
  const random = seededRandom(seed);
  let sequence = 0;
  let sub = 0;
  return events.map((event, index) => {
    if (index === 0 || sub >= 2 || random() < 0.8) {
      sequence += 1 + Math.floor(random() * 1000);
      sub = 0;
    } else {
      sub += 1;
    }
    const sequenceNumber = `4959${String(sequence).padStart(52, '0')}`;
    return { id: { shardId, sequenceNumber, subSequenceNumber: sub }, event };
  });
}
