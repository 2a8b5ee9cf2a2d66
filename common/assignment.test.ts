import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  assignVariant,
  evaluateFlag,
  experimentRanges,
  isCurrentVariant,
  type AssignableExperiment,
} from './assignment.js';
import type { FlagDefinition } from './experiment-definition.js';

const experiment = (overrides: Partial<AssignableExperiment> = {}): AssignableExperiment => ({
  status: 'running',
  variants: [
    { id: 'control', weight: 0.5 },
    { id: 'treatment', weight: 0.5 },
  ],
  controlVariantId: 'control',
  coverage: 1,
  hashSeed: 'checkout-redesign',
  hashVersion: 2,
  ...overrides,
});

const variantsOf = (count: number, weights?: number[]) =>
  Array.from({ length: count }, (_, i) => ({ id: `v${i}`, weight: weights?.[i] ?? 1 / count }));

// GrowthBook's "run" cases: experiment key "my-test" (the seed), v1 hash, attribute id → [variation, inExperiment].
const GROWTHBOOK_RUN_CASES: [string, string, number[] | undefined, number, number, number, boolean][] = [
  ['default weights', '1', undefined, 2, 1, 1, true],
  ['default weights', '2', undefined, 2, 1, 0, true],
  ['default weights', '3', undefined, 2, 1, 0, true],
  ['default weights', '4', undefined, 2, 1, 1, true],
  ['default weights', '5', undefined, 2, 1, 1, true],
  ['default weights', '6', undefined, 2, 1, 1, true],
  ['default weights', '7', undefined, 2, 1, 0, true],
  ['default weights', '8', undefined, 2, 1, 1, true],
  ['default weights', '9', undefined, 2, 1, 0, true],
  ['uneven weights', '1', [0.1, 0.9], 2, 1, 1, true],
  ['uneven weights', '3', [0.1, 0.9], 2, 1, 0, true],
  ['uneven weights', '7', [0.1, 0.9], 2, 1, 0, true],
  ['uneven weights', '9', [0.1, 0.9], 2, 1, 1, true],
  ['coverage', '1', undefined, 2, 0.4, 0, false],
  ['coverage', '2', undefined, 2, 0.4, 0, true],
  ['coverage', '4', undefined, 2, 0.4, 0, false],
  ['coverage', '5', undefined, 2, 0.4, 1, true],
  ['coverage', '8', undefined, 2, 0.4, 1, true],
  ['coverage', '9', undefined, 2, 0.4, 0, false],
  ['three way', '1', undefined, 3, 1, 2, true],
  ['three way', '2', undefined, 3, 1, 0, true],
  ['three way', '5', undefined, 3, 1, 1, true],
  ['three way', '6', undefined, 3, 1, 2, true],
  ['three way', '8', undefined, 3, 1, 1, true],
];

describe('assignVariant', () => {
  it.each(GROWTHBOOK_RUN_CASES)(
    'GrowthBook %s, id %s',
    (_name, id, weights, count, coverage, expected, inExperiment) => {
      const result = assignVariant(
        experiment({
          hashSeed: 'my-test',
          hashVersion: 1,
          coverage,
          variants: variantsOf(count, weights),
          controlVariantId: 'v0',
        }),
        id,
      );
      expect(result.inExperiment).toBe(inExperiment);
      expect(result.variantId).toBe(`v${expected}`);
    },
  );

  it('matches GrowthBook with a custom seed and v2 hashing', () => {
    const result = assignVariant(
      experiment({ hashSeed: 'foo', variants: variantsOf(2), controlVariantId: 'v0', coverage: 0.99 }),
      '1',
    );
    expect(result).toMatchObject({ variantId: 'v1', inExperiment: true, reason: 'assigned' });
  });

  it('explains every way a user is left out, serving control', () => {
    expect(assignVariant(experiment({ status: 'stopped' }), 'u1')).toEqual({
      variantId: 'control',
      inExperiment: false,
      reason: 'not-running',
    });
    expect(assignVariant(experiment(), '')).toMatchObject({ inExperiment: false, reason: 'missing-user-id' });
    expect(assignVariant(experiment({ hashVersion: 7 }), 'u1')).toMatchObject({ reason: 'unsupported-hash-version' });
    expect(assignVariant(experiment({ coverage: 0 }), 'u1')).toMatchObject({
      variantId: 'control',
      reason: 'outside-coverage',
    });
    const targeted = experiment({ targeting: { attribute: 'country', op: 'eq', value: 'US' } });
    expect(assignVariant(targeted, 'u1', { country: 'FR' })).toMatchObject({
      variantId: 'control',
      reason: 'not-targeted',
    });
    expect(assignVariant(targeted, 'u1', { country: 'US' })).toMatchObject({ inExperiment: true, reason: 'assigned' });
  });

  it('normalises relative weights (3:1 is 75/25)', () => {
    const ranges = experimentRanges(
      experiment({
        variants: [
          { id: 'a', weight: 0.3 },
          { id: 'b', weight: 0.1 },
        ],
      }),
    );
    expect(ranges[0]![1]).toBeCloseTo(0.75, 9);
    expect(
      experimentRanges(
        experiment({
          variants: [
            { id: 'a', weight: 0 },
            { id: 'b', weight: 0 },
          ],
        }),
      ),
    ).toEqual([
      [0, 0],
      [0, 0],
    ]);
  });

  it('splits 100,000 ids by the configured weights within a chi-square tolerance', () => {
    const weights = [0.5, 0.3, 0.2];
    const definition = experiment({ variants: variantsOf(3, weights), controlVariantId: 'v0', coverage: 0.8 });
    const counts = new Map<string, number>();
    const total = 100_000;
    for (let i = 0; i < total; i++) {
      const result = assignVariant(definition, `user-${i}`);
      const key = result.inExperiment ? result.variantId : 'excluded';
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const expected: [string, number][] = [
      ['v0', 0.5 * 0.8],
      ['v1', 0.3 * 0.8],
      ['v2', 0.2 * 0.8],
      ['excluded', 0.2],
    ];
    const chiSquare = expected.reduce((sum, [key, share]) => {
      const e = share * total;
      return sum + ((counts.get(key) ?? 0) - e) ** 2 / e;
    }, 0);
    // 99.9th percentile of chi-square with 3 degrees of freedom.
    expect(chiSquare).toBeLessThan(16.266);
  });

  it('is sticky across changes that must not move anyone: more coverage, a pause, weights re-expressed, other attributes (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }),
        fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 2, maxLength: 5 }),
        // Coverage in whole percent: fc.double favours 0 and 1, where nobody or everybody is in.
        fc.integer({ min: 0, max: 100 }).map((percent) => percent / 100),
        fc.integer({ min: 0, max: 100 }).map((percent) => percent / 100),
        fc.dictionary(fc.string(), fc.string()),
        (id, rawWeights, a, b, attributes) => {
          const total = rawWeights.reduce((sum, weight) => sum + weight, 0);
          const asFractions = rawWeights.map((weight, i) => ({ id: `v${i}`, weight: weight / total }));
          const asPercentages = rawWeights.map((weight, i) => ({ id: `v${i}`, weight: (100 * weight) / total }));
          const narrow = experiment({ variants: asFractions, controlVariantId: 'v0', coverage: Math.min(a, b) });
          const before = assignVariant(narrow, id);
          // Paused: everyone sees control and nobody counts; resumed: everyone is back where they were.
          expect(assignVariant({ ...narrow, status: 'stopped' }, id)).toEqual({
            variantId: 'v0',
            inExperiment: false,
            reason: 'not-running',
          });
          expect(assignVariant(narrow, id)).toEqual(before);
          // Without targeting, attributes play no part; the same weights written as percentages neither.
          expect(assignVariant(narrow, id, attributes)).toEqual(before);
          expect(assignVariant({ ...narrow, variants: asPercentages }, id)).toEqual(before);
          // More traffic only adds users: whoever was in keeps their variant.
          const widened = assignVariant({ ...narrow, coverage: Math.max(a, b) }, id);
          if (before.inExperiment) expect(widened).toMatchObject({ inExperiment: true, variantId: before.variantId });
        },
      ),
      { numRuns: 500 },
    );
  });

  it('keeps every assigned user in place when coverage rises from 20 % to 100 %', () => {
    const narrow = experiment({ coverage: 0.2 });
    const wide = experiment({ coverage: 1 });
    let assigned = 0;
    for (let i = 0; i < 20_000; i++) {
      const before = assignVariant(narrow, `user-${i}`);
      if (!before.inExperiment) continue;
      assigned++;
      expect(assignVariant(wide, `user-${i}`).variantId).toBe(before.variantId);
    }
    expect(assigned).toBeGreaterThan(3_000);
  });

  it('moves only the users between the old and new boundary when weights change (50/50 → 20/80)', () => {
    const before = experiment();
    const after = experiment({
      variants: [
        { id: 'control', weight: 0.2 },
        { id: 'treatment', weight: 0.8 },
      ],
    });
    let moved = 0;
    const total = 20_000;
    for (let i = 0; i < total; i++) {
      const a = assignVariant(before, `user-${i}`);
      const b = assignVariant(after, `user-${i}`);
      if (a.variantId === b.variantId) continue;
      moved++;
      // Only control → treatment moves; nobody in treatment is reshuffled.
      expect([a.variantId, b.variantId]).toEqual(['control', 'treatment']);
      expect(a.bucket).toBeGreaterThanOrEqual(0.2);
      expect(a.bucket).toBeLessThan(0.5);
    }
    expect(moved / total).toBeGreaterThan(0.28);
    expect(moved / total).toBeLessThan(0.32);
  });

  it('recognises current variants only', () => {
    expect(isCurrentVariant(experiment(), 'treatment')).toBe(true);
    expect(isCurrentVariant(experiment(), 'removed')).toBe(false);
  });
});

describe('evaluateFlag', () => {
  const flag = (overrides: Partial<FlagDefinition> = {}): FlagDefinition => ({
    key: 'new-nav',
    enabled: true,
    defaultValue: 'old',
    value: 'new',
    rollout: 0.3,
    hashSeed: 'new-nav',
    ...overrides,
  });

  it('serves the default when off or not targeted', () => {
    expect(evaluateFlag(flag({ enabled: false }), 'u1')).toEqual({ value: 'old', reason: 'disabled' });
    const targeted = flag({ targeting: { attribute: 'plan', op: 'in', values: ['pro'] } });
    expect(evaluateFlag(targeted, 'u1', { plan: 'free' })).toEqual({ value: 'old', reason: 'not-targeted' });
  });

  it('serves everyone at 100 % and nobody at 0 %, with or without an id', () => {
    expect(evaluateFlag(flag({ rollout: 1 }), '')).toEqual({ value: 'new', reason: 'in-rollout' });
    expect(evaluateFlag(flag({ rollout: 0 }), 'u1')).toEqual({ value: 'old', reason: 'outside-rollout' });
    expect(evaluateFlag(flag(), '')).toEqual({ value: 'old', reason: 'missing-user-id' });
  });

  it('rolls out to the configured share and only adds users as the rollout grows', () => {
    let at30 = 0;
    const total = 20_000;
    for (let i = 0; i < total; i++) {
      const small = evaluateFlag(flag({ rollout: 0.3 }), `user-${i}`);
      const large = evaluateFlag(flag({ rollout: 0.6 }), `user-${i}`);
      if (small.reason === 'in-rollout') {
        at30++;
        expect(large.reason).toBe('in-rollout');
      }
    }
    expect(at30 / total).toBeGreaterThan(0.285);
    expect(at30 / total).toBeLessThan(0.315);
  });
});
