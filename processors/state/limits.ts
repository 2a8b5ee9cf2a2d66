/**
 * Defaults of the state bounds, in one place for every store.
 */
import { PipelineError } from '../../common/errors.js';
import { MAX_USER_TOTAL } from '../../common/event-contract.js';
import { scaledNumber } from '../counters/exact-value.js';
import type { StateLimits } from './types.js';

/**
 * Largest user-total limit (scaled) a store accepts: a total within ±2^52 plus an event value
 * (±1e14 scaled) stays below 2^53, so every running total and sum the rules form is an exact
 * double (and Redis's Lua, whose numbers are doubles, keeps them exactly too).
 */
export const MAX_USER_TOTAL_LIMIT = 2 ** 52;

/** Documented defaults: 50 values per dimension, a 24 h de-dup window, totals within ±MAX_USER_TOTAL. */
export const DEFAULT_STATE_LIMITS: Readonly<StateLimits> = Object.freeze({
  segmentValueCap: 50,
  dedupWindowSeconds: 86_400,
  userTotalLimit: scaledNumber(MAX_USER_TOTAL),
});

/** Fills in the defaults; CONFIG_INVALID for a user-total limit that is not an integer in 0…MAX_USER_TOTAL_LIMIT. */
export function resolveStateLimits(options: Partial<StateLimits>): StateLimits {
  const userTotalLimit = options.userTotalLimit ?? DEFAULT_STATE_LIMITS.userTotalLimit;
  if (!Number.isSafeInteger(userTotalLimit) || userTotalLimit < 0 || userTotalLimit > MAX_USER_TOTAL_LIMIT) {
    throw new PipelineError(
      'CONFIG_INVALID',
      `userTotalLimit must be an integer from 0 to 2^52 (${MAX_USER_TOTAL_LIMIT}, scaled), so running totals stay exact; got ${userTotalLimit}`,
    );
  }
  return {
    segmentValueCap: options.segmentValueCap ?? DEFAULT_STATE_LIMITS.segmentValueCap,
    dedupWindowSeconds: options.dedupWindowSeconds ?? DEFAULT_STATE_LIMITS.dedupWindowSeconds,
    userTotalLimit,
  };
}
