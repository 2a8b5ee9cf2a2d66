/**
 * validateTargetingRule at each limit and for each wrong type: exactly one error, naming
 * the path, the rule and the reason (the walker's own message, not the schema fallback's).
 */
import fc from 'fast-check';
import { Compile } from 'typebox/compile';
import { describe, expect, it } from 'vitest';
import { TARGETING_LIMITS, TargetingRuleSchema, validateTargetingRule } from './targeting.js';

const errorsOf = (rule: unknown) => {
  const result = validateTargetingRule(rule);
  return result.ok ? [] : result.errors;
};
const condition = { attribute: 'a', op: 'eq', value: 1 };
const OPERATORS =
  'eq, ne, in, nin, gt, gte, lt, lte, version_eq, version_ne, version_gt, version_gte, version_lt, version_lte, regex';

describe('validateTargetingRule: exact errors for wrong types', () => {
  const cases: [string, unknown, string, string, string][] = [
    [
      'a number as attribute',
      { attribute: 5, op: 'eq', value: 1 },
      'targeting.attribute',
      'type',
      'targeting.attribute must be a non-empty string',
    ],
    [
      'an operator in a list',
      { attribute: 'a', op: ['eq'], value: 1 },
      'targeting.op',
      'unknown-operator',
      `targeting.op ["eq"] is not one of ${OPERATORS}`,
    ],
    [
      'an object as eq value',
      { attribute: 'a', op: 'eq', value: { b: 1 } },
      'targeting.value',
      'type',
      'targeting.value must be a string, number or boolean',
    ],
    [
      'Infinity as eq value',
      { attribute: 'a', op: 'eq', value: Number.POSITIVE_INFINITY },
      'targeting.value',
      'type',
      'targeting.value must be a string, number or boolean',
    ],
    [
      'a numeric string for gt',
      { attribute: 'a', op: 'gt', value: '18' },
      'targeting.value',
      'type',
      'targeting.value must be a finite number for gt',
    ],
    [
      'Infinity for lte',
      { attribute: 'a', op: 'lte', value: Number.POSITIVE_INFINITY },
      'targeting.value',
      'type',
      'targeting.value must be a finite number for lte',
    ],
    [
      'a number as version',
      { attribute: 'v', op: 'version_gte', value: 2 },
      'targeting.value',
      'version-format',
      'targeting.value must be a version like 2.4.0 or 2.4.0-beta.1',
    ],
    ['a string for or', { or: 'x' }, 'targeting.or', 'type', 'targeting.or must be an array of rules'],
    [
      'a string as ignoreCase',
      { attribute: 'a', op: 'regex', pattern: 'x', ignoreCase: 'yes' },
      'targeting.ignoreCase',
      'type',
      'targeting.ignoreCase must be a boolean',
    ],
    [
      'a number as pattern',
      { attribute: 'a', op: 'regex', pattern: 5 },
      'targeting.pattern',
      'type',
      'targeting.pattern must be a non-empty string',
    ],
    [
      'an empty pattern',
      { attribute: 'a', op: 'regex', pattern: '' },
      'targeting.pattern',
      'type',
      'targeting.pattern must be a non-empty string',
    ],
  ];
  it.each(cases)('refuses %s', (_name, rule, path, ruleName, message) => {
    expect(errorsOf(rule)).toEqual([{ path, rule: ruleName, message }]);
  });

  it('does not check a pattern against the wrong flag: a bad ignoreCase is the only error', () => {
    expect(errorsOf({ attribute: 'a', op: 'regex', pattern: '^(a+)+$', ignoreCase: 'yes' })).toEqual([
      { path: 'targeting.ignoreCase', rule: 'type', message: 'targeting.ignoreCase must be a boolean' },
    ]);
  });

  it('checks a pattern with the flag it will run with', () => {
    // (a|A)+ is unambiguous case-sensitively, exponential when a and A are the same letter.
    expect(errorsOf({ attribute: 'a', op: 'regex', pattern: '^(a|A)+$', ignoreCase: false })).toEqual([]);
    expect(errorsOf({ attribute: 'a', op: 'regex', pattern: '^(a|A)+$', ignoreCase: true })).toEqual([
      expect.objectContaining({ path: 'targeting.pattern', rule: 'regex-unsafe' }),
    ]);
    expect(errorsOf({ attribute: 'a', op: 'regex', pattern: '^(b+)+$', ignoreCase: false })).toEqual([
      expect.objectContaining({ path: 'targeting.pattern', rule: 'regex-unsafe' }),
    ]);
  });
});

describe('validateTargetingRule: limits, at and just past each bound', () => {
  it('strings in values: 1,024 characters', () => {
    const at = 'x'.repeat(TARGETING_LIMITS.maxStringLength);
    expect(errorsOf({ attribute: 'a', op: 'eq', value: at })).toEqual([]);
    expect(errorsOf({ attribute: 'a', op: 'in', values: [`${at}x`] })).toEqual([
      { path: 'targeting.values[0]', rule: 'type', message: 'targeting.values[0] must be a string, number or boolean' },
    ]);
  });

  it('attribute names: 128 characters', () => {
    const at = 'a'.repeat(TARGETING_LIMITS.maxAttributeNameLength);
    expect(errorsOf({ attribute: at, op: 'eq', value: 1 })).toEqual([]);
    expect(errorsOf({ attribute: `${at}a`, op: 'eq', value: 1 })).toEqual([
      { path: 'targeting.attribute', rule: 'max-length', message: 'targeting.attribute is longer than 128 characters' },
    ]);
  });

  it('list values: 1,000', () => {
    const values = Array.from({ length: TARGETING_LIMITS.maxListValues }, (_, index) => index);
    expect(errorsOf({ attribute: 'a', op: 'in', values })).toEqual([]);
    expect(errorsOf({ attribute: 'a', op: 'nin', values: [...values, -1] })).toEqual([
      { path: 'targeting.values', rule: 'max-items', message: 'targeting.values may hold at most 1000 values' },
    ]);
  });

  it('regex patterns: 256 characters', () => {
    const at = 'a'.repeat(TARGETING_LIMITS.maxRegexLength);
    expect(errorsOf({ attribute: 'a', op: 'regex', pattern: at })).toEqual([]);
    expect(errorsOf({ attribute: 'a', op: 'regex', pattern: `${at}a` })).toEqual([
      {
        path: 'targeting.pattern',
        rule: 'regex-too-long',
        message: 'targeting.pattern is 257 characters; at most 256 are allowed',
      },
    ]);
  });

  it('versions: 64 characters, with a clear error rather than a schema message', () => {
    const at = `1.${'0'.repeat(TARGETING_LIMITS.maxVersionLength - 2)}`;
    expect(errorsOf({ attribute: 'v', op: 'version_eq', value: at })).toEqual([]);
    expect(errorsOf({ attribute: 'v', op: 'version_eq', value: `${at}1` })).toEqual([
      { path: 'targeting.value', rule: 'max-length', message: 'targeting.value is longer than 64 characters' },
    ]);
  });

  it('nesting: 10 levels, through and/or as well as not', () => {
    const nest = (levels: number, wrap: (rule: unknown) => unknown): unknown => {
      let rule: unknown = condition;
      for (let level = 1; level < levels; level += 1) rule = wrap(rule);
      return rule;
    };
    expect(errorsOf(nest(10, (rule) => ({ and: [rule] })))).toEqual([]);
    expect(errorsOf(nest(11, (rule) => ({ or: [rule] })))).toEqual([
      {
        path: `targeting${'.or[0]'.repeat(10)}`,
        rule: 'max-depth',
        message: 'rules may nest at most 10 levels',
      },
    ]);
  });

  it('nodes: 200, reported once at the first node past the limit', () => {
    expect(errorsOf({ and: Array.from({ length: 199 }, () => condition) })).toEqual([]);
    expect(errorsOf({ and: Array.from({ length: 250 }, () => condition) })).toEqual([
      { path: 'targeting.and[199]', rule: 'max-nodes', message: 'a rule may have at most 200 nodes' },
    ]);
  });

  it('reports at most 50 errors', () => {
    const errors = errorsOf({ or: Array.from({ length: 60 }, () => ({ attribute: 'a', op: 'like' })) });
    expect(errors).toHaveLength(50);
    expect(errors[49]).toMatchObject({ path: 'targeting.or[49].op', rule: 'unknown-operator' });
  });
});

describe('version values', () => {
  it.each(['2', '10', 'v2', '2.4.0', 'v2.4.0-beta.1', '1.2.3+build.7', '1.2.3.4', '1-2-3'])('accepts %s', (value) => {
    expect(errorsOf({ attribute: 'v', op: 'version_gte', value })).toEqual([]);
  });

  it.each(['latest', 'release-1.0', '1.0.0 beta', '1.x y', 'v', '.1', '1.0\n'])('refuses %j', (value) => {
    expect(errorsOf({ attribute: 'v', op: 'version_gte', value })).toEqual([
      {
        path: 'targeting.value',
        rule: 'version-format',
        message: 'targeting.value must be a version like 2.4.0 or 2.4.0-beta.1',
      },
    ]);
  });
});

describe('the walker never accepts what the schema refuses (property)', () => {
  // The walker is stricter (version format, regex safety, depth, node count); the other way
  // round, a rule it accepts but the schema refuses would be stored with a schema-only error.
  const schema = Compile(TargetingRuleSchema);
  const scalar = fc.oneof(fc.string({ maxLength: 70 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null));
  const version = fc.stringMatching(/^v?[0-9]{1,3}([.-][0-9a-z]{1,40}){0,3}$/);
  const node = fc.oneof(
    fc.record({
      attribute: fc.string({ maxLength: 3 }),
      op: fc.constantFrom('eq', 'in', 'gt', 'version_lt', 'regex', 'x'),
      value: scalar,
    }),
    fc.record({ attribute: fc.constant('a'), op: fc.constantFrom('version_eq', 'version_gt'), value: version }),
    fc.record({
      attribute: fc.constant('a'),
      op: fc.constantFrom('in', 'nin'),
      values: fc.array(scalar, { maxLength: 3 }),
    }),
    fc.record({ and: fc.array(fc.constant(condition), { maxLength: 2 }) }),
    fc.jsonValue({ maxDepth: 2 }),
  );

  it('every rule the walker accepts passes the schema', () => {
    let accepted = 0;
    fc.assert(
      fc.property(node, (rule) => {
        if (!validateTargetingRule(rule).ok) return;
        accepted += 1;
        expect(schema.Check(rule)).toBe(true);
      }),
      { numRuns: 500 },
    );
    expect(accepted).toBeGreaterThan(50);
  });
});
