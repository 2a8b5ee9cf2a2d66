/**
 * The targeting rule language and its evaluation: pure, no dependencies, so the edge bundle
 * can import it without pulling in the schema library. The TypeBox schema and save-time
 * validation live in `targeting.ts`.
 *
 * A rule is a small explicit tree:
 *
 *   { "and": [rule, …] } · { "or": [rule, …] } · { "not": rule }
 *   { "attribute": "country", "op": "eq" | "ne", "value": "US" }
 *   { "attribute": "plan", "op": "in" | "nin", "values": ["pro", "team"] }
 *   { "attribute": "age", "op": "gt" | "gte" | "lt" | "lte", "value": 18 }
 *   { "attribute": "appVersion", "op": "version_gte", "value": "2.4.0" }   (also _eq _ne _gt _lt _lte)
 *   { "attribute": "email", "op": "regex", "pattern": "@example\\.com$", "ignoreCase": true }
 *
 * Attributes are looked up by name; a dotted name (`device.os`) walks nested objects.
 * `ne` and `nin` are the exact negations of `eq` and `in` (so a missing attribute satisfies
 * them); every other comparison is false for a missing attribute.
 */

export type AttributeScalar = string | number | boolean;
export type UserAttributes = Readonly<Record<string, unknown>>;

export type EqualityOp = 'eq' | 'ne';
export type MembershipOp = 'in' | 'nin';
export type NumericOp = 'gt' | 'gte' | 'lt' | 'lte';
export type VersionOp = 'version_eq' | 'version_ne' | 'version_gt' | 'version_gte' | 'version_lt' | 'version_lte';

export type TargetingRule =
  | { and: TargetingRule[] }
  | { or: TargetingRule[] }
  | { not: TargetingRule }
  | { attribute: string; op: EqualityOp; value: AttributeScalar }
  | { attribute: string; op: MembershipOp; values: AttributeScalar[] }
  | { attribute: string; op: NumericOp; value: number }
  | { attribute: string; op: VersionOp; value: string }
  | { attribute: string; op: 'regex'; pattern: string; ignoreCase?: boolean };

/** Limits checked when a rule is saved; they keep evaluation cheap for every request. */
export const TARGETING_LIMITS = Object.freeze({
  maxDepth: 10,
  maxNodes: 200,
  maxListValues: 1_000,
  maxStringLength: 1_024,
  maxAttributeNameLength: 128,
  maxVersionLength: 64,
  maxRegexLength: 256,
  /**
   * Longer attribute values never match a regex. Stored patterns are proven linear at save
   * time (targeting-regex-safety.ts); this bound caps the constant (CloudFront's URI and
   * User-Agent limits are of the same order).
   */
  maxRegexInputLength: 2_048,
});

/** Reads `name` from the attributes; dotted names walk nested plain objects. */
export function readAttribute(attributes: UserAttributes, name: string): unknown {
  if (Object.hasOwn(attributes, name)) return attributes[name];
  if (!name.includes('.')) return undefined;
  let current: unknown = attributes;
  for (const part of name.split('.')) {
    if (current === null || typeof current !== 'object' || Array.isArray(current)) return undefined;
    if (!Object.hasOwn(current, part)) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

/**
 * A version string made comparable as plain text (the GrowthBook convention, re-implemented):
 * a leading `v` and `+build` are dropped, parts split on `.` and `-`, numeric parts
 * right-aligned to 5 characters, and a release (exactly 3 parts) suffixed with `~` so it sorts
 * after its pre-releases (`1.0.0-rc.1 < 1.0.0`).
 */
export function comparableVersion(version: string): string {
  const parts = version.replace(/^v|\+.*$/g, '').split(/[-.]/);
  if (parts.length === 3) parts.push('~');
  return parts.map((part) => (/^[0-9]+$/.test(part) ? part.padStart(5, ' ') : part)).join('-');
}

/** Compares two versions: negative, 0 or positive like `Array.prototype.sort` expects. */
export function compareVersions(a: string, b: string): number {
  const left = comparableVersion(a);
  const right = comparableVersion(b);
  return left < right ? -1 : left > right ? 1 : 0;
}

const compiledPatterns = new Map<string, RegExp | null>();
const MAX_COMPILED_PATTERNS = 500;

/** Compiles once per (pattern, flags); an invalid pattern compiles to `null` and never matches. */
export function compilePattern(pattern: string, ignoreCase: boolean): RegExp | null {
  const cacheKey = `${ignoreCase ? 'i' : '-'}${pattern}`;
  const cached = compiledPatterns.get(cacheKey);
  if (cached !== undefined) return cached;
  let compiled: RegExp | null;
  try {
    compiled = new RegExp(pattern, ignoreCase ? 'i' : '');
  } catch {
    compiled = null;
  }
  if (compiledPatterns.size >= MAX_COMPILED_PATTERNS) compiledPatterns.clear();
  compiledPatterns.set(cacheKey, compiled);
  return compiled;
}

const isScalar = (value: unknown): value is AttributeScalar =>
  typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';

/** Attribute values that are lists (tags, groups) match when any element matches. */
function someElement(actual: unknown, test: (value: AttributeScalar) => boolean): boolean {
  if (Array.isArray(actual)) return actual.some((item) => isScalar(item) && test(item));
  return isScalar(actual) && test(actual);
}

/**
 * Numbers and numeric strings compare as numbers; anything else (booleans, blank strings,
 * infinities) becomes NaN, which every comparison rejects.
 */
function asNumber(value: unknown): number {
  if (typeof value === 'number') return Number.isFinite(value) ? value : Number.NaN;
  if (typeof value === 'string' && value.trim() !== '') {
    const parsed = Number(value);
    return Number.isFinite(parsed) ? parsed : Number.NaN;
  }
  return Number.NaN;
}

function compareNumbers(op: NumericOp, actual: number, expected: number): boolean {
  switch (op) {
    case 'gt':
      return actual > expected;
    case 'gte':
      return actual >= expected;
    case 'lt':
      return actual < expected;
    case 'lte':
      return actual <= expected;
  }
}

function compareVersionOp(op: VersionOp, actual: string, expected: string): boolean {
  const order = compareVersions(actual, expected);
  switch (op) {
    case 'version_eq':
      return order === 0;
    case 'version_ne':
      return order !== 0;
    case 'version_gt':
      return order > 0;
    case 'version_gte':
      return order >= 0;
    case 'version_lt':
      return order < 0;
    case 'version_lte':
      return order <= 0;
  }
}

/**
 * Evaluates a (validated) rule against user attributes. Never throws: a malformed node
 * evaluates to false, so an unexpected definition excludes users rather than crashing.
 *
 * @example
 *   evaluateTargetingRule({ attribute: 'country', op: 'in', values: ['US', 'CA'] }, { country: 'CA' }) // true
 */
export function evaluateTargetingRule(rule: TargetingRule, attributes: UserAttributes): boolean {
  if ('and' in rule)
    return Array.isArray(rule.and) && rule.and.every((child) => evaluateTargetingRule(child, attributes));
  if ('or' in rule) return Array.isArray(rule.or) && rule.or.some((child) => evaluateTargetingRule(child, attributes));
  if ('not' in rule) return typeof rule.not === 'object' && !evaluateTargetingRule(rule.not, attributes);
  const actual = readAttribute(attributes, rule.attribute);
  switch (rule.op) {
    case 'eq':
      return someElement(actual, (value) => value === rule.value);
    case 'ne':
      return !someElement(actual, (value) => value === rule.value);
    case 'in':
      return someElement(actual, (value) => rule.values.includes(value));
    case 'nin':
      return !someElement(actual, (value) => rule.values.includes(value));
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      return compareNumbers(rule.op, asNumber(actual), rule.value);
    case 'version_eq':
    case 'version_ne':
    case 'version_gt':
    case 'version_gte':
    case 'version_lt':
    case 'version_lte':
      return typeof actual === 'string' && compareVersionOp(rule.op, actual, rule.value);
    case 'regex': {
      if (typeof actual !== 'string' || actual.length > TARGETING_LIMITS.maxRegexInputLength) return false;
      return compilePattern(rule.pattern, rule.ignoreCase === true)?.test(actual) ?? false;
    }
    default:
      return false;
  }
}
