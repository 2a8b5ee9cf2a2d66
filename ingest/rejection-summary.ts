/**
 * The bounded account of a request's problems that goes into the collector's answer: the first
 * `MAX_LISTED_REJECTIONS` problems by event index (each field and message cut to a fixed length),
 * the total, a count per rule, and the complete index lists a producer needs to act on every
 * event (which were invalid, which to send again). Whatever the body holds, the answer stays
 * under a constant size and building it costs O(problems · log N) time and O(N + events) memory.
 */
import type { EventRejection } from '../common/event-contract.js';

/** Problems listed one by one in an answer; the rest are only counted. */
export const MAX_LISTED_REJECTIONS = 100;
/** Longest `field` in a listed problem (an unknown field's name is the client's text). */
export const MAX_REJECTION_FIELD_CHARS = 96;
/** Longest `message` in a listed problem. */
export const MAX_REJECTION_MESSAGE_CHARS = 240;

/** The rule of a valid event the stream did not accept (safe to send again). */
export const STREAM_WRITE_FAILED = 'stream-write-failed';

/** What an answer says about the problems of a request. */
export interface RejectionReport {
  /** The first `MAX_LISTED_REJECTIONS` problems, ordered by event index. */
  rejected: EventRejection[];
  /** Every problem, listed or not. */
  rejectedTotal: number;
  /** Problems per rule, over all of them. */
  rejectedByRule: Record<string, number>;
  /** Every event refused by validation (ascending, each once). */
  invalidIndexes: number[];
  /** Every valid event the stream did not accept: send these again (ascending, each once). */
  retryIndexes: number[];
}

const cut = (text: string, max: number): string =>
  text.length > max ? `${text.slice(0, max - 1).toWellFormed()}…` : text;

const byIndex = (a: EventRejection, b: EventRejection): number => a.index - b.index;

/**
 * Collects a request's problems and keeps only what the answer will show.
 *
 * @example
 *   const summary = new RejectionSummary();
 *   for (const r of validation.rejections) summary.add(r);
 *   reply.send({ accepted, ...summary.report() });
 */
export class RejectionSummary {
  private listed: EventRejection[] = [];
  private total = 0;
  private readonly byRule = new Map<string, number>();
  private readonly invalid = new Set<number>();
  private readonly retry = new Set<number>();

  constructor(private readonly maxListed: number = MAX_LISTED_REJECTIONS) {}

  /** Records one problem. */
  add(rejection: EventRejection): void {
    this.total++;
    this.byRule.set(rejection.rule, (this.byRule.get(rejection.rule) ?? 0) + 1);
    if (rejection.rule === STREAM_WRITE_FAILED) this.retry.add(rejection.index);
    else this.invalid.add(rejection.index);
    this.listed.push(rejection);
    // Amortised: sort and cut back whenever the list doubles, so it never holds more than 2N.
    if (this.listed.length >= 2 * this.maxListed) this.listed = this.listed.sort(byIndex).slice(0, this.maxListed);
  }

  /** Records several problems. */
  addAll(rejections: Iterable<EventRejection>): void {
    for (const rejection of rejections) this.add(rejection);
  }

  /** Problems recorded so far. */
  get count(): number {
    return this.total;
  }

  /** Problems per rule (for metrics). */
  rules(): ReadonlyMap<string, number> {
    return this.byRule;
  }

  /** The answer's view: bounded list, counts and complete index lists. */
  report(): RejectionReport {
    const rejected = this.listed
      .sort(byIndex)
      .slice(0, this.maxListed)
      .map((r) => ({
        index: r.index,
        field: cut(r.field, MAX_REJECTION_FIELD_CHARS),
        rule: r.rule,
        message: cut(r.message, MAX_REJECTION_MESSAGE_CHARS),
      }));
    return {
      rejected,
      rejectedTotal: this.total,
      rejectedByRule: Object.fromEntries(this.byRule),
      invalidIndexes: [...this.invalid].sort((a, b) => a - b),
      retryIndexes: [...this.retry].sort((a, b) => a - b),
    };
  }
}
