/**
 * What every page receives: the abort signal of this visit (aborted on navigation), the
 * sign-in settings, navigation, a place to register timers to stop, and the title setter.
 */
import type { UiConfig } from '../api-types.js';

export interface PageContext {
  signal: AbortSignal;
  config: UiConfig;
  navigate(path: string, replace?: boolean): void;
  /** Runs when the reader leaves the page (clear intervals here). */
  onDispose(dispose: () => void): void;
  setTitle(title: string): void;
}

/** Runs `work` over `items` with at most `limit` at a time; stops starting new work once `signal` aborts. */
export async function withConcurrency<T>(
  items: readonly T[],
  limit: number,
  signal: AbortSignal,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length && !signal.aborted) {
      const item = items[next++] as T;
      await work(item).catch(() => undefined);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
