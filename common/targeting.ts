/**
 * Targeting rules: the TypeBox schema (stored JSON, OpenAPI, types) and the save-time
 * validator. Invalid rules are refused when an experiment or flag is saved, with errors that
 * name the path and the rule broken, never when a user arrives. Evaluation is pure and lives
 * in `targeting-evaluation.ts` (re-exported here) so the edge bundle stays free of TypeBox.
 *
 * Regex conditions are accepted only when recheck's automaton checker proves them linear on
 * JavaScript's backtracking engine (`targeting-regex-safety.ts`): `^(a|a)+$` (exponential)
 * and `^a*a*a*a*a*a*$` (polynomial) are refused as `regex-unsafe`, look-arounds and
 * back-references as `regex-unsupported`. With evaluation refusing inputs over 2,048
 * characters, every stored rule does bounded, linear work per request.
 *
 * @example
 *   const result = validateTargetingRule(body.targeting);
 *   if (!result.ok) throw new PipelineError('VALIDATION_FAILED', result.errors[0].message, { details: result.errors });
 */
import Type from 'typebox';
import { Compile } from 'typebox/compile';
import { TARGETING_LIMITS, type TargetingRule } from './targeting-evaluation.js';
import { checkRegexSafety, REGEX_CHECK_TIMEOUT_MS } from './targeting-regex-safety.js';

export * from './targeting-evaluation.js';
export { checkRegexSafety, REGEX_CHECK_TIMEOUT_MS, type RegexSafetyVerdict } from './targeting-regex-safety.js';

/**
 * One `type` array rather than a union: with Ajv's type coercion (Fastify's default) a union
 * would turn the number 1 into "1" (or "1" into 1) in the first branch that coerces; with
 * several types listed, Ajv coerces only when none matches, so values keep their JSON type.
 */
const Scalar = Type.Unsafe<string | number | boolean>({
  type: ['string', 'number', 'boolean'],
  maxLength: TARGETING_LIMITS.maxStringLength,
});
const AttributeName = Type.String({ minLength: 1, maxLength: TARGETING_LIMITS.maxAttributeNameLength });
const Children = Type.Array(Type.Ref('TargetingRule'), { minItems: 1, maxItems: TARGETING_LIMITS.maxNodes });
const strict = { additionalProperties: false } as const;

/** JSON Schema of a targeting rule (recursive). See `targeting-evaluation.ts` for the language. */
export const TargetingRuleSchema = Type.Cyclic(
  {
    TargetingRule: Type.Union([
      Type.Object({ and: Children }, strict),
      Type.Object({ or: Children }, strict),
      Type.Object({ not: Type.Ref('TargetingRule') }, strict),
      Type.Object({ attribute: AttributeName, op: Type.Enum(['eq', 'ne']), value: Scalar }, strict),
      Type.Object(
        {
          attribute: AttributeName,
          op: Type.Enum(['in', 'nin']),
          values: Type.Array(Scalar, { maxItems: TARGETING_LIMITS.maxListValues }),
        },
        strict,
      ),
      Type.Object(
        { attribute: AttributeName, op: Type.Enum(['gt', 'gte', 'lt', 'lte']), value: Type.Number() },
        strict,
      ),
      Type.Object(
        {
          attribute: AttributeName,
          op: Type.Enum(['version_eq', 'version_ne', 'version_gt', 'version_gte', 'version_lt', 'version_lte']),
          value: Type.String({ minLength: 1, maxLength: TARGETING_LIMITS.maxVersionLength }),
        },
        strict,
      ),
      Type.Object(
        {
          attribute: AttributeName,
          op: Type.Literal('regex'),
          pattern: Type.String({ minLength: 1, maxLength: TARGETING_LIMITS.maxRegexLength }),
          ignoreCase: Type.Optional(Type.Boolean()),
        },
        strict,
      ),
    ]),
  },
  'TargetingRule',
  { description: 'Targeting rule on user attributes (and/or/not, eq/ne, in/nin, gt…lte, version_*, regex).' },
);

const schemaCheck = Compile(TargetingRuleSchema);

/** One reason a rule was refused: where (`targeting.and[1].pattern`), which rule, and why. */
export interface TargetingRuleError {
  path: string;
  rule: string;
  message: string;
}

export type TargetingValidation = { ok: true; rule: TargetingRule } | { ok: false; errors: TargetingRuleError[] };

const OPERATOR_VALUE_KIND: Record<string, 'scalar' | 'list' | 'number' | 'version' | 'regex'> = {
  eq: 'scalar',
  ne: 'scalar',
  in: 'list',
  nin: 'list',
  gt: 'number',
  gte: 'number',
  lt: 'number',
  lte: 'number',
  version_eq: 'version',
  version_ne: 'version',
  version_gt: 'version',
  version_gte: 'version',
  version_lt: 'version',
  version_lte: 'version',
  regex: 'regex',
};

const FIELDS_BY_KIND = {
  scalar: ['attribute', 'op', 'value'],
  list: ['attribute', 'op', 'values'],
  number: ['attribute', 'op', 'value'],
  version: ['attribute', 'op', 'value'],
  regex: ['attribute', 'op', 'pattern', 'ignoreCase'],
} as const;

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

const isScalar = (value: unknown): boolean =>
  (typeof value === 'string' && value.length <= TARGETING_LIMITS.maxStringLength) ||
  Number.isFinite(value) ||
  typeof value === 'boolean';

class RuleWalker {
  readonly errors: TargetingRuleError[] = [];
  private nodes = 0;
  /** All regex checks of one rule share one time budget, so a save blocks for a bounded time. */
  private readonly regexDeadline = Date.now() + REGEX_CHECK_TIMEOUT_MS;

  private fail(path: string, rule: string, message: string): void {
    if (this.errors.length < 50) this.errors.push({ path, rule, message });
  }

  walk(node: unknown, path: string, depth: number): void {
    this.nodes++;
    if (this.nodes === TARGETING_LIMITS.maxNodes + 1) {
      this.fail(path, 'max-nodes', `a rule may have at most ${TARGETING_LIMITS.maxNodes} nodes`);
    }
    if (depth > TARGETING_LIMITS.maxDepth) {
      this.fail(path, 'max-depth', `rules may nest at most ${TARGETING_LIMITS.maxDepth} levels`);
      return;
    }
    if (!isPlainObject(node)) return this.fail(path, 'type', `${path} must be a rule object`);
    const combinator = (['and', 'or', 'not'] as const).find((key) => key in node);
    if (combinator !== undefined) return this.walkCombinator(node, combinator, path, depth);
    if ('attribute' in node) return this.walkCondition(node, path);
    this.fail(path, 'unknown-rule', `${path} must have one of: and, or, not, attribute`);
  }

  private unknownFields(node: Record<string, unknown>, allowed: readonly string[], path: string): void {
    for (const key of Object.keys(node)) {
      if (!allowed.includes(key)) this.fail(`${path}.${key}`, 'unknown-field', `${path}.${key} is not allowed here`);
    }
  }

  private walkCombinator(node: Record<string, unknown>, key: 'and' | 'or' | 'not', path: string, depth: number): void {
    this.unknownFields(node, [key], path);
    const child = node[key];
    if (key === 'not') return this.walk(child, `${path}.not`, depth + 1);
    if (!Array.isArray(child)) return this.fail(`${path}.${key}`, 'type', `${path}.${key} must be an array of rules`);
    if (child.length === 0) return this.fail(`${path}.${key}`, 'min-items', `${path}.${key} needs at least one rule`);
    child.forEach((item, index) => this.walk(item, `${path}.${key}[${index}]`, depth + 1));
  }

  private walkCondition(node: Record<string, unknown>, path: string): void {
    const { attribute, op } = node;
    if (typeof attribute !== 'string' || attribute.length === 0) {
      this.fail(`${path}.attribute`, 'type', `${path}.attribute must be a non-empty string`);
    } else if (attribute.length > TARGETING_LIMITS.maxAttributeNameLength) {
      this.fail(`${path}.attribute`, 'max-length', `${path}.attribute is longer than 128 characters`);
    }
    const kind = typeof op === 'string' ? OPERATOR_VALUE_KIND[op] : undefined;
    if (kind === undefined) {
      const known = Object.keys(OPERATOR_VALUE_KIND).join(', ');
      return this.fail(`${path}.op`, 'unknown-operator', `${path}.op ${JSON.stringify(op)} is not one of ${known}`);
    }
    this.unknownFields(node, FIELDS_BY_KIND[kind], path);
    const valuePath = `${path}.value`;
    switch (kind) {
      case 'scalar':
        if (!isScalar(node.value)) this.fail(valuePath, 'type', `${valuePath} must be a string, number or boolean`);
        break;
      case 'number':
        if (!Number.isFinite(node.value))
          this.fail(valuePath, 'type', `${valuePath} must be a finite number for ${String(op)}`);
        break;
      case 'version':
        this.checkVersion(node.value, valuePath);
        break;
      case 'list':
        this.checkList(node.values, `${path}.values`);
        break;
      case 'regex':
        this.checkRegex(node, path);
        break;
    }
  }

  /**
   * A number, optionally after `v`, then anything made of version characters after a
   * separator: `2`, `2.4.0`, `v2.4.0-beta.1`, `1.2.3+build.7` (`.4.0` is such a suffix too).
   */
  private checkVersion(value: unknown, path: string): void {
    if (typeof value !== 'string' || !/^v?\d+([-.+][0-9A-Za-z.+-]*)?$/.test(value))
      return this.fail(path, 'version-format', `${path} must be a version like 2.4.0 or 2.4.0-beta.1`);
    if (value.length > TARGETING_LIMITS.maxVersionLength)
      this.fail(path, 'max-length', `${path} is longer than ${TARGETING_LIMITS.maxVersionLength} characters`);
  }

  private checkList(values: unknown, path: string): void {
    if (!Array.isArray(values)) return this.fail(path, 'type', `${path} must be an array`);
    if (values.length > TARGETING_LIMITS.maxListValues)
      return this.fail(path, 'max-items', `${path} may hold at most ${TARGETING_LIMITS.maxListValues} values`);
    values.forEach((value, index) => {
      if (!isScalar(value))
        this.fail(`${path}[${index}]`, 'type', `${path}[${index}] must be a string, number or boolean`);
    });
  }

  private checkRegex(node: Record<string, unknown>, path: string): void {
    const { pattern, ignoreCase } = node;
    const patternPath = `${path}.pattern`;
    if (ignoreCase !== undefined && typeof ignoreCase !== 'boolean')
      this.fail(`${path}.ignoreCase`, 'type', `${path}.ignoreCase must be a boolean`);
    if (typeof pattern !== 'string' || pattern.length === 0)
      return this.fail(patternPath, 'type', `${patternPath} must be a non-empty string`);
    if (pattern.length > TARGETING_LIMITS.maxRegexLength)
      return this.fail(
        patternPath,
        'regex-too-long',
        `${patternPath} is ${pattern.length} characters; at most ${TARGETING_LIMITS.maxRegexLength} are allowed`,
      );
    try {
      new RegExp(pattern);
    } catch (error) {
      return this.fail(
        patternPath,
        'regex-invalid',
        `${patternPath} is not a valid regular expression: ${(error as Error).message}`,
      );
    }
    if (typeof ignoreCase !== 'boolean' && ignoreCase !== undefined) return;
    const verdict = checkRegexSafety(pattern, ignoreCase === true, this.regexDeadline - Date.now());
    if (!verdict.safe) this.fail(patternPath, verdict.rule, `${patternPath} ${verdict.reason}`);
  }
}

/**
 * Validates a targeting rule for saving. `path` prefixes error paths (`targeting` by default).
 *
 * @example
 *   validateTargetingRule({ attribute: 'age', op: 'gt', value: '18' })
 *   // { ok: false, errors: [{ path: 'targeting.value', rule: 'type', message: 'targeting.value must be a finite number for gt' }] }
 */
export function validateTargetingRule(rule: unknown, path = 'targeting'): TargetingValidation {
  const walker = new RuleWalker();
  walker.walk(rule, path, 1);
  if (walker.errors.length > 0) return { ok: false, errors: walker.errors };
  if (!schemaCheck.Check(rule)) {
    // The walker mirrors the schema (a property test holds them together); this only
    // triggers if the two ever drift apart, and then refuses rather than stores.
    return {
      ok: false,
      errors: [{ path, rule: 'schema', message: `${path} does not match the targeting rule schema` }],
    };
  }
  return { ok: true, rule: rule };
}

/**
 * The same validation in the shape the query API's definition rules take
 * (`TargetingValidator` in query-api/definitions): `field` is relative to the rule
 * (`and[1].pattern`, empty for the rule itself); messages keep the full `targeting.` path.
 *
 * @example
 *   experimentRuleViolations(definition, targetingRuleViolations)
 */
export function targetingRuleViolations(rule: unknown): { field: string; rule: string; message: string }[] {
  const result = validateTargetingRule(rule, 'targeting');
  if (result.ok) return [];
  return result.errors.map((error) => ({
    field: error.path.replace(/^targeting\.?/, ''),
    rule: error.rule,
    message: error.message,
  }));
}
