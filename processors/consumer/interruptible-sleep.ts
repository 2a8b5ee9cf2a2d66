/**
 * A sleep that ends early when the consumer is stopping, so SIGTERM never waits out a poll
 * interval or a backoff delay.
 */

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function interruptibleSleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
