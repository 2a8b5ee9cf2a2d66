/**
 * The aggregation tests write each event with its state outcome beside it, as the contract's
 * object; `aggregateOutcomes` hands them to `aggregateCounterDeltas` as the events and their
 * answers in columns (`StateAnswers.of`), which is what the counter sink passes.
 */
import { StateAnswers } from '../../state/state-answers.js';
import type { StateOutcome } from '../../state/types.js';
import { aggregateCounterDeltas, type AnsweredEvent, type CellDelta } from '../aggregate.js';

/** An event of a test batch with the store's answer to it as an object. */
export interface OutcomeOfEvent extends AnsweredEvent {
  outcome: StateOutcome;
}

export function aggregateOutcomes(events: readonly OutcomeOfEvent[]): CellDelta[] {
  return aggregateCounterDeltas(events, StateAnswers.of(events.map((event) => event.outcome)));
}
