/**
 * Defaults of the state bounds, in one place for every store.
 */
import { MAX_USER_TOTAL } from '../../common/event-contract.js';
import { toScaledValue } from '../counters/exact-value.js';
import type { StateLimits } from './types.js';

/** Documented defaults: 50 values per dimension, a 24 h de-dup window, totals within ±MAX_USER_TOTAL. */
export const DEFAULT_STATE_LIMITS: Readonly<StateLimits> = Object.freeze({
  segmentValueCap: 50,
  dedupWindowSeconds: 86_400,
  userTotalLimit: toScaledValue(MAX_USER_TOTAL),
});

/** Fills in the defaults. */
export function resolveStateLimits(options: Partial<StateLimits>): StateLimits {
  return {
    segmentValueCap: options.segmentValueCap ?? DEFAULT_STATE_LIMITS.segmentValueCap,
    dedupWindowSeconds: options.dedupWindowSeconds ?? DEFAULT_STATE_LIMITS.dedupWindowSeconds,
    userTotalLimit: options.userTotalLimit ?? DEFAULT_STATE_LIMITS.userTotalLimit,
  };
}
