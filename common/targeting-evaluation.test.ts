/**
 * evaluateTargetingRule at the edges of each operator: boundaries, types that must not
 * compare, list attributes, nested attributes, and malformed nodes (false, never a throw).
 */
import { describe, expect, it } from 'vitest';
import {
  compareVersions,
  compilePattern,
  evaluateTargetingRule,
  readAttribute,
  TARGETING_LIMITS,
  type NumericOp,
  type TargetingRule,
  type VersionOp,
} from './targeting-evaluation.js';

const matches = (rule: TargetingRule, attributes: Record<string, unknown>): boolean =>
  evaluateTargetingRule(rule, attributes);

describe('numeric comparisons', () => {
  const cases: [NumericOp, number, boolean, boolean, boolean][] = [
    // op, value, age 33 (below), age 34 (equal), age 35 (above) — against value 34
    ['gt', 34, false, false, true],
    ['gte', 34, false, true, true],
    ['lt', 34, true, false, false],
    ['lte', 34, true, true, false],
  ];
  it.each(cases)('%s %d: below %s, equal %s, above %s', (op, value, below, equal, above) => {
    expect(matches({ attribute: 'age', op, value }, { age: 33 })).toBe(below);
    expect(matches({ attribute: 'age', op, value }, { age: 34 })).toBe(equal);
    expect(matches({ attribute: 'age', op, value }, { age: 35 })).toBe(above);
  });

  it('compares numeric strings, but not booleans, null, blank strings or infinities', () => {
    expect(matches({ attribute: 'n', op: 'gte', value: 0 }, { n: ' 7 ' })).toBe(true);
    for (const n of [true, false, null, '', '   ', 'Infinity', Number.POSITIVE_INFINITY, '12abc', [], {}]) {
      expect(matches({ attribute: 'n', op: 'gte', value: 0 }, { n })).toBe(false);
      expect(matches({ attribute: 'n', op: 'lte', value: 1 }, { n })).toBe(false);
    }
  });
});

describe('version comparisons', () => {
  const ops: VersionOp[] = ['version_eq', 'version_ne', 'version_gt', 'version_gte', 'version_lt', 'version_lte'];
  // Against 2.4.0: [older, equal (other spelling), newer]
  const expected: Record<VersionOp, [boolean, boolean, boolean]> = {
    version_eq: [false, true, false],
    version_ne: [true, false, true],
    version_gt: [false, false, true],
    version_gte: [false, true, true],
    version_lt: [true, false, false],
    version_lte: [true, true, false],
  };
  it.each(ops)('%s against 2.4.0: 2.4.0-rc.1, v2.4.0+build.7, 2.10.0', (op) => {
    const rule: TargetingRule = { attribute: 'appVersion', op, value: '2.4.0' };
    const outcomes = ['2.4.0-rc.1', 'v2.4.0+build.7', '2.10.0'].map((appVersion) => matches(rule, { appVersion }));
    expect(outcomes).toEqual(expected[op]);
  });

  it('never matches a missing or non-string version, whatever the operator', () => {
    for (const op of ops) {
      expect(matches({ attribute: 'appVersion', op, value: '2.4.0' }, {})).toBe(false);
      expect(matches({ attribute: 'appVersion', op, value: '2' }, { appVersion: 2 })).toBe(false);
    }
  });

  it('drops only a leading v, and ranks numeric identifiers below alphanumeric ones (SemVer 11.4.3)', () => {
    expect(compareVersions('2.0.0-preview', '2.0.0-preiew')).toBeGreaterThan(0);
    expect(compareVersions('1.0.0-100', '1.0.0-2a')).toBeLessThan(0);
    expect(compareVersions('1.0.0-2a', '1.0.0-100')).toBeGreaterThan(0);
  });
});

describe('equality and membership', () => {
  it('eq and ne match numbers and booleans by value and type', () => {
    expect(matches({ attribute: 'age', op: 'eq', value: 34 }, { age: 34 })).toBe(true);
    expect(matches({ attribute: 'beta', op: 'eq', value: true }, { beta: true })).toBe(true);
    expect(matches({ attribute: 'beta', op: 'eq', value: true }, { beta: 'true' })).toBe(false);
    expect(matches({ attribute: 'country', op: 'ne', value: 'US' }, { country: 'FR' })).toBe(true);
    expect(matches({ attribute: 'age', op: 'ne', value: 34 }, { age: 34 })).toBe(false);
  });

  it('matches a list attribute when some element matches, and only then', () => {
    const tags = { tags: ['beta', 'staff'] };
    expect(matches({ attribute: 'tags', op: 'eq', value: 'staff' }, tags)).toBe(true);
    expect(matches({ attribute: 'tags', op: 'eq', value: 'admin' }, tags)).toBe(false);
    expect(matches({ attribute: 'tags', op: 'ne', value: 'admin' }, tags)).toBe(true);
    expect(matches({ attribute: 'tags', op: 'in', values: ['admin', 'ops'] }, tags)).toBe(false);
    expect(matches({ attribute: 'tags', op: 'nin', values: ['admin', 'ops'] }, tags)).toBe(true);
    expect(matches({ attribute: 'tags', op: 'nin', values: ['staff'] }, tags)).toBe(false);
  });
});

describe('combinators', () => {
  const yes: TargetingRule = { attribute: 'country', op: 'eq', value: 'US' };
  const no: TargetingRule = { attribute: 'country', op: 'eq', value: 'FR' };
  const attributes = { country: 'US' };

  it('and needs every child, or needs one, not inverts', () => {
    expect(matches({ and: [yes, yes] }, attributes)).toBe(true);
    expect(matches({ and: [yes, no] }, attributes)).toBe(false);
    expect(matches({ or: [no, no] }, attributes)).toBe(false);
    expect(matches({ or: [no, yes] }, attributes)).toBe(true);
    expect(matches({ not: yes }, attributes)).toBe(false);
    expect(matches({ not: no }, attributes)).toBe(true);
  });

  it('evaluates malformed nodes to false instead of throwing', () => {
    const malformed = [
      { and: 'x' },
      { or: 'x' },
      { not: 'x' },
      { attribute: 'missing', op: 'eq' },
      { attribute: 'list', op: 'eq' },
      { attribute: 'age', op: 'gt' },
    ] as unknown as TargetingRule[];
    for (const rule of malformed) expect(matches(rule, { age: 3, list: [undefined] })).toBe(false);
  });
});

describe('readAttribute: dotted names walk nested plain objects, own properties only', () => {
  it('reads a nested value, and a literal dotted key first', () => {
    expect(readAttribute({ device: { os: 'ios' } }, 'device.os')).toBe('ios');
    expect(readAttribute({ 'device.os': 'android', device: { os: 'ios' } }, 'device.os')).toBe('android');
  });

  it('does not walk into null, strings or arrays', () => {
    expect(readAttribute({ device: null }, 'device.os')).toBeUndefined();
    expect(readAttribute({ name: 'Ann' }, 'name.length')).toBeUndefined();
    expect(readAttribute({ tags: ['beta'] }, 'tags.0')).toBeUndefined();
    expect(readAttribute({ tags: ['beta'] }, 'tags.length')).toBeUndefined();
    expect(matches({ attribute: 'device.os', op: 'ne', value: 'ios' }, { device: null })).toBe(true);
  });

  it('never reads inherited properties', () => {
    const device = Object.create({ os: 'ios' }) as Record<string, unknown>;
    expect(readAttribute({ device }, 'device.os')).toBeUndefined();
    expect(matches({ attribute: 'device.os', op: 'eq', value: 'ios' }, { device })).toBe(false);
  });
});

describe('regex conditions', () => {
  it('matches inputs up to the length bound, and nothing longer', () => {
    const bound = TARGETING_LIMITS.maxRegexInputLength;
    const rule: TargetingRule = { attribute: 's', op: 'regex', pattern: '^b+$' };
    expect(matches(rule, { s: 'b'.repeat(bound) })).toBe(true);
    expect(matches(rule, { s: 'b'.repeat(bound + 1) })).toBe(false);
  });

  it('matches case-sensitively unless ignoreCase is set', () => {
    expect(matches({ attribute: 's', op: 'regex', pattern: '^Case$' }, { s: 'Case' })).toBe(true);
    expect(matches({ attribute: 's', op: 'regex', pattern: '^Case$' }, { s: 'case' })).toBe(false);
    expect(matches({ attribute: 's', op: 'regex', pattern: '^Case$', ignoreCase: true }, { s: 'case' })).toBe(true);
  });

  it('compiles a pattern once per flag, and never confuses one pattern and flag with another', () => {
    const compiled = compilePattern('^once$', false);
    expect(compilePattern('^once$', false)).toBe(compiled);
    expect(compilePattern('^once$', true)).not.toBe(compiled);
    // `x` with the i flag and `ix` without (or `-x` with and `x` without) must not share a cache entry.
    expect(compilePattern('x', true)?.flags).toBe('i');
    expect(matches({ attribute: 's', op: 'regex', pattern: 'ix' }, { s: 'IX' })).toBe(false);
    expect(compilePattern('-y', true)?.source).toBe('-y');
    expect(matches({ attribute: 's', op: 'regex', pattern: 'y' }, { s: 'y' })).toBe(true);
  });

  it('compiles an invalid pattern to null, which never matches', () => {
    expect(compilePattern('(unclosed', false)).toBeNull();
    expect(matches({ attribute: 's', op: 'regex', pattern: '[z' }, { s: '[z' })).toBe(false);
  });
});
