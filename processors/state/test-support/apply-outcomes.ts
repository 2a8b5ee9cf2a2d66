/**
 * The store tests speak the contract's object form: `applyOutcomes(store, …)` is `store.apply(…)`
 * with its answers as `StateOutcome` objects (`StateAnswers.outcomes()`), so a test reads and
 * compares them as plain values.
 */
import type { StateOutcome, StateRequest, UserStateStore } from '../types.js';

export async function applyOutcomes(
  store: Pick<UserStateStore, 'apply'>,
  shardId: string,
  epoch: string,
  requests: readonly StateRequest[],
): Promise<StateOutcome[]> {
  return (await store.apply(shardId, epoch, requests)).outcomes();
}
