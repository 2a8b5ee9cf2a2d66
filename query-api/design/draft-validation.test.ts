import { describe, expect, it } from 'vitest';
import { acceptAnyTargeting } from '../definitions/definition-rules.js';
import { validateDraftAnswer } from './draft-validation.js';

const answer = (metricKey: string) => ({
  experiment: {
    key: 'checkout-copy',
    name: 'Checkout copy',
    variants: [
      { id: 'control', weight: 0.5 },
      { id: 'treatment', weight: 0.5 },
    ],
    controlVariantId: 'control',
    metrics: [
      { key: 'revenue', type: 'mean' },
      { key: 'orders', type: 'mean' },
      { key: 'aov', type: 'ratio', numerator: 'revenue', denominator: 'orders' },
    ],
  },
  power: { metricKey, baseline: 40, variance: 900, minimumDetectableEffect: 0.05, dailyTraffic: 5000 },
  rationale: 'Revenue per order should grow with clearer copy.',
});

describe('validateDraftAnswer', () => {
  it('plans a mean metric of a draft that also has a ratio metric', () => {
    const check = validateDraftAnswer(answer('revenue'), acceptAnyTargeting);
    expect(check.ok, JSON.stringify(check)).toBe(true);
  });

  it('refuses to plan a ratio metric, naming the field and the rule (the power calculator has no ratio formula)', () => {
    const check = validateDraftAnswer(answer('aov'), acceptAnyTargeting);
    expect(check).toMatchObject({
      ok: false,
      errors: [{ field: 'power.metricKey', rule: 'metricTypePlannable' }],
    });
  });
});
