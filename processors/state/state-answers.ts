/**
 * A store's answers to one `apply` call, in columns: entry `i` answers request `i`. A batch of
 * 20,000 events used to come back as 20,000 outcome objects; they lived as long as the batch
 * (the aggregation and a cell's re-derivation read them), so V8 allocated them straight in the
 * old generation, where each cost an allocation, its field stores and a share of a full
 * collection. Here an answer is a byte, a double and up to three references into arrays made
 * once per call (`npm run bench -- pipeline-core`; bench/README.md, "Where the allocations are").
 *
 * The object form (`StateOutcome`, types.ts) stays the contract's vocabulary: `outcome(i)` and
 * `outcomes()` build it for tests and diagnostics, and `StateAnswers.of` builds answers from it.
 *
 * A total before the event is an exact integer (|total| ≤ userTotalLimit ≤ 2^52, limits.ts), so
 * `NaN` is free to mean "none yet" (the user's first event of that variant and metric).
 *
 * @example
 *   const answers = new StateAnswers(2);
 *   answers.applied(0, false, segments, undefined, NONE, NONE); // a user's first event
 *   answers.answer(1, ANSWER.duplicate);
 *   answers.outcome(1); // → { kind: 'duplicate' }
 */
import { PipelineError } from '../../common/errors.js';
import type { StateOutcome } from './types.js';

/** How a request was answered (`StateAnswers.kinds`). 0: not answered yet. */
export const ANSWER = Object.freeze({
  /** Counted now: the event's contribution goes to its cells. */
  applied: 1,
  /** Applied before (a replay of this very record): its memoized answer, counted again in the cells it is missing from. */
  replayed: 2,
  /** Another record holds the eventId's claim (a producer retry): counts nothing. */
  duplicate: 3,
  /** At or before the shard's committed position: every cell holds it already. */
  committed: 4,
  /** The user's total would leave ±userTotalLimit: nothing changed; the record is dead-lettered. */
  refused: 5,
});

/** The answers without data (`ANSWER.duplicate`, `committed`, `refused`). */
export type PlainAnswer = typeof ANSWER.duplicate | typeof ANSWER.committed | typeof ANSWER.refused;

type Segments = readonly (readonly [string, string])[];
type Covariates = readonly (readonly [string, number])[];
type PartnerTotals = readonly (number | undefined)[];

/** The one empty list answers share (never mutated). */
const NONE: readonly never[] = Object.freeze([]);

const COMMITTED: StateOutcome = Object.freeze({ kind: 'committed' });
const DUPLICATE: StateOutcome = Object.freeze({ kind: 'duplicate' });
const REFUSED: StateOutcome = Object.freeze({ kind: 'refused', rule: 'user-total-limit' });

export class StateAnswers {
  /** Per request, its `ANSWER` (0 until answered). */
  readonly kinds: Uint8Array;
  /** Per applied or replayed request, the user's total before it; NaN when none yet. */
  readonly totalsBefore: Float64Array;
  /** Per applied or replayed request, the user's segments (fixed at their first event; capped values read `(other)`). */
  readonly segments: Segments[];
  /** Per applied or replayed request with covariates, the user's (fixed at their first event); unset: none. */
  readonly #covariates: (Covariates | undefined)[];
  /** Per applied or replayed request with partners, their running totals at it; unset: none. */
  readonly #partnerTotals: (PartnerTotals | undefined)[];

  constructor(readonly length: number) {
    this.kinds = new Uint8Array(length);
    this.totalsBefore = new Float64Array(length);
    this.segments = new Array<Segments>(length);
    this.#covariates = new Array<Covariates | undefined>(length);
    this.#partnerTotals = new Array<PartnerTotals | undefined>(length);
  }

  /** The answers the outcomes say, in their order. */
  static of(outcomes: readonly StateOutcome[]): StateAnswers {
    const answers = new StateAnswers(outcomes.length);
    outcomes.forEach((outcome, index) => {
      if (outcome.kind === 'applied') {
        answers.applied(
          index,
          outcome.replay,
          outcome.segments,
          outcome.totalBefore,
          outcome.covariates,
          outcome.partnerTotals,
        );
      } else {
        answers.answer(
          index,
          outcome.kind === 'duplicate'
            ? ANSWER.duplicate
            : outcome.kind === 'committed'
              ? ANSWER.committed
              : ANSWER.refused,
        );
      }
    });
    return answers;
  }

  /** Answers request `index` applied (`replay`: from its memo). Empty covariates and partner totals may be shared. */
  applied(
    index: number,
    replay: boolean,
    segments: Segments,
    totalBefore: number | undefined,
    covariates: Covariates,
    partnerTotals: PartnerTotals,
  ): void {
    this.kinds[index] = replay ? ANSWER.replayed : ANSWER.applied;
    this.totalsBefore[index] = totalBefore ?? NaN;
    this.segments[index] = segments;
    if (covariates.length > 0) this.#covariates[index] = covariates;
    if (partnerTotals.length > 0) this.#partnerTotals[index] = partnerTotals;
  }

  /** Answers request `index` with an answer that carries no data. */
  answer(index: number, kind: PlainAnswer): void {
    this.kinds[index] = kind;
  }

  /** True when request `index` was applied, now or before (its contribution goes to the cells it is missing from). */
  counts(index: number): boolean {
    const kind = this.kinds[index];
    return kind === ANSWER.applied || kind === ANSWER.replayed;
  }

  /** The user's total before request `index` (applied or replayed); undefined: its first event. */
  totalBefore(index: number): number | undefined {
    const total = this.totalsBefore[index] as number;
    return Number.isNaN(total) ? undefined : total;
  }

  /** The user's covariates at request `index` (applied or replayed); empty when none. */
  covariates(index: number): Covariates {
    return this.#covariates[index] ?? NONE;
  }

  /** The partners' running totals at request `index` (applied or replayed); empty when it named none. */
  partnerTotals(index: number): PartnerTotals {
    return this.#partnerTotals[index] ?? NONE;
  }

  /** Replaces the partner totals of request `index` (a store aligning a replay's memo to the request). */
  setPartnerTotals(index: number, partnerTotals: PartnerTotals): void {
    this.#partnerTotals[index] = partnerTotals.length > 0 ? partnerTotals : undefined;
  }

  /** The answer to request `index` as the contract's object (tests, diagnostics). */
  outcome(index: number): StateOutcome {
    const kind = this.kinds[index];
    if (kind === ANSWER.applied || kind === ANSWER.replayed) {
      return {
        kind: 'applied',
        replay: kind === ANSWER.replayed,
        segments: this.segments[index] as Segments,
        totalBefore: this.totalBefore(index),
        covariates: this.covariates(index),
        partnerTotals: this.partnerTotals(index),
      };
    }
    if (kind === ANSWER.duplicate) return DUPLICATE;
    if (kind === ANSWER.committed) return COMMITTED;
    if (kind === ANSWER.refused) return REFUSED;
    throw new PipelineError('INTERNAL', `state answer ${index} of ${this.length} was never given`);
  }

  /** Every answer as the contract's objects. */
  outcomes(): StateOutcome[] {
    return Array.from({ length: this.length }, (_, index) => this.outcome(index));
  }
}
