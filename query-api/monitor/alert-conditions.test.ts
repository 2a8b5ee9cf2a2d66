import { describe, expect, it } from 'vitest';
import type { ExperimentDefinition } from '../../common/experiment-definition.js';
import type { ExperimentResults } from '../results/results-service.js';
import {
  evaluateAlerts,
  evaluatePipelineAlerts,
  healthConditions,
  kindOf,
  type PipelineHealth,
} from './alert-conditions.js';
import { counterIncrease, healthFromMetrics, prometheusSamples } from './pipeline-health.js';
import { snapshotBucketStart, snapshotsFromResults } from './result-snapshot.js';

const definition: ExperimentDefinition = {
  key: 'checkout',
  name: 'Checkout',
  status: 'running',
  variants: [
    { id: 'control', weight: 0.5 },
    { id: 'treatment', weight: 0.5 },
  ],
  controlVariantId: 'control',
  coverage: 1,
  hashSeed: 'checkout',
  hashVersion: 2,
  metrics: [
    { key: 'signup', type: 'binomial', lowerIsBetter: false, guardrail: true },
    { key: 'latency', type: 'mean', lowerIsBetter: true, guardrail: true },
    { key: 'revenue', type: 'mean', lowerIsBetter: false },
  ],
  segmentDimensions: [],
};

const comparison = (estimate: number, ciLow: number, ciHigh: number) => ({
  absolute: { estimate: null, ciLow: null, ciHigh: null },
  relative: { estimate, ciLow, ciHigh },
  pValue: 0.001,
  chanceToWin: 0.02,
  riskOfLoss: null,
  warnings: [],
});

/** Results where the treatment's lifts have the given intervals. */
function results(
  lifts: Record<string, [number, number, number]>,
  srm: { pValue: number; mismatch: boolean } = { pValue: 0.5, mismatch: false },
): ExperimentResults {
  const metric = (key: string, treatment: boolean) => ({
    users: 10,
    events: 10,
    sum: 10,
    sumSquares: 10,
    mean: 0.1,
    vsControl: treatment && lifts[key] ? comparison(...lifts[key]) : null,
  });
  const variant = (variantId: string, users: number) => ({
    variantId,
    users,
    impressions: users,
    metrics: Object.fromEntries(definition.metrics.map((m) => [m.key, metric(m.key, variantId === 'treatment')])),
  });
  const partial: Partial<ExperimentResults> = {
    experimentId: 'checkout',
    controlVariantId: 'control',
    computedAt: '2026-11-26T10:00:00.000Z',
    lastEventAt: null,
    alpha: 0.05,
    sequential: true,
    metrics: definition.metrics.map((m) => ({
      key: m.key,
      type: m.type,
      lowerIsBetter: m.lowerIsBetter,
      guardrail: m.guardrail === true,
    })),
    srm,
    variants: [variant('control', 600), variant('treatment', 400)],
  };
  // The fields the monitor reads; the rest of a results answer does not matter here.
  return partial as ExperimentResults;
}

const healthy: PipelineHealth = { deadLetterGrowth: 0, lagMs: 10, stateLost: false };
const thresholds = { deadLetterThreshold: 3, deadLetterWindowMs: 900_000, lagThresholdMs: 60_000 };

describe('evaluateAlerts', () => {
  it('fires SRM and guardrails that moved the wrong way with significance, in either direction', () => {
    const evaluation = evaluateAlerts({
      definition,
      results: results(
        {
          signup: [-0.2, -0.3, -0.1], // higher is better, wholly below 0: wrong way
          latency: [0.15, 0.05, 0.25], // lower is better, wholly above 0: wrong way
          revenue: [-0.5, -0.6, -0.4], // not a guardrail
        },
        { pValue: 1e-9, mismatch: true },
      ),
      firing: [],
    });
    expect(evaluation.fired.map((c) => c.condition)).toEqual([
      'srm',
      'guardrail:signup:treatment',
      'guardrail:latency:treatment',
    ]);
    expect(evaluation.fired[0]!.summary).toBe(
      'sample-ratio mismatch (p = 1.00e-9): exposed users control 600, treatment 400',
    );
    expect(evaluation.fired[1]!.summary).toBe(
      'guardrail signup moved the wrong way in treatment: -20.0% [-30.0%, -10.0%] vs control (p = 0.0010)',
    );
    expect(evaluation.cleared).toEqual([]);
  });

  it('does not fire for a guardrail whose interval touches 0, or that moved the right way', () => {
    const evaluation = evaluateAlerts({
      definition,
      results: results({ signup: [-0.1, -0.2, 0.01], latency: [-0.2, -0.3, -0.1] }),
      firing: [],
    });
    expect(evaluation.fired).toEqual([]);
  });

  it('fires only what was not firing, and clears what no longer holds', () => {
    const firedAt = new Date('2026-11-26T09:00:00Z');
    const evaluation = evaluateAlerts({
      definition,
      results: results({ signup: [-0.2, -0.3, -0.1] }),
      firing: [
        { condition: 'guardrail:signup:treatment', firedAt, detail: {} },
        { condition: 'srm', firedAt, detail: { summary: 'was' } },
      ],
    });
    expect(evaluation.fired).toEqual([]);
    expect(evaluation.cleared.map((alert) => alert.condition)).toEqual(['srm']);
  });
});

describe('evaluatePipelineAlerts', () => {
  const firedAt = new Date('2026-11-26T09:00:00Z');
  const firing = (...conditions: string[]) => conditions.map((condition) => ({ condition, firedAt, detail: {} }));

  it('fires each health condition once, whatever the experiments', () => {
    const evaluation = evaluatePipelineAlerts({
      health: { deadLetterGrowth: 5, lagMs: 120_000, stateLost: true },
      thresholds,
      firing: firing('processor-lag'),
    });
    expect(evaluation.fired.map((c) => c.condition)).toEqual(['dead-letters', 'state-lost']);
    expect(evaluation.fired[0]!.summary).toBe(
      '5 events were dead-lettered in the last 15 min (threshold 3); see npm run dlq -- list',
    );
    expect(evaluation.cleared).toEqual([]);
  });

  it('clears what recovered, and leaves alerts as they were while health cannot be read', () => {
    expect(
      evaluatePipelineAlerts({ health: healthy, thresholds, firing: firing('dead-letters', 'state-lost') }).cleared.map(
        (alert) => alert.condition,
      ),
    ).toEqual(['dead-letters', 'state-lost']);
    const unknown: PipelineHealth = { deadLetterGrowth: null, lagMs: null, stateLost: null };
    const evaluation = evaluatePipelineAlerts({
      health: unknown,
      thresholds,
      firing: firing('dead-letters', 'processor-lag', 'state-lost'),
    });
    expect(evaluation.cleared).toEqual([]);
    expect(evaluation.fired).toEqual([]);
    // Only the unknown figure holds its alert: lag read again and below the threshold clears.
    expect(
      evaluatePipelineAlerts({
        health: { ...unknown, lagMs: 5 },
        thresholds,
        firing: firing('dead-letters', 'processor-lag'),
      }).cleared.map((alert) => alert.condition),
    ).toEqual(['processor-lag']);
  });
});

describe('healthConditions', () => {
  it('compares with the thresholds strictly', () => {
    expect(healthConditions({ deadLetterGrowth: 3, lagMs: 60_000, stateLost: false }, thresholds)).toEqual([]);
    expect(
      healthConditions({ deadLetterGrowth: 4, lagMs: 60_001, stateLost: true }, thresholds).map((c) => c.condition),
    ).toEqual(['dead-letters', 'processor-lag', 'state-lost']);
  });

  it('knows the kind of every condition id', () => {
    expect(kindOf('guardrail:signup:treatment')).toBe('guardrail');
    expect(kindOf('state-lost')).toBe('state-lost');
    expect(kindOf('dead-letters')).toBe('dead-letters');
  });
});

describe('pipeline health from Prometheus text', () => {
  const text = [
    '# HELP processor_dead_letters_total Dead letters',
    '# TYPE processor_dead_letters_total counter',
    'processor_dead_letters_total{reason="schema"} 3',
    'processor_dead_letters_total{reason="record-rejected"} 2',
    'processor_millis_behind_latest{shard="shardId-0"} 1500',
    'processor_millis_behind_latest{shard="shardId-1"} 90000',
    'processor_dead_letters_total_other 100',
    'processor_state_lost 0',
  ].join('\n');

  it('sums dead letters, takes the largest lag, and sees lost state on any endpoint', () => {
    expect(prometheusSamples(text, 'processor_dead_letters_total')).toEqual([3, 2]);
    expect(healthFromMetrics([text])).toEqual({ deadLetters: 5, lagMs: 90_000, stateLost: false });
    expect(healthFromMetrics([text, 'processor_state_lost 1\nprocessor_dead_letters_total{reason="x"} 1'])).toEqual({
      deadLetters: 6,
      lagMs: 90_000,
      stateLost: true,
    });
    expect(healthFromMetrics([''])).toEqual({ deadLetters: 0, lagMs: 0, stateLost: false });
  });

  it("counts a counter's increase across restarts (the documented example)", () => {
    expect(counterIncrease([5, 9, 2, 4])).toBe(8);
    expect(counterIncrease([7])).toBe(0);
    expect(counterIncrease([])).toBe(0);
  });
});

describe('snapshots', () => {
  it('keeps per variant the users, mean, lift with interval, p-value and chance to win; null for the control', () => {
    const [signup] = snapshotsFromResults(results({ signup: [-0.2, -0.3, -0.1] }));
    expect(signup).toEqual({
      metric: 'signup',
      variants: [
        { variantId: 'control', users: 600, mean: 0.1, lift: null, pValue: null, chanceToWin: null },
        {
          variantId: 'treatment',
          users: 400,
          mean: 0.1,
          lift: { relative: -0.2, interval: [-0.3, -0.1] },
          pValue: 0.001,
          chanceToWin: 0.02,
        },
      ],
    });
  });

  it('aligns snapshot intervals to the epoch', () => {
    expect(snapshotBucketStart(new Date('2026-11-26T10:42:13Z'), 3_600_000).toISOString()).toBe(
      '2026-11-26T10:00:00.000Z',
    );
    expect(snapshotBucketStart(new Date('2026-11-26T10:42:13Z'), 900_000).toISOString()).toBe(
      '2026-11-26T10:30:00.000Z',
    );
  });
});
