/**
 * The translation is exact: arbitrary valid rules of our targeting language and arbitrary
 * attributes evaluate identically through our evaluator and through the official GrowthBook
 * SDK's condition evaluator (`evalCondition` from `@growthbook/growthbook`) on the translated
 * condition, after a JSON round trip (what the payload does to it). Rules that cannot be
 * translated exactly are refused, and only those.
 */
import { evalCondition, type ConditionInterface } from '@growthbook/growthbook';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { evaluateTargetingRule, validateTargetingRule, type TargetingRule } from '../../common/targeting.js';
import { translateTargetingRule, type GrowthBookCondition } from './targeting-to-growthbook-condition.js';

const NAMES = ['country', 'age', 'plan', 'tags', 'appVersion', 'email', 'score'] as const;
/** Names no exact translation exists for, with the reason expected. */
const REFUSED_NAMES: Record<string, string> = {
  'device.os': 'dotted-attribute',
  $or: 'reserved-attribute',
  constructor: 'reserved-attribute',
  toString: 'reserved-attribute',
  id: 'hash-attribute',
};

const STRINGS = ['US', 'DE', 'us', '', ' ', '\n', '5', ' 5 ', '-0', '0x10', 'Infinity', '-Infinity', '1e400', 'NaN'];
const VERSIONS = [
  '1',
  '0',
  '2.4',
  '2.4.0',
  'v2.4.0',
  '2.4.0-beta.1',
  '2.4.0-rc.1',
  '1.2.3+build.7',
  '10.0.0',
  '2.10.0',
];
const EMAILS = ['a@example.com', 'A@EXAMPLE.COM', 'x/y', 'a/b/c', 'mobile Android 14'];
const PATTERNS = ['^US$', '@example\\.com$', 'a/b', '^[a-z]+/[a-z]+', 'Mobile|Android', '^\\d{3}$', '^v?2\\.', 'é'];
const NUMBERS = [0, -0, 5, 34, -3.5, 1e308, Number.MAX_VALUE, -Number.MAX_VALUE, 0.1 + 0.2];

const ruleString = fc.oneof(fc.constantFrom(...STRINGS, ...VERSIONS, ...EMAILS), fc.string({ maxLength: 8 }));
const finite = fc.oneof(
  fc.constantFrom(...NUMBERS),
  fc.integer({ min: -50, max: 50 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);
const scalar = fc.oneof(ruleString, finite, fc.boolean());

function ruleArbitrary(names: fc.Arbitrary<string>): fc.Arbitrary<TargetingRule> {
  const condition: fc.Arbitrary<TargetingRule> = fc.oneof(
    fc.record({ attribute: names, op: fc.constantFrom('eq' as const, 'ne' as const), value: scalar }),
    fc.record({
      attribute: names,
      op: fc.constantFrom('in' as const, 'nin' as const),
      values: fc.array(scalar, { maxLength: 4 }),
    }),
    fc.record({
      attribute: names,
      op: fc.constantFrom('gt' as const, 'gte' as const, 'lt' as const, 'lte' as const),
      value: finite,
    }),
    fc.record({
      attribute: names,
      op: fc.constantFrom(
        'version_eq' as const,
        'version_ne' as const,
        'version_gt' as const,
        'version_gte' as const,
        'version_lt' as const,
        'version_lte' as const,
      ),
      value: fc.oneof(
        fc.constantFrom(...VERSIONS),
        fc.tuple(fc.nat(12), fc.nat(12), fc.nat(12)).map(([a, b, c]) => `${a}.${b}.${c}`),
      ),
    }),
    fc.record(
      {
        attribute: names,
        op: fc.constant('regex' as const),
        pattern: fc.constantFrom(...PATTERNS),
        ignoreCase: fc.boolean(),
      },
      { requiredKeys: ['attribute', 'op', 'pattern'] },
    ),
  );
  return fc.letrec<{ rule: TargetingRule }>((tie) => ({
    rule: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      condition,
      fc.record({ and: fc.array(tie('rule'), { minLength: 1, maxLength: 3 }) }),
      fc.record({ or: fc.array(tie('rule'), { minLength: 1, maxLength: 3 }) }),
      fc.record({ not: tie('rule') }),
    ),
  })).rule;
}

const attributeValue: fc.Arbitrary<unknown> = fc.oneof(
  scalar,
  fc.constantFrom(
    null,
    undefined,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    'a'.repeat(2048),
    `${'a'.repeat(2048)}b`,
  ),
  fc.double(),
  fc.array(fc.oneof(scalar, fc.constant(null), fc.array(scalar, { maxLength: 2 })), { maxLength: 4 }),
  fc.dictionary(fc.constantFrom('os', 'x'), scalar, { maxKeys: 2 }),
);
const attributes = fc.dictionary(fc.constantFrom(...NAMES, 'device', 'id'), attributeValue, { maxKeys: 6 });

/** Our evaluator and the SDK's on the translated condition, as it reaches the SDK (JSON). */
function bothEvaluations(rule: TargetingRule, condition: GrowthBookCondition, attrs: Record<string, unknown>) {
  const served = JSON.parse(JSON.stringify(condition)) as ConditionInterface;
  return { ours: evaluateTargetingRule(rule, attrs), sdk: evalCondition(attrs, served) };
}

const referencedNames = (rule: TargetingRule): string[] =>
  'and' in rule
    ? rule.and.flatMap(referencedNames)
    : 'or' in rule
      ? rule.or.flatMap(referencedNames)
      : 'not' in rule
        ? referencedNames(rule.not)
        : [rule.attribute];

describe('translateTargetingRule (official GrowthBook SDK evalCondition as the reference)', () => {
  it('every pattern the generator uses is a valid, stored-able rule', () => {
    for (const pattern of PATTERNS) {
      expect(validateTargetingRule({ attribute: 'email', op: 'regex', pattern }).ok).toBe(true);
    }
  });

  it('property: arbitrary valid rules and attributes evaluate identically through ours and the SDK', () => {
    const outcomes = { true: 0, false: 0 };
    fc.assert(
      fc.property(ruleArbitrary(fc.constantFrom(...NAMES)), attributes, (rule, attrs) => {
        expect(validateTargetingRule(rule).ok).toBe(true);
        const translation = translateTargetingRule(rule);
        if (!translation.ok) throw new Error(`refused: ${translation.message}`);
        const { ours, sdk } = bothEvaluations(rule, translation.condition, attrs);
        expect(sdk).toBe(ours);
        outcomes[String(ours) as 'true' | 'false']++;
      }),
      { numRuns: 10_000 },
    );
    // Both answers are common, so agreement is not agreement on "false" alone.
    expect(Math.min(outcomes.true, outcomes.false)).toBeGreaterThan(10_000 * 0.2);
  });

  it('property: a rule is refused exactly when it names an attribute SDKs read differently', () => {
    const names = fc.oneof(fc.constantFrom(...NAMES), fc.constantFrom(...Object.keys(REFUSED_NAMES)));
    fc.assert(
      fc.property(ruleArbitrary(names), attributes, (rule, attrs) => {
        const translation = translateTargetingRule(rule);
        const refusedName = referencedNames(rule).find((name) => name in REFUSED_NAMES);
        if (refusedName === undefined) {
          expect(translation.ok).toBe(true);
          if (translation.ok)
            expect(bothEvaluations(rule, translation.condition, attrs).sdk).toBe(evaluateTargetingRule(rule, attrs));
        } else {
          expect(translation.ok).toBe(false);
          if (!translation.ok) {
            expect(Object.values(REFUSED_NAMES)).toContain(translation.reason);
            expect(translation.path).toMatch(/^targeting(\.(and|or)\[\d+\]|\.not)*\.attribute$/);
          }
        }
      }),
      { numRuns: 1_000 },
    );
  });

  it('the differences it closes are real: a naive translation disagrees with ours on these inputs', () => {
    const naive: [TargetingRule, GrowthBookCondition, Record<string, unknown>][] = [
      [{ attribute: 'age', op: 'gte', value: 0 }, { age: { $gte: 0 } }, { age: true }],
      [{ attribute: 'age', op: 'gte', value: 0 }, { age: { $gte: 0 } }, { age: '' }],
      [{ attribute: 'age', op: 'gte', value: -1 }, { age: { $gte: -1 } }, {}],
      [{ attribute: 'age', op: 'gt', value: 5 }, { age: { $gt: 5 } }, { age: 'Infinity' }],
      [{ attribute: 'age', op: 'gt', value: 5 }, { age: { $gt: 5 } }, { age: [7] }],
      [{ attribute: 'plan', op: 'eq', value: 1 }, { plan: '1' }, { plan: '1' }],
      [{ attribute: 'tags', op: 'eq', value: 'beta' }, { tags: { $eq: 'beta' } }, { tags: ['beta'] }],
      [{ attribute: 'appVersion', op: 'version_lte', value: '1.0.0' }, { appVersion: { $vlte: '1.0.0' } }, {}],
      [
        { attribute: 'appVersion', op: 'version_eq', value: '0' },
        { appVersion: { $type: 'string', $veq: '0' } },
        { appVersion: '' },
      ],
      [
        { attribute: 'appVersion', op: 'version_lt', value: '1' },
        { appVersion: { $type: 'string', $ne: '', $vlt: '1' } },
        { appVersion: '' },
      ],
      [{ attribute: 'email', op: 'regex', pattern: '^nu' }, { email: { $regex: '^nu' } }, { email: null }],
      [
        { attribute: 'email', op: 'regex', pattern: 'b$' },
        { email: { $regex: 'b$' } },
        { email: `${'a'.repeat(2048)}b` },
      ],
    ];
    for (const [rule, naiveCondition, attrs] of naive) {
      const translation = translateTargetingRule(rule);
      expect(translation.ok).toBe(true);
      if (!translation.ok) continue;
      const ours = evaluateTargetingRule(rule, attrs);
      expect(evalCondition(attrs, naiveCondition as ConditionInterface), JSON.stringify([rule, attrs])).not.toBe(ours);
      expect(bothEvaluations(rule, translation.condition, attrs).sdk, JSON.stringify([rule, attrs])).toBe(ours);
    }
  });

  it('translates each operator to the documented condition', () => {
    expect(translateTargetingRule({ attribute: 'country', op: 'in', values: ['US', 'CA'] })).toEqual({
      ok: true,
      condition: { country: { $in: ['US', 'CA'] } },
    });
    expect(translateTargetingRule({ not: { attribute: 'plan', op: 'eq', value: 'free' } })).toEqual({
      ok: true,
      condition: { $not: { plan: { $in: ['free'] } } },
    });
    expect(translateTargetingRule({ attribute: 'age', op: 'gt', value: 18 })).toEqual({
      ok: true,
      condition: {
        $or: [
          { age: { $type: 'number', $gt: 18, $lte: Number.MAX_VALUE } },
          { age: { $type: 'string', $regex: '\\S', $gt: 18, $lte: Number.MAX_VALUE } },
        ],
      },
    });
    expect(translateTargetingRule({ attribute: 'v', op: 'version_gte', value: '2.4.0' })).toEqual({
      ok: true,
      condition: { v: { $type: 'string', $ne: '', $vgte: '2.4.0' } },
    });
    expect(translateTargetingRule({ attribute: 'v', op: 'version_lt', value: '2.4.0' })).toEqual({
      ok: true,
      condition: { $or: [{ v: { $type: 'string', $ne: '', $vlt: '2.4.0' } }, { v: { $eq: '' } }] },
    });
    expect(translateTargetingRule({ attribute: 'e', op: 'regex', pattern: 'x', ignoreCase: true })).toEqual({
      ok: true,
      condition: { e: { $type: 'string', $not: { $regex: '^[\\s\\S]{2049}' }, $regexi: 'x' } },
    });
  });

  it('refuses with the path and the reason', () => {
    expect(
      translateTargetingRule({
        and: [
          { attribute: 'country', op: 'eq', value: 'US' },
          { attribute: 'device.os', op: 'eq', value: 'ios' },
        ],
      }),
    ).toMatchObject({ ok: false, path: 'targeting.and[1].attribute', reason: 'dotted-attribute' });
    expect(translateTargetingRule({ or: [] })).toMatchObject({
      ok: false,
      path: 'targeting.or',
      reason: 'empty-combinator',
    });
    expect(translateTargetingRule({ attribute: 'id', op: 'in', values: ['u-1'] })).toMatchObject({
      ok: false,
      reason: 'hash-attribute',
    });
    expect(
      translateTargetingRule({ attribute: 'x', op: 'between', value: 1 } as unknown as TargetingRule),
    ).toMatchObject({
      ok: false,
      reason: 'unknown-rule',
    });
  });
});
