/**
 * The one retry module. Exponential backoff with full jitter:
 *
 *   delay(attempt) = random(0, min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1)))
 *
 * (attempt counts from 1 for the first retry). Full jitter spreads retries of many
 * clients that failed together (AWS Architecture Blog, "Exponential Backoff and Jitter").
 * Attempts are bounded; errors that are not retriable (programming errors, validation
 * errors) are rethrown at once.
 */
import { isRetriable } from './errors.js';

export interface RetryPolicy {
  /** Total attempts including the first one. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/** Production defaults: 6 attempts, 50 ms base, capped at 5 s (worst case ~10 s in total). */
export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 6,
  baseDelayMs: 50,
  maxDelayMs: 5_000,
});

/** Full-jitter delay before retry number `attempt` (1-based). `random` is injectable for tests. */
export function backoffDelayMs(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface RetryOptions {
  policy?: RetryPolicy;
  /** Decides whether an error is transient. Defaults to the typed `retriable` flag. */
  shouldRetry?: (error: unknown) => boolean;
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  random?: () => number;
  /**
   * A wait the failed call asked for (an HTTP `Retry-After`), in ms, or undefined. The retry
   * then waits max(backoff, hint); a hint longer than `policy.maxDelayMs` ends the retries
   * (the error is rethrown: the caller should not block that long).
   */
  delayHintMs?: (error: unknown) => number | undefined;
}

/**
 * Runs `operation` until it succeeds, fails with a non-retriable error, or runs out of attempts.
 *
 * @example
 *   const out = await withRetry(() => client.send(cmd), { shouldRetry: isThrottle });
 */
export async function withRetry<T>(operation: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const policy = options.policy ?? DEFAULT_RETRY_POLICY;
  const shouldRetry = options.shouldRetry ?? isRetriable;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      if (attempt >= policy.maxAttempts || !shouldRetry(error)) throw error;
      const hintMs = options.delayHintMs?.(error);
      if (hintMs !== undefined && hintMs > policy.maxDelayMs) throw error;
      const delayMs = Math.max(backoffDelayMs(policy, attempt, options.random), hintMs ?? 0);
      options.onRetry?.(error, attempt, delayMs);
      await sleep(delayMs);
    }
  }
}
