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

/** Decimals kept from each event value; squares carry twice as many. */
export const VALUE_DECIMALS = 6;

/** An event value as an integer count of 10^-6 units (rounded half away from zero by `toFixed`). */
export function toScaledValue(value: number): bigint {
  const fixed = value.toFixed(VALUE_DECIMALS);
  return BigInt(fixed.replace('.', ''));
}

/** Scale of a square: products of two scaled values carry 2 × VALUE_DECIMALS decimals. */
export const SQUARE_DECIMALS = VALUE_DECIMALS * 2;

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
