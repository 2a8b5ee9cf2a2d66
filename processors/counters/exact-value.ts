/**
 * Exact arithmetic for counter values. DynamoDB numbers are exact decimals (38 significant
 * digits), JS numbers are binary doubles: summing doubles in a different order (a replay,
 * a re-cut batch, the ground truth) can give a different last digit. So every event value
 * is first rounded to `VALUE_DECIMALS` decimals and held as a scaled BigInt; per-user
 * totals, their squares and every delta are then exact, and the decimal strings sent to
 * DynamoDB add up to the same total however the work was cut.
 *
 * Consequence for fractional values: a value is counted as `Number(value.toFixed(6))`
 * (0.1234567 counts as 0.123457). Integer values are exact up to the contract's MAX_EVENT_VALUE (1e8).
 */

import { EXTRA_COUNTER_ATTRIBUTE_KINDS } from '../../common/counter-layout.js';

/** Decimals kept from each event value; squares carry twice as many. */
export const VALUE_DECIMALS = 6;

const SCALE = 10n ** BigInt(VALUE_DECIMALS);
const MICRO_PER_VALUE = 10 ** VALUE_DECIMALS;

/** An event value as an integer count of 10^-6 units (rounded half away from zero by `toFixed`). */
export function toScaledValue(value: number): bigint {
  // Integers (most values: counts, impressions) skip the decimal string: the same result.
  if (Number.isInteger(value)) {
    // One BigInt instead of two while the product is an exact double (|value| ≤ 9e9: every contract value).
    const micro = value * MICRO_PER_VALUE;
    return Number.isSafeInteger(micro) ? BigInt(micro) : BigInt(value) * SCALE;
  }
  const fixed = value.toFixed(VALUE_DECIMALS);
  return BigInt(fixed.replace('.', ''));
}

/** Largest |scaled| kept as a number: every integer up to 2^53 is an exact double. */
const MAX_SAFE_SCALED = Number.MAX_SAFE_INTEGER;

/**
 * `toScaledValue` as a number, which is what the state and the aggregation compute with: exact,
 * since every contract value (|value| ≤ MAX_EVENT_VALUE = 1e8) scales to an integer of at most
 * 1e14, far below 2^53, so no BigInt is made per event. Throws for a value whose scaled form is
 * not a safe integer (never a contract-valid one).
 *
 * @example
 *   scaledNumber(1.5) // 1_500_000
 *   scaledNumber(0.1234567) // 123_457 (rounded to VALUE_DECIMALS, like toScaledValue)
 */
export function scaledNumber(value: number): number {
  const scaled = Number.isInteger(value)
    ? value * MICRO_PER_VALUE // exact while the product is a safe integer
    : scaledFraction(value);
  if (scaled <= MAX_SAFE_SCALED && scaled >= -MAX_SAFE_SCALED) return scaled;
  throw new RangeError(`value ${value} is beyond the exact range of a scaled number (±2^53 units of 10^-6)`);
}

/**
 * |value| up to which `scaledFraction` rounds without a decimal string: the contract's MAX_EVENT_VALUE.
 * Its products (at most 1e14) are below 2^52, where every half-integer is a double.
 */
const ROUNDED_PRODUCT_LIMIT = 1e8;

/**
 * `Number(value.toFixed(6).replace('.', ''))` for a value that is not an integer, without the two
 * strings per event where the double product decides it (profiled: 1.7% of the counter path
 * with fractional values). `toFixed(6)` picks the integer n nearest to |value| × 10^6, the exact
 * real product, a tie going to the larger n, and puts the sign in front. The double product
 * p = fl(|value| × 10^6) is that real product rounded to the nearest double, and rounding is
 * monotonic: below 2^52 every half-integer h is a double, so the real product is above h exactly
 * when p is, below h when p is, and p = h can come from either side (or be a true tie). So when
 * p's fraction is not exactly one half, the real product rounds to the integer p rounds to:
 * Math.floor(p) or the next. When it is (a tie such as 1/128 = 7812.5 micro-units, or a product
 * rounded onto a half), and beyond the contract's values, the decimal string decides, as before.
 *
 * @example
 *   scaledFraction(0.1234567)  // 123457 (p = 123456.7: rounded up)
 *   scaledFraction(-0.0078125) // -7813 (p = 7812.5 exactly: toFixed decides, away from zero)
 */
function scaledFraction(value: number): number {
  const magnitude = Math.abs(value);
  if (magnitude <= ROUNDED_PRODUCT_LIMIT) {
    const product = magnitude * MICRO_PER_VALUE;
    const whole = Math.floor(product);
    const fraction = product - whole; // exact (Sterbenz: whole ≤ product < 2 × whole, or whole = 0)
    if (fraction !== 0.5) {
      const rounded = fraction > 0.5 ? whole + 1 : whole;
      return value < 0 ? -rounded : rounded; // -0 for a negative value that rounds to 0, as toFixed's "-0.000000"
    }
  }
  return Number(value.toFixed(VALUE_DECIMALS).replace('.', ''));
}

/** Scale of a square: products of two scaled values carry 2 × VALUE_DECIMALS decimals. */
export const SQUARE_DECIMALS = VALUE_DECIMALS * 2;

/**
 * Decimals of each extra cell attribute (common/counter-layout.ts): sums of values like `sum`,
 * sums of products of two values like `sum_squares`.
 */
export const EXTRA_DECIMALS = Object.fromEntries(
  Object.entries(EXTRA_COUNTER_ATTRIBUTE_KINDS).map(([field, kind]) => [
    field,
    kind === 'value' ? VALUE_DECIMALS : SQUARE_DECIMALS,
  ]),
) as Readonly<Record<keyof typeof EXTRA_COUNTER_ATTRIBUTE_KINDS, number>>;

/** Exact increment of Σx² when a user's total moves from `before` to `before + value` (both scaled). */
export function squareIncrement(before: bigint, value: bigint): bigint {
  return 2n * before * value + value * value;
}

/**
 * A scaled integer as a plain decimal string without trailing zeros (`1500000n, 6` → `"1.5"`),
 * which is what DynamoDB receives and what `Number()` parses.
 */
export function formatScaled(scaled: bigint, decimals: number): string {
  const negative = scaled < 0n;
  const digits = (negative ? -scaled : scaled).toString().padStart(decimals + 1, '0');
  const whole = digits.slice(0, digits.length - decimals);
  const fraction = digits.slice(digits.length - decimals).replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}

/**
 * `formatScaled` of a safe integer held as a number (|scaled| < 2^53), without a BigInt:
 * what a batch's sums are, so each counter write formats them this way.
 *
 * @example
 *   formatScaledNumber(-1_500_000, 6) // '-1.5'
 */
export function formatScaledNumber(scaled: number, decimals: number): string {
  const negative = scaled < 0;
  const magnitude = negative ? -scaled : scaled;
  const scale = 10 ** decimals;
  let whole = Math.floor(magnitude / scale);
  let fraction = magnitude - whole * scale; // exact: both are integers below 2^53
  // The division is rounded: near 2^53 its floor can be one off.
  if (fraction < 0) {
    whole -= 1;
    fraction += scale;
  } else if (fraction >= scale) {
    whole += 1;
    fraction -= scale;
  }
  const sign = negative ? '-' : '';
  if (fraction === 0) return `${sign}${whole}`;
  let digits = decimals;
  while (fraction % 10 === 0) {
    fraction /= 10;
    digits--;
  }
  return `${sign}${whole}.${String(fraction).padStart(digits, '0')}`;
}

/** 2^53: integers below it in magnitude are exact doubles. */
const EXACT_DOUBLE_LIMIT = 2 ** 53;
const SQUARE_SCALE = 10n ** BigInt(SQUARE_DECIMALS);
const MICRO_PER_UNIT = 10 ** VALUE_DECIMALS;

/**
 * An exact running total of scaled integers without a BigInt per addition: integers are
 * added as doubles while the total stays below 2^53 (where every integer is exact) and
 * spill into a BigInt only beyond. `unitScale` is how many scaled units one `addUnits`
 * unit is worth (e.g. 10^12 for Σx² kept in whole units² beside micro-units²).
 *
 * @example
 *   const sum = new ExactTotal(); sum.add(1_500_000); sum.add(2_000_000); sum.format(6) // '3.5'
 */
export class ExactTotal {
  /** Exact integer, |small| < 2^53, in scaled units. */
  small = 0;
  /** Exact integer in whole units (× unitScale scaled units), |units| < 2^53. */
  units = 0;
  big = 0n;
  constructor(private readonly unitScale: bigint = 1n) {}

  /** Adds an exact integer count of scaled units (|n| < 2^53). */
  add(n: number): void {
    const next = this.small + n;
    if (next < EXACT_DOUBLE_LIMIT && next > -EXACT_DOUBLE_LIMIT) this.small = next;
    else {
      this.big += BigInt(this.small) + BigInt(n);
      this.small = 0;
    }
  }

  /** Adds an exact integer count of whole units (|n| < 2^53). */
  addUnits(n: number): void {
    const next = this.units + n;
    if (next < EXACT_DOUBLE_LIMIT && next > -EXACT_DOUBLE_LIMIT) this.units = next;
    else {
      this.big += (BigInt(this.units) + BigInt(n)) * this.unitScale;
      this.units = 0;
    }
  }

  /** Back to 0 (an accumulator reused for one increment after another). */
  clear(): void {
    this.small = 0;
    this.units = 0;
    this.big = 0n;
  }

  addBig(n: bigint): void {
    this.big += n;
  }

  addTotal(other: ExactTotal): void {
    this.add(other.small);
    this.addUnits(other.units);
    if (other.big !== 0n) this.big += other.big;
  }

  /** The exact total in scaled units. */
  value(): bigint {
    return this.big + BigInt(this.small) + BigInt(this.units) * this.unitScale;
  }

  /** The total as a decimal string with `decimals` scaled decimals (what DynamoDB receives). */
  format(decimals: number): string {
    if (this.big === 0n && this.small === 0) return String(this.units); // whole units: an exact integer
    if (this.big === 0n && this.units === 0) return formatScaledNumber(this.small, decimals);
    return formatScaled(this.value(), decimals);
  }
}

/**
 * What one event adds to Σx² when its user's total moves from `before` to `before + x`
 * (both scaled), added to `squares` (an ExactTotal in SQUARE_DECIMALS units with whole
 * units²): in whole units² as doubles when both are whole numbers and the product is below
 * 2^53 (every count and most values), else exactly in BigInt.
 */
export function addSquareIncrement(
  squares: ExactTotal,
  before: number | undefined,
  value: number,
  scaled: number,
): void {
  const beforeMicro = before ?? 0;
  if (Number.isInteger(value) && beforeMicro % MICRO_PER_UNIT === 0) {
    const increment = value * (2 * (beforeMicro / MICRO_PER_UNIT) + value);
    if (increment < EXACT_DOUBLE_LIMIT && increment > -EXACT_DOUBLE_LIMIT) {
      squares.addUnits(increment);
      return;
    }
  }
  squares.addBig(squareIncrement(BigInt(beforeMicro), BigInt(scaled)));
}

/** A new Σx² accumulator (SQUARE_DECIMALS scaled units, whole units² on the fast path). */
export const newSquareTotal = (): ExactTotal => new ExactTotal(SQUARE_SCALE);
