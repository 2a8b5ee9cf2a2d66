import fc from 'fast-check';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import {
  checkRegexSafety,
  compareVersions,
  evaluateTargetingRule,
  TARGETING_LIMITS,
  targetingRuleViolations,
  TargetingRuleSchema,
  validateTargetingRule,
  type TargetingRule,
} from './targeting.js';

// Version precedence cases from GrowthBook's public SDK suite (versionCompare), so conditions
// written for GrowthBook behave the same here.
const VERSION_LT: [string, string][] = [
  ['0.9.99', '1.0.0'],
  ['0.9.0', '0.10.0'],
  ['1.0.0-0.0', '1.0.0-0.0.0'],
  ['1.0.0-9999', '1.0.0--'],
  ['1.0.0-99', '1.0.0-100'],
  ['1.0.0-alpha', '1.0.0-alpha.1'],
  ['1.0.0-alpha.1', '1.0.0-alpha.beta'],
  ['1.0.0-alpha.beta', '1.0.0-beta'],
  ['1.0.0-beta', '1.0.0-beta.2'],
  ['1.0.0-beta.2', '1.0.0-beta.11'],
  ['1.0.0-beta.11', '1.0.0-rc.1'],
  ['1.0.0-rc.1', '1.0.0'],
  ['1.0.0-0', '1.0.0--1'],
  ['1.0.0-0', '1.0.0-1'],
  ['1.0.0-1.0', '1.0.0-1.-1'],
];
const VERSION_GT: [string, string][] = [
  ['0.0.0', '0.0.0-foo'],
  ['0.0.1', '0.0.0'],
  ['1.0.0', '0.9.9'],
  ['0.10.0', '0.9.0'],
  ['0.99.0', '0.10.0'],
  ['2.0.0', '1.2.3'],
  ['v0.0.0', '0.0.0-foo'],
  ['v1.0.0', '0.9.9'],
  ['0.0.1', 'v0.0.0'],
  ['1.2.3', '1.2.3-asdf'],
  ['1.2.3', '1.2.3-4'],
  ['1.2.3-5-foo', '1.2.3-5'],
  ['1.2.3-5', '1.2.3-4'],
  ['3.0.0', '2.7.2+asdf'],
  ['1.2.3-a.10', '1.2.3-a.5'],
  ['1.2.3-a.b', '1.2.3-a.5'],
  ['1.2.3-a.b', '1.2.3-a'],
  ['1.2.3-a.b.c.10.d.5', '1.2.3-a.b.c.5.d.100'],
  ['1.2.3-r2', '1.2.3-r100'],
  ['1.2.3-r100', '1.2.3-R2'],
  ['a.b.c.d.e.f', '1.2.3'],
  ['10.0.0', '9.0.0'],
  ['10000.0.0', '9999.0.0'],
];
const VERSION_EQ: [string, string][] = [
  ['1.2.3', '1.2.3'],
  ['1.2.3', 'v1.2.3'],
  ['1.2.3-0', 'v1.2.3-0'],
  ['1.2.3-beta+build', '1.2.3-beta+otherbuild'],
  ['1-2-3', '1.2.3'],
  ['1-2-3', '1-2.3+build99'],
  ['1.2.3.4', '1.2.3-4'],
];

describe('compareVersions', () => {
  it.each(VERSION_LT)('%s < %s', (a, b) => expect(compareVersions(a, b)).toBeLessThan(0));
  it.each(VERSION_GT)('%s > %s', (a, b) => expect(compareVersions(a, b)).toBeGreaterThan(0));
  it.each(VERSION_EQ)('%s = %s', (a, b) => expect(compareVersions(a, b)).toBe(0));
  it('does not order 1.2.3-a.b.c above 1.2.3-a.b.c.d', () => {
    expect(compareVersions('1.2.3-a.b.c', '1.2.3-a.b.c.d')).toBeLessThanOrEqual(0);
  });
});

const user = {
  id: 'u1',
  country: 'US',
  age: 34,
  plan: 'pro',
  tags: ['beta', 'staff'],
  appVersion: '2.4.1',
  email: 'Ann@Example.com',
  device: { os: 'ios' },
};

describe('evaluateTargetingRule', () => {
  const cases: [string, TargetingRule, boolean][] = [
    ['eq string', { attribute: 'country', op: 'eq', value: 'US' }, true],
    ['eq is strict about types', { attribute: 'age', op: 'eq', value: '34' }, false],
    ['ne', { attribute: 'country', op: 'ne', value: 'US' }, false],
    ['ne on a missing attribute', { attribute: 'missing', op: 'ne', value: 'x' }, true],
    ['in', { attribute: 'plan', op: 'in', values: ['team', 'pro'] }, true],
    ['in with an array attribute intersects', { attribute: 'tags', op: 'in', values: ['staff'] }, true],
    ['nin', { attribute: 'plan', op: 'nin', values: ['team', 'pro'] }, false],
    ['nin on a missing attribute', { attribute: 'missing', op: 'nin', values: ['a'] }, true],
    ['gt', { attribute: 'age', op: 'gt', value: 30 }, true],
    ['gte boundary', { attribute: 'age', op: 'gte', value: 34 }, true],
    ['lt boundary', { attribute: 'age', op: 'lt', value: 34 }, false],
    ['lte', { attribute: 'age', op: 'lte', value: 40 }, true],
    ['numeric strings compare as numbers', { attribute: 'n', op: 'gt', value: 5 }, false],
    ['gt on a missing attribute', { attribute: 'missing', op: 'gt', value: -1 }, false],
    ['version_gte', { attribute: 'appVersion', op: 'version_gte', value: '2.4.0' }, true],
    ['version_lt', { attribute: 'appVersion', op: 'version_lt', value: '2.4.1-rc.1' }, false],
    ['version_eq ignores build', { attribute: 'appVersion', op: 'version_eq', value: '2.4.1+build.7' }, true],
    ['regex', { attribute: 'email', op: 'regex', pattern: '@example\\.com$' }, false],
    ['regex ignoreCase', { attribute: 'email', op: 'regex', pattern: '@example\\.com$', ignoreCase: true }, true],
    ['regex on a non-string', { attribute: 'age', op: 'regex', pattern: '3' }, false],
    ['dotted attribute', { attribute: 'device.os', op: 'eq', value: 'ios' }, true],
    [
      'and',
      {
        and: [
          { attribute: 'country', op: 'eq', value: 'US' },
          { attribute: 'age', op: 'gt', value: 40 },
        ],
      },
      false,
    ],
    [
      'or',
      {
        or: [
          { attribute: 'country', op: 'eq', value: 'FR' },
          { attribute: 'age', op: 'gt', value: 30 },
        ],
      },
      true,
    ],
    ['not', { not: { attribute: 'plan', op: 'eq', value: 'free' } }, true],
  ];
  it.each(cases)('%s', (_name, rule, expected) => {
    expect(evaluateTargetingRule(rule, user)).toBe(expected);
  });

  it('compares numeric strings as numbers', () => {
    expect(evaluateTargetingRule({ attribute: 'n', op: 'gt', value: 5 }, { n: '8' })).toBe(true);
  });

  it('never matches a regex against an oversized value', () => {
    expect(evaluateTargetingRule({ attribute: 's', op: 'regex', pattern: 'a' }, { s: 'a'.repeat(5000) })).toBe(false);
  });

  it('evaluates a malformed node to false instead of throwing', () => {
    expect(evaluateTargetingRule({ attribute: 'x', op: 'nope' } as unknown as TargetingRule, { x: 1 })).toBe(false);
    expect(evaluateTargetingRule({ attribute: 'x', op: 'regex', pattern: '(' }, { x: '(' })).toBe(false);
  });

  it('not(rule) is the complement of rule (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.integer(), fc.boolean()), fc.string(), (actual, expected) => {
        const rule: TargetingRule = { attribute: 'a', op: 'eq', value: expected };
        return evaluateTargetingRule({ not: rule }, { a: actual }) === !evaluateTargetingRule(rule, { a: actual });
      }),
    );
  });
});

describe('validateTargetingRule', () => {
  it('accepts every rule kind', () => {
    const rule = {
      and: [
        { attribute: 'country', op: 'in', values: ['US', 'CA'] },
        { or: [{ attribute: 'age', op: 'gte', value: 18 }, { not: { attribute: 'plan', op: 'eq', value: 'free' } }] },
        { attribute: 'appVersion', op: 'version_gte', value: '2.4.0-beta.1' },
        { attribute: 'email', op: 'regex', pattern: '@example\\.com$', ignoreCase: true },
      ],
    };
    expect(validateTargetingRule(rule)).toEqual({ ok: true, rule });
  });

  const invalid: [string, unknown, string, string][] = [
    ['not an object', 'US', 'targeting', 'type'],
    ['no rule key', { country: 'US' }, 'targeting', 'unknown-rule'],
    ['unknown operator', { attribute: 'a', op: 'like', value: 'x' }, 'targeting.op', 'unknown-operator'],
    ['number expected', { attribute: 'age', op: 'gt', value: '18' }, 'targeting.value', 'type'],
    ['bad version', { attribute: 'v', op: 'version_gt', value: 'latest' }, 'targeting.value', 'version-format'],
    ['values not a list', { attribute: 'a', op: 'in', values: 'x' }, 'targeting.values', 'type'],
    ['object in values', { attribute: 'a', op: 'in', values: ['x', {}] }, 'targeting.values[1]', 'type'],
    ['empty and', { and: [] }, 'targeting.and', 'min-items'],
    ['extra field', { attribute: 'a', op: 'eq', value: 1, extra: true }, 'targeting.extra', 'unknown-field'],
    [
      'regex too long',
      { attribute: 'a', op: 'regex', pattern: 'a'.repeat(257) },
      'targeting.pattern',
      'regex-too-long',
    ],
    ['regex invalid', { attribute: 'a', op: 'regex', pattern: '([a-z]' }, 'targeting.pattern', 'regex-invalid'],
    ['regex unsafe', { attribute: 'a', op: 'regex', pattern: '^(a+)+$' }, 'targeting.pattern', 'regex-unsafe'],
    [
      'nested error path',
      { and: [{ attribute: 'a', op: 'eq', value: 1 }, { not: { attribute: '', op: 'eq', value: 1 } }] },
      'targeting.and[1].not.attribute',
      'type',
    ],
  ];
  it.each(invalid)('rejects %s, naming the path and the rule', (_name, rule, path, ruleName) => {
    const result = validateTargetingRule(rule);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.errors[0]).toMatchObject({ path, rule: ruleName });
      expect(result.errors[0]!.message).toContain(path);
    }
  });

  it('rejects rules nested too deeply', () => {
    let rule: unknown = { attribute: 'a', op: 'eq', value: 1 };
    for (let i = 0; i < 12; i++) rule = { not: rule };
    const result = validateTargetingRule(rule);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors[0]!.rule).toBe('max-depth');
  });

  it('prefixes paths with the caller path', () => {
    const result = validateTargetingRule({ attribute: 'a', op: 'x' }, 'flags.new-nav.targeting');
    expect(!result.ok && result.errors[0]!.path).toBe('flags.new-nav.targeting.op');
  });
});

// Patterns whose worst case on a backtracking engine is super-linear. The first two were
// stored with 201 before recheck replaced the nested-quantifier heuristic (issue 11):
// `^a*a*a*a*a*a*$` took 107 s on 200 characters, `^(a|a)+$` doubles per character.
const EXPONENTIAL = ['^(a|a)+$', '^(a+)+$', '(x+x+)+y', '^(\\w+\\s?)*$', '^(?:a|b|ab)*c$', '(\\d|\\d\\d)+$'];
const POLYNOMIAL = ['^a*a*a*a*a*a*$', 'a*a*b', '.*a.*a.*a', '^(.*?,){11}P', '\\d+\\.\\d+', '\\s*$'];
// Realistic targeting patterns (GrowthBook-style $regex conditions on user agent, path, email).
const LINEAR: [string, boolean][] = [
  ['@example\\.com$', true],
  ['(Mobile|Tablet)', false],
  ['^Mozilla/5\\.0 .*(iPhone|iPad)', false],
  ['^/products/[a-z0-9-]+$', false],
  ['chrome|firefox', true],
  ['^[a-z]+@[a-z]+\\.[a-z]+$', false],
  ['[0-9]{3}', false],
  ['^\\d+\\.\\d+', false],
  ['\\bbot\\b', true],
  ['^(?:[a-z0-9]{2,40}\\.){1,8}[a-z]{2,10}$', false],
];

describe('regex conditions: only patterns proven linear are stored (recheck, automaton checker)', () => {
  it.each([...EXPONENTIAL, ...POLYNOMIAL])('refuses %s as regex-unsafe, naming the field and the rule', (pattern) => {
    const result = validateTargetingRule({ and: [{ attribute: 'userAgent', op: 'regex', pattern }] });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toEqual([
      { path: 'targeting.and[0].pattern', rule: 'regex-unsafe', message: expect.any(String) },
    ]);
    expect(result.errors[0]!.message).toMatch(/^targeting\.and\[0\]\.pattern can take (exponential|polynomial)/);
  });

  it('says which complexity the known patterns have', () => {
    expect(checkRegexSafety('^(a|a)+$', false)).toMatchObject({
      safe: false,
      reason: expect.stringMatching(/^can take exponential time/),
    });
    expect(checkRegexSafety('^a*a*a*a*a*a*$', false)).toMatchObject({
      safe: false,
      reason: expect.stringMatching(/^can take polynomial \(6th degree polynomial\) time/),
    });
    // Case-insensitive matching is analysed with the flag it runs with.
    expect(checkRegexSafety('^(a|A)+$', true)).toMatchObject({ safe: false, rule: 'regex-unsafe' });
  });

  it.each(['(?=(a|a)+$)b', '^(?!.*(a|a)+$)', '(a+)\\1b', '(?<=a+)b'])(
    'refuses %s (look-around or back-reference: not provable) as regex-unsupported',
    (pattern) => {
      expect(targetingRuleViolations({ attribute: 'path', op: 'regex', pattern })).toEqual([
        { field: 'pattern', rule: 'regex-unsupported', message: expect.stringContaining('targeting.pattern uses a') },
      ]);
    },
  );

  it.each(LINEAR)('accepts %s (ignoreCase %s)', (pattern, ignoreCase) => {
    expect(validateTargetingRule({ attribute: 'userAgent', op: 'regex', pattern, ignoreCase }).ok).toBe(true);
  });

  it('refuses, without checking, the patterns of a rule once its time budget is spent', () => {
    expect(checkRegexSafety('^x(y|z)+$', false, 0)).toMatchObject({ safe: false, rule: 'regex-unverifiable' });
  });

  it('evaluates every accepted pattern on adversarial inputs at the length bound within a generous time', () => {
    const n = TARGETING_LIMITS.maxRegexInputLength;
    const inputs = ['a', '0', ' ', '/', 'x@', 'aA.', 'Mozilla/5.0 '].flatMap((unit) => {
      const body = unit.repeat(Math.ceil(n / unit.length)).slice(0, n - 1);
      return [`${body}!`, `${body}\u0000`, body.slice(0, n)];
    });
    const started = performance.now();
    for (const [pattern, ignoreCase] of LINEAR) {
      for (const input of inputs)
        evaluateTargetingRule({ attribute: 's', op: 'regex', pattern, ignoreCase }, { s: input });
    }
    // ~200 matches of 2,048 characters: a few milliseconds when linear; a single refused
    // polynomial pattern above would take minutes on one of them.
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('keeps GrowthBook-style regex conditions working', () => {
    const mobile: TargetingRule = { attribute: 'userAgent', op: 'regex', pattern: '(Mobile|Tablet)' };
    expect(evaluateTargetingRule(mobile, { userAgent: 'Android Mobile Safari' })).toBe(true);
    expect(evaluateTargetingRule(mobile, { userAgent: 'Chrome Desktop' })).toBe(false);
    const domain: TargetingRule = { attribute: 'email', op: 'regex', pattern: '@example\\.com$', ignoreCase: true };
    expect(evaluateTargetingRule(domain, { email: 'Ann@EXAMPLE.com' })).toBe(true);
    expect(evaluateTargetingRule(domain, { email: 'ann@example.com.evil' })).toBe(false);
  });
});

describe('targetingRuleViolations', () => {
  it('reports fields relative to the rule, for the query API', () => {
    expect(targetingRuleViolations({ attribute: 'a', op: 'eq', value: 1 })).toEqual([]);
    expect(targetingRuleViolations({ or: [{ attribute: 'a', op: 'zz' }] })).toEqual([
      expect.objectContaining({ field: 'or[0].op', rule: 'unknown-operator' }),
    ]);
    expect(targetingRuleViolations(7)).toEqual([expect.objectContaining({ field: '', rule: 'type' })]);
  });
});

describe('targeting rules (property-based)', () => {
  const condition = fc.oneof(
    fc.record({
      attribute: fc.constantFrom('country', 'plan', 'a.b'),
      op: fc.constantFrom('eq', 'ne'),
      value: fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.boolean()),
    }),
    fc.record({
      attribute: fc.constant('plan'),
      op: fc.constantFrom('in', 'nin'),
      values: fc.array(fc.oneof(fc.string({ maxLength: 10 }), fc.integer()), { maxLength: 5 }),
    }),
    fc.record({ attribute: fc.constant('age'), op: fc.constantFrom('gt', 'gte', 'lt', 'lte'), value: fc.integer() }),
    fc.record({
      attribute: fc.constant('v'),
      op: fc.constantFrom('version_gt', 'version_lte'),
      value: fc.constantFrom('1.0.0', 'v2.3.4-beta.1', '10.2'),
    }),
    fc.record({
      attribute: fc.constant('email'),
      op: fc.constant('regex'),
      pattern: fc.constantFrom('^a', '@x\\.com$', '[0-9]{3}'),
      ignoreCase: fc.boolean(),
    }),
  );
  const { rule } = fc.letrec<{ rule: unknown }>((tie) => ({
    rule: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      condition,
      fc.record({ and: fc.array(tie('rule'), { minLength: 1, maxLength: 3 }) }),
      fc.record({ or: fc.array(tie('rule'), { minLength: 1, maxLength: 3 }) }),
      fc.record({ not: tie('rule') }),
    ),
  }));

  it('accepts every well-formed rule and evaluates it without throwing', () => {
    fc.assert(
      fc.property(
        rule,
        fc.dictionary(fc.constantFrom('country', 'plan', 'age', 'v', 'email'), fc.jsonValue()),
        (candidate, attributes) => {
          const result = validateTargetingRule(candidate);
          if (!result.ok) return false;
          evaluateTargetingRule(result.rule, attributes);
          return true;
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never throws on arbitrary JSON and always explains a refusal', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (candidate) => {
        const result = validateTargetingRule(candidate);
        return result.ok || (result.errors.length > 0 && result.errors.every((e) => e.path.startsWith('targeting')));
      }),
      { numRuns: 500 },
    );
  });
});

describe('TargetingRuleSchema in a Fastify route (Ajv with type coercion)', () => {
  it('keeps every rule value in its JSON type through validation and serialization', async () => {
    const app = Fastify({ logger: false, ajv: { customOptions: { allowUnionTypes: true } } });
    app.post(
      '/rules',
      { schema: { body: TargetingRuleSchema, response: { 200: TargetingRuleSchema } } },
      (request) => request.body,
    );
    const rule = {
      or: [
        { attribute: 'plan', op: 'in', values: ['pro', 1, '2', true, 'true'] },
        { attribute: 'x', op: 'eq', value: 1 },
        { attribute: 'y', op: 'eq', value: '1' },
        { attribute: 'z', op: 'ne', value: false },
      ],
    };
    const response = await app.inject({ method: 'POST', url: '/rules', payload: rule });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual(rule);
    const refused = await app.inject({
      method: 'POST',
      url: '/rules',
      payload: { attribute: 'x', op: 'eq', value: { a: 1 } },
    });
    expect(refused.statusCode).toBe(400);
    await app.close();
  });
});
