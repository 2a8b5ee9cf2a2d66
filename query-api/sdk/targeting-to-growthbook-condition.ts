/**
 * Translates a targeting rule of our language (common/targeting-evaluation.ts) into a
 * GrowthBook condition (the MongoDB-like language GrowthBook SDKs evaluate), **exactly**:
 * for every attribute object, `evalCondition(attributes, translate(rule))` equals
 * `evaluateTargetingRule(rule, attributes)`. A rule that has no exact translation is
 * refused with the path and the reason; the payload builder then leaves its experiment
 * or flag out rather than serve an approximation. Pure: no I/O.
 *
 * Where the two languages differ and how each difference is closed:
 *
 *   ours                                   GrowthBook                     translation
 *   eq v: strict, any element of a list    `{a: "1"}` coerces (1 == "1");  { a: { $in: [v] } }
 *                                          `$eq` ignores lists             ($in: strict, intersects lists)
 *   ne v: not eq (missing → true)          —                              { a: { $nin: [v] } }
 *   in / nin                               same semantics                 { a: { $in | $nin: values } }
 *   gt v: finite numbers and non-blank     `actual > v` coerces true → 1,  $or of a number branch and a
 *   numeric strings only                   null/"" → 0, [5] → 5,          non-blank-string branch, each
 *                                          "Infinity" → ∞                 bounded by ±Number.MAX_VALUE
 *   version_*: strings only; "" sorts      non-strings and "" read as "0" { a: { $type: "string",
 *   before every version                                                  $ne: "", $vgt: v } }, and for
 *                                                                         lt / lte / ne: $or { a: { $eq: "" } }
 *   regex: strings ≤ 2,048 characters      coerces (null → "null"),      { a: { $type: "string",
 *                                          no length limit                $not: { $regex: "^[\s\S]{2049}" },
 *                                                                          $regex | $regexi: pattern } }
 *   and / or / not                         $and / $or / $not              ($or of nothing is true there:
 *                                                                          an empty `or` is refused)
 *
 * Attribute names that cannot be read alike are refused: dotted names (we read the
 * literal key `a.b` first, SDKs only walk the path), names starting with `$` (operators
 * there), names of `Object.prototype` members (SDKs read inherited members with `in`),
 * and `id`, which GrowthBook SDKs fill with the user id they hash, while our Assignment
 * and Flag Evaluation Lambdas and the edge take the user id apart from the attributes.
 *
 * Numeric strings in `gt`…`lte` rely on JavaScript's string-to-number comparison; the
 * JavaScript SDK is the one proven (sdk/*.test.ts). Other SDK ports compare numbers alike;
 * send numeric attributes as numbers to them.
 *
 * @example
 *   translateTargetingRule({ attribute: 'country', op: 'in', values: ['US', 'CA'] })
 *   // { ok: true, condition: { country: { $in: ['US', 'CA'] } } }
 *   translateTargetingRule({ attribute: 'device.os', op: 'eq', value: 'ios' })
 *   // { ok: false, path: 'targeting.attribute', reason: 'dotted-attribute', message: '…' }
 */
import {
  TARGETING_LIMITS,
  type NumericOp,
  type TargetingRule,
  type VersionOp,
} from '../../common/targeting-evaluation.js';

/** A GrowthBook condition: a JSON object (see GrowthBook's `ConditionInterface`). */
export type GrowthBookCondition = { [key: string]: unknown };

/** Why a rule has no exact translation; stable strings shown in the payload report and logs. */
export type UntranslatableReason =
  'dotted-attribute' | 'reserved-attribute' | 'hash-attribute' | 'empty-combinator' | 'unknown-rule';

export type ConditionTranslation =
  | { ok: true; condition: GrowthBookCondition }
  | { ok: false; path: string; reason: UntranslatableReason; message: string };

/** The attribute GrowthBook SDKs hash (`hashAttribute`) and fill with the user id. */
export const HASH_ATTRIBUTE = 'id';

const VERSION_OPERATORS: Record<VersionOp, string> = {
  version_eq: '$veq',
  version_ne: '$vne',
  version_gt: '$vgt',
  version_gte: '$vgte',
  version_lt: '$vlt',
  version_lte: '$vlte',
};

/**
 * `{ a: { $gt: v } }` coerces; these bounds make each branch hold exactly the values our
 * evaluator compares: finite numbers (NaN fails every comparison, ±Infinity fails a bound).
 * The bound on the side the comparison itself covers is implied by it and left out.
 */
function numericBounds(op: NumericOp, value: number): Record<string, number> {
  const bounds: Record<string, number> = {};
  if (op === 'gt' || op === 'gte') bounds[`$${op}`] = value;
  else bounds.$gte = -Number.MAX_VALUE;
  if (op === 'lt' || op === 'lte') bounds[`$${op}`] = value;
  else bounds.$lte = Number.MAX_VALUE;
  return bounds;
}

/** A string longer than `maxRegexInputLength` UTF-16 code units (our evaluator never matches those). */
const TOO_LONG_FOR_REGEX = `^[\\s\\S]{${TARGETING_LIMITS.maxRegexInputLength + 1}}`;

/**
 * Our evaluator compares `""` as the empty padded version, below every version; GrowthBook
 * SDKs read `""` as `"0"`. So `""` is taken out of the SDK's comparison and put back where we
 * hold it true: it is below (and not equal to) every version a rule can name.
 */
function versionCondition(attribute: string, op: VersionOp, value: string): GrowthBookCondition {
  const compared = { [attribute]: { $type: 'string', $ne: '', [VERSION_OPERATORS[op]]: value } };
  const emptyMatches = op === 'version_lt' || op === 'version_lte' || op === 'version_ne';
  return emptyMatches ? { $or: [compared, { [attribute]: { $eq: '' } }] } : compared;
}

class Untranslatable extends Error {
  constructor(
    readonly path: string,
    readonly reason: UntranslatableReason,
    message: string,
  ) {
    super(message);
  }
}

function checkAttributeName(name: string, path: string): void {
  const where = `${path}.attribute`;
  if (name.includes('.'))
    throw new Untranslatable(
      where,
      'dotted-attribute',
      `attribute ${JSON.stringify(name)} contains "." : our evaluator reads the literal key first, GrowthBook SDKs only the nested path`,
    );
  if (name.startsWith('$') || name in Object.prototype)
    throw new Untranslatable(
      where,
      'reserved-attribute',
      `attribute ${JSON.stringify(name)} is an operator or an Object.prototype member in GrowthBook conditions`,
    );
  if (name === HASH_ATTRIBUTE)
    throw new Untranslatable(
      where,
      'hash-attribute',
      `attribute "${HASH_ATTRIBUTE}" is the user id GrowthBook SDKs hash; our evaluators take the user id apart from the attributes`,
    );
}

function translateNode(rule: TargetingRule, path: string): GrowthBookCondition {
  if ('and' in rule) return { $and: rule.and.map((child, i) => translateNode(child, `${path}.and[${i}]`)) };
  if ('or' in rule) {
    if (rule.or.length === 0)
      throw new Untranslatable(`${path}.or`, 'empty-combinator', 'an empty "or" is false here and true in GrowthBook');
    return { $or: rule.or.map((child, i) => translateNode(child, `${path}.or[${i}]`)) };
  }
  if ('not' in rule) return { $not: translateNode(rule.not, `${path}.not`) };
  const { attribute } = rule;
  checkAttributeName(attribute, path);
  switch (rule.op) {
    case 'eq':
      return { [attribute]: { $in: [rule.value] } };
    case 'ne':
      return { [attribute]: { $nin: [rule.value] } };
    case 'in':
      return { [attribute]: { $in: [...rule.values] } };
    case 'nin':
      return { [attribute]: { $nin: [...rule.values] } };
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      const bounds = numericBounds(rule.op, rule.value);
      return {
        $or: [
          { [attribute]: { $type: 'number', ...bounds } },
          { [attribute]: { $type: 'string', $regex: '\\S', ...bounds } },
        ],
      };
    }
    case 'version_eq':
    case 'version_ne':
    case 'version_gt':
    case 'version_gte':
    case 'version_lt':
    case 'version_lte':
      return versionCondition(attribute, rule.op, rule.value);
    case 'regex':
      return {
        [attribute]: {
          $type: 'string',
          $not: { $regex: TOO_LONG_FOR_REGEX },
          [rule.ignoreCase === true ? '$regexi' : '$regex']: rule.pattern,
        },
      };
    default:
      throw new Untranslatable(path, 'unknown-rule', `${path} is not a rule of the targeting language`);
  }
}

/**
 * Translates a (validated) targeting rule; `path` prefixes the path of a refusal.
 *
 * @example
 *   translateTargetingRule({ not: { attribute: 'plan', op: 'eq', value: 'free' } })
 *   // { ok: true, condition: { $not: { plan: { $in: ['free'] } } } }
 */
export function translateTargetingRule(rule: TargetingRule, path = 'targeting'): ConditionTranslation {
  try {
    return { ok: true, condition: translateNode(rule, path) };
  } catch (error) {
    if (error instanceof Untranslatable)
      return { ok: false, path: error.path, reason: error.reason, message: `${error.path}: ${error.message}` };
    // A malformed stored rule (not from the validator): refused, never half-translated.
    return { ok: false, path, reason: 'unknown-rule', message: `${path} is not a rule of the targeting language` };
  }
}
