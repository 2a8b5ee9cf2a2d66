import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareToControl } from './compare.js';
import { planSampleSize, type PowerInput } from './power-plan.js';
import {
  fixedHorizonPower,
  fixedHorizonTotalUsers,
  sequentialCriticalValue,
  sequentialPower,
  sequentialTotalUsers,
  sequentialTunedTotalUsers,
  type PairDesign,
} from './power.js';

const perArm = (input: PowerInput, design: 'fixedHorizon' | 'sequential' | 'sequentialTunedToPlan' = 'fixedHorizon') =>
  planSampleSize(input)[design].usersPerVariant.map((v) => v.users);

const evenPair = (effect: number, variance: number): PairDesign => ({
  effect,
  controlVariance: variance,
  treatmentVariance: variance,
  controlShare: 0.5,
  treatmentShare: 0.5,
});

describe('fixed horizon: published power tables', () => {
  it('baseline 10%, MDE +10%, α 0.05, power 0.8 → about 14,750 users per arm (R power.prop.test: 14,750.8)', () => {
    const [control, treatment] = perArm({ metricType: 'binomial', baseline: 0.1, minimumDetectableEffect: 0.1 });
    expect(control).toBe(treatment);
    // Unpooled Welch: (z.975 + z.8)²·(0.09 + 0.0979)/0.01² = 14,748.0, plus the t correction at ν ≈ 29,500.
    expect(control).toBe(14_750);
  });

  it('R power.t.test(power = 0.9, delta = 1, sd = 1) → n = 22.02 per group (ours: 22.04, same 23 users)', () => {
    const perGroup = fixedHorizonTotalUsers(evenPair(1, 1), 0.05, 0.9) / 2;
    expect(perGroup).toBeGreaterThan(22.0);
    expect(perGroup).toBeLessThan(22.07);
    expect(perArm({ metricType: 'mean', baseline: 10, variance: 1, minimumDetectableEffect: 0.1, power: 0.9 })).toEqual(
      [23, 23],
    );
  });

  it('R power.t.test(n = 20, delta = 1, sd = 1) → power 0.8689528 (central-t approximation within 2e-4)', () => {
    expect(fixedHorizonPower(evenPair(1, 1), 0.05, 40)).toBeCloseTo(0.8689528, 3);
  });

  it("van Belle's rule of thumb (Statistical Rules of Thumb §2.3; Kohavi et al. 2020): n ≈ 16σ²/δ² per arm", () => {
    // 16 rounds 2·(1.96 + 0.84)² = 15.68; for large n the t quantiles are the normal ones.
    const perGroup = fixedHorizonTotalUsers(evenPair(0.02, 1), 0.05, 0.8) / 2;
    expect(perGroup / (16 / 0.02 ** 2)).toBeCloseTo(15.698 / 16, 3);
  });

  it('z-test closed form for unequal weights: N = (z.975 + z.8)²·(σ²/w_c + σ²/w_t)/δ² at large N', () => {
    const pair: PairDesign = {
      effect: 0.01,
      controlVariance: 1,
      treatmentVariance: 1,
      controlShare: 0.8,
      treatmentShare: 0.2,
    };
    const expected = ((1.959964 + 0.841621) ** 2 * (1 / 0.8 + 1 / 0.2)) / 0.01 ** 2;
    expect(fixedHorizonTotalUsers(pair, 0.05, 0.8) / expected).toBeCloseTo(1, 3);
  });
});

describe('sequential sample size', () => {
  const binomial = evenPair(0.01, 0.09);
  binomial.treatmentVariance = 0.11 * 0.89;

  it('the critical value tuned at N* = N is the constant c_K (α 0.05: 3.0352)', () => {
    expect(sequentialCriticalValue(0.05, 5000, 5000)).toBeCloseTo(3.0352, 4);
    expect(sequentialCriticalValue(0.05, 80_000, 80_000)).toBeCloseTo(3.0352, 4);
  });

  it('at the returned N a look has exactly the requested power, and just below it less', () => {
    const n = sequentialTotalUsers(binomial, 0.05, 0.8, 5000);
    expect(sequentialPower(binomial, 0.05, 5000, n)).toBeCloseTo(0.8, 6);
    expect(sequentialPower(binomial, 0.05, 5000, n * 0.999)).toBeLessThan(0.8);
  });

  it('needs more users than the fixed horizon, and tuning to the plan needs fewer than N* = 5000', () => {
    const plan = planSampleSize({ metricType: 'binomial', baseline: 0.1, minimumDetectableEffect: 0.1 });
    expect(plan.sequential.totalUsers).toBeGreaterThan(plan.fixedHorizon.totalUsers * 1.8);
    expect(plan.sequentialTunedToPlan.totalUsers).toBeLessThan(plan.sequential.totalUsers);
    expect(plan.sequentialTunedToPlan.totalUsers).toBeGreaterThan(plan.fixedHorizon.totalUsers);
    expect(plan.sequential.tuning).toBe(5000);
    expect(plan.sequentialTunedToPlan.tuning).toBe(plan.sequentialTunedToPlan.totalUsers);
    // Closed form: s²·(c_K + z.8)²/δ² = 0.3758·(3.03521 + 0.84162)²/1e-4 = 56,483.x
    expect(sequentialTunedTotalUsers(binomial, 0.05, 0.8)).toBeCloseTo(
      (0.3758 * (3.035209 + 0.841621) ** 2) / 1e-4,
      -1,
    );
  });

  it('the tuned closed form agrees with the bisection at N* = that N', () => {
    const tuned = sequentialTunedTotalUsers(binomial, 0.05, 0.8);
    expect(sequentialTotalUsers(binomial, 0.05, 0.8, tuned) / tuned).toBeCloseTo(1, 6);
  });
});

/** Deterministic uniform [0, 1) (mulberry32). */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('the planned sizes give the requested power in the results engine (simulation, seeded)', () => {
  const baseline = 0.3;
  const plan = planSampleSize({ metricType: 'binomial', baseline, minimumDetectableEffect: 0.2, power: 0.8 });
  const random = seededRandom(20261126);
  const conversions = (users: number, rate: number) => {
    let sum = 0;
    for (let i = 0; i < users; i++) if (random() < rate) sum++;
    return sum;
  };
  const rejectionRate = (users: number, sequential: boolean, runs: number) => {
    let rejected = 0;
    for (let run = 0; run < runs; run++) {
      const control = conversions(users, baseline);
      const treatment = conversions(users, baseline * 1.2);
      const result = compareToControl(
        { n: users, sum: control, sumSquares: control },
        { n: users, sum: treatment, sumSquares: treatment },
        { kind: 'binomial', sequential },
      );
      if (result.absolutePValue !== null && result.absolutePValue < 0.05) rejected++;
    }
    return rejected / runs;
  };

  it('fixed horizon: ≈ 80% of experiments of the planned size reject (Welch test, absolute effect)', () => {
    const users = plan.fixedHorizon.usersPerVariant[0]!.users;
    const rate = rejectionRate(users, false, 2000);
    expect(rate).toBeGreaterThan(0.77); // ±3.5 standard errors of 2,000 runs
    expect(rate).toBeLessThan(0.83);
  });

  it('sequential: ≈ 80% of looks at the planned size reject with the confidence sequence', () => {
    const users = plan.sequential.usersPerVariant[0]!.users;
    const rate = rejectionRate(users, true, 2000);
    expect(rate).toBeGreaterThan(0.77);
    expect(rate).toBeLessThan(0.83);
  });
});

describe('properties', () => {
  const binomialInput = fc.record({
    metricType: fc.constant('binomial' as const),
    baseline: fc.double({ min: 0.01, max: 0.5, noNaN: true }),
    minimumDetectableEffect: fc.double({ min: 0.02, max: 0.5, noNaN: true }),
    alpha: fc.double({ min: 0.001, max: 0.2, noNaN: true }),
    power: fc.double({ min: 0.5, max: 0.99, noNaN: true }),
  });
  const total = (input: PowerInput, design: 'fixedHorizon' | 'sequential') => planSampleSize(input)[design].totalUsers;

  it('fewer users for a larger MDE, more for a smaller alpha and a higher power (both designs)', () => {
    fc.assert(
      fc.property(binomialInput, (input) => {
        for (const design of ['fixedHorizon', 'sequential'] as const) {
          const base = total(input, design);
          expect(
            total({ ...input, minimumDetectableEffect: input.minimumDetectableEffect * 1.25 }, design),
          ).toBeLessThanOrEqual(base);
          expect(total({ ...input, alpha: input.alpha / 2 }, design)).toBeGreaterThanOrEqual(base);
          expect(total({ ...input, power: Math.min(0.995, input.power + 0.05) }, design)).toBeGreaterThanOrEqual(base);
          expect(total(input, 'sequential')).toBeGreaterThanOrEqual(total(input, 'fixedHorizon'));
        }
      }),
      { numRuns: 60 },
    );
  });

  it('the fixed-horizon size reaches the requested power; 1% fewer users do not', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.05, max: 2, noNaN: true }),
        fc.double({ min: 0.1, max: 0.9, noNaN: true }),
        fc.double({ min: 0.5, max: 0.95, noNaN: true }),
        (effect, controlShare, power) => {
          const pair: PairDesign = {
            effect,
            controlVariance: 1,
            treatmentVariance: 1.5,
            controlShare,
            treatmentShare: 1 - controlShare,
          };
          const n = fixedHorizonTotalUsers(pair, 0.05, power);
          if (n <= Math.max(2 / controlShare, 2 / (1 - controlShare)) + 1e-9) return; // the 2-per-arm floor
          expect(fixedHorizonPower(pair, 0.05, n)).toBeGreaterThanOrEqual(power - 1e-6);
          expect(fixedHorizonPower(pair, 0.05, n * 0.99)).toBeLessThan(power);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('an even split is the cheapest; an 80/20 split needs (1/0.8 + 1/0.2)/4 = 1.5625× the users', () => {
    const even = planSampleSize({ metricType: 'mean', baseline: 50, variance: 400, minimumDetectableEffect: 0.02 });
    const skewed = planSampleSize({
      metricType: 'mean',
      baseline: 50,
      variance: 400,
      minimumDetectableEffect: 0.02,
      variants: [
        { id: 'control', weight: 80 },
        { id: 'treatment', weight: 20 },
      ],
    });
    expect(skewed.fixedHorizon.totalUsers / even.fixedHorizon.totalUsers).toBeCloseTo(1.5625, 2);
    expect(skewed.assumptions.variants).toEqual([
      { id: 'control', weight: 0.8 },
      { id: 'treatment', weight: 0.2 },
    ]);
    const [control, treatment] = skewed.fixedHorizon.usersPerVariant;
    expect(control!.users / treatment!.users).toBeCloseTo(4, 2);
  });

  it('three variants at 1/3 each: every arm needs what an arm of a 50/50 test needs', () => {
    const two = planSampleSize({ metricType: 'binomial', baseline: 0.1, minimumDetectableEffect: 0.1 });
    const three = planSampleSize({
      metricType: 'binomial',
      baseline: 0.1,
      minimumDetectableEffect: 0.1,
      variants: ['a', 'b', 'c'].map((id) => ({ id, weight: 1 })),
      controlVariantId: 'b',
    });
    const arm = two.fixedHorizon.usersPerVariant[0]!.users;
    for (const variant of three.fixedHorizon.usersPerVariant)
      expect(Math.abs(variant.users - arm)).toBeLessThanOrEqual(1);
    expect(three.assumptions.notes.join(' ')).toContain('alpha / 2');
  });

  it('days = ⌈total / daily traffic⌉, null without traffic', () => {
    const plan = planSampleSize({
      metricType: 'binomial',
      baseline: 0.1,
      minimumDetectableEffect: 0.1,
      dailyTraffic: 1000,
    });
    expect(plan.fixedHorizon.days).toBe(Math.ceil(plan.fixedHorizon.totalUsers / 1000));
    expect(plan.sequential.days).toBe(Math.ceil(plan.sequential.totalUsers / 1000));
    expect(
      planSampleSize({ metricType: 'binomial', baseline: 0.1, minimumDetectableEffect: 0.1 }).fixedHorizon.days,
    ).toBeNull();
  });

  it('a negative MDE (a drop) is planned like a rise, with the lower treatment variance', () => {
    const drop = planSampleSize({ metricType: 'binomial', baseline: 0.5, minimumDetectableEffect: -0.1 });
    const rise = planSampleSize({ metricType: 'binomial', baseline: 0.5, minimumDetectableEffect: 0.1 });
    expect(drop.fixedHorizon.totalUsers).toBe(rise.fixedHorizon.totalUsers); // p(1−p) symmetric around ½
    expect(drop.assumptions.treatmentMean).toBeCloseTo(0.45, 12);
  });
});

describe('any input: a finite plan or VALIDATION_FAILED, never NaN, Infinity or another error', () => {
  const finiteNumbers = (value: unknown): boolean =>
    typeof value === 'number'
      ? Number.isFinite(value)
      : value === null || typeof value !== 'object' || Object.values(value).every(finiteNumbers);

  it('property over extreme doubles', () => {
    const anyDouble = fc.double({ noNaN: false });
    fc.assert(
      fc.property(
        fc.record({
          metricType: fc.constantFrom('binomial' as const, 'mean' as const),
          baseline: anyDouble,
          variance: fc.option(anyDouble, { nil: undefined }),
          minimumDetectableEffect: anyDouble,
          alpha: fc.option(fc.double({ min: 1e-12, max: 0.5, noNaN: true }), { nil: undefined }),
          power: fc.option(fc.double({ min: 0.5, max: 0.999999, noNaN: true }), { nil: undefined }),
          dailyTraffic: fc.option(anyDouble, { nil: undefined }),
          weights: fc.array(fc.double({ min: 1e-9, max: 1e6, noNaN: true }), { minLength: 2, maxLength: 5 }),
        }),
        ({ weights, ...rest }) => {
          const input = { ...rest, variants: weights.map((weight, index) => ({ id: `v${index}`, weight })) };
          try {
            expect(finiteNumbers(planSampleSize(input))).toBe(true);
          } catch (error) {
            expect(error).toMatchObject({ code: 'VALIDATION_FAILED' });
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('invalid input names the field and the rule', () => {
  const failure = (input: PowerInput) => {
    try {
      planSampleSize(input);
    } catch (error) {
      return error as { code: string; details: { field: string; rule: string }[] };
    }
    throw new Error('expected a validation failure');
  };

  it.each([
    [{ metricType: 'binomial', baseline: 1.2, minimumDetectableEffect: 0.1 }, 'baseline', 'rateBetweenZeroAndOne'],
    [
      { metricType: 'binomial', baseline: 0.9, minimumDetectableEffect: 0.2 },
      'minimumDetectableEffect',
      'treatmentRateBetweenZeroAndOne',
    ],
    [
      { metricType: 'binomial', baseline: 0.1, variance: 2, minimumDetectableEffect: 0.1 },
      'variance',
      'onlyForMeanMetrics',
    ],
    [{ metricType: 'mean', baseline: 10, minimumDetectableEffect: 0.1 }, 'variance', 'requiredForMeanMetrics'],
    [{ metricType: 'mean', baseline: 0, variance: 1, minimumDetectableEffect: 0.1 }, 'baseline', 'nonZero'],
    [
      { metricType: 'mean', baseline: 1, variance: 1, minimumDetectableEffect: 0 },
      'minimumDetectableEffect',
      'nonZeroRelativeChange',
    ],
    [{ metricType: 'mean', baseline: 1, variance: 1, minimumDetectableEffect: 0.1, alpha: 0.7 }, 'alpha', 'range'],
    [{ metricType: 'mean', baseline: 1, variance: 1, minimumDetectableEffect: 0.1, power: 0.3 }, 'power', 'range'],
    [
      {
        metricType: 'mean',
        baseline: 1,
        variance: 1,
        minimumDetectableEffect: 0.1,
        variants: [
          { id: 'a', weight: 1 },
          { id: 'a', weight: 1 },
        ],
      },
      'variants',
      'uniqueVariantIds',
    ],
    [
      {
        metricType: 'mean',
        baseline: 1,
        variance: 1,
        minimumDetectableEffect: 0.1,
        variants: [
          { id: 'a', weight: 1 },
          { id: 'b', weight: 0 },
        ],
      },
      'variants.1.weight',
      'positive',
    ],
    [
      {
        metricType: 'mean',
        baseline: 1,
        variance: 1,
        minimumDetectableEffect: 0.1,
        variants: [
          { id: 'a', weight: 1 },
          { id: 'b', weight: 1 },
        ],
        controlVariantId: 'c',
      },
      'controlVariantId',
      'controlAmongVariants',
    ],
    [
      { metricType: 'mean', baseline: 1, variance: 1e30, minimumDetectableEffect: 1e-6 },
      'minimumDetectableEffect',
      'detectable',
    ],
  ] as [PowerInput, string, string][])('%o → %s (%s)', (input, field, rule) => {
    const error = failure(input);
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.details).toContainEqual(expect.objectContaining({ field, rule }));
  });
});
