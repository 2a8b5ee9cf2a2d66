/**
 * Deterministic bucketing, compatible with the GrowthBook SDKs so that teams can migrate
 * without moving users, and shared by every component that assigns (edge, Lambdas, query
 * API, processors). Pure: no I/O, no randomness, no dependencies (the edge bundle imports it).
 *
 * A user's bucket is a number in [0, 1) derived from (seed, id). Variants own half-open
 * ranges of that line; a user is in variant i when their bucket falls in range i.
 *
 * Non-ASCII ids: FNV-1a runs over UTF-16 code units (`charCodeAt`), exactly as the GrowthBook
 * JavaScript SDK does, with no Unicode normalisation. Ids are opaque: `"é"` (U+00E9) and
 * `"e\u0301"` are different ids. Characters outside the Basic Multilingual Plane (emoji)
 * contribute two code units (a surrogate pair); SDKs that iterate code points or UTF-8 bytes
 * (some non-JS ports) bucket such ids differently. The ids this system generates (edge
 * cookie, SDK ids) are ASCII, where every implementation agrees.
 */

/** FNV-1a 32-bit offset basis and prime (http://www.isthe.com/chongo/tech/comp/fnv/). */
const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** A half-open interval [start, end) of the bucket line. */
export type BucketRange = readonly [start: number, end: number];

/** Hash versions this build understands. v2 is what experiments and flags are saved with. */
export const SUPPORTED_HASH_VERSIONS: readonly number[] = [1, 2];

/**
 * FNV-1a 32-bit over the UTF-16 code units of `value`, as an unsigned integer.
 *
 * @example fnv1a32('a') // 0xe40c292c
 */
export function fnv1a32(value: string): number {
  let hash = FNV_OFFSET_BASIS;
  for (let i = 0; i < value.length; i++) {
    hash ^= value.charCodeAt(i);
    // Math.imul keeps the multiplication in 32 bits; a float multiply would lose low bits.
    hash = Math.imul(hash, FNV_PRIME);
  }
  return hash >>> 0;
}

/**
 * The user's bucket in [0, 1), or `null` for an unknown hash version (callers then treat the
 * user as not in the experiment rather than guessing).
 *
 * - v2: `fnv1a32(String(fnv1a32(seed + value))) % 10000 / 10000`. Hashing twice spreads
 *   sequential ids and seeds; 4 decimal places.
 * - v1 (legacy GrowthBook): `fnv1a32(value + seed) % 1000 / 1000`; 3 decimal places.
 *
 * @example hashToBucket('seed', 'a', 2) // 0.0505
 */
export function hashToBucket(seed: string, value: string, version: number): number | null {
  if (version === 2) return (fnv1a32(String(fnv1a32(seed + value))) % 10_000) / 10_000;
  if (version === 1) return (fnv1a32(value + seed) % 1_000) / 1_000;
  return null;
}

/** `count` equal weights summing to 1 (none for count ≤ 0). */
export function equalWeights(count: number): number[] {
  if (count <= 0) return [];
  return Array.from({ length: count }, () => 1 / count);
}

/**
 * Weights summing to 1 ± this are kept (rounded UI percentages); GrowthBook falls back to equal weights only below
 * 0.99 or above 1.01, so the bounds themselves are kept (0.33 + 0.33 + 0.33 is exactly 0.99 in doubles).
 */
const WEIGHT_SUM_TOLERANCE = 0.01;

/**
 * The variants' ranges on the bucket line, with GrowthBook's semantics: variant i starts at
 * the cumulative weight of the variants before it and spans `coverage × weight_i`.
 *
 * Because each range's start depends only on weights, raising coverage only extends ranges:
 * a user already in a variant stays in it. Weights that are missing, of the wrong length, or
 * not summing to 1 (±0.01) fall back to equal weights; coverage is clamped to [0, 1].
 *
 * @example bucketRanges(2, 0.5) // [[0, 0.25], [0.5, 0.75]]
 */
export function bucketRanges(variantCount: number, coverage = 1, weights?: readonly number[]): BucketRange[] {
  const clampedCoverage = Math.min(1, Math.max(0, coverage));
  let effective: readonly number[] = weights ?? equalWeights(variantCount);
  if (effective.length !== variantCount) effective = equalWeights(variantCount);
  const total = effective.reduce((sum, weight) => sum + weight, 0);
  // Not |total − 1| > 0.01: in doubles |0.99 − 1| is 0.010000000000000009, which would refuse 0.99.
  if (total < 1 - WEIGHT_SUM_TOLERANCE || total > 1 + WEIGHT_SUM_TOLERANCE) effective = equalWeights(variantCount);
  let cumulative = 0;
  return effective.map((weight) => {
    const start = cumulative;
    cumulative += weight;
    return [start, start + clampedCoverage * weight] as const;
  });
}

/** True when `bucket` lies in the half-open range [start, end). */
export function inRange(bucket: number, range: BucketRange): boolean {
  return bucket >= range[0] && bucket < range[1];
}

/**
 * Index of the range containing `bucket`, or -1 when it falls in no range (outside coverage).
 *
 * @example chooseVariant(0.6, [[0, 0.5], [0.5, 1]]) // 1
 */
export function chooseVariant(bucket: number, ranges: readonly BucketRange[]): number {
  for (let i = 0; i < ranges.length; i++) {
    const range = ranges[i];
    if (range !== undefined && inRange(bucket, range)) return i;
  }
  return -1;
}
