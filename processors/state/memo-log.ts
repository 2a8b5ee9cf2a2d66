/**
 * The memos of one shard's uncommitted records, kept by the in-process store beside its users
 * instead of on them (state-rules.ts, `StateTables.memoLog`): four parallel arrays in record
 * order, cut at the front when the shard commits.
 *
 * Why a log: one writer applies a shard's records in order, and after a failure starts again
 * at or before the failed batch, so a record that is new is always after every memo held, and
 * a record at or before the last memo is a replay (or was never memoized: a duplicate, or one
 * applied before its user was evicted). Per event that is one string comparison and four array
 * pushes, where memos on the running totals cost a tuple, often an array, the store's list of
 * running totals holding memos and a pass over them at each commit; and the memos of a
 * committed batch go all at once, without visiting a user.
 *
 * A memo answers only for the running total it was written for: a user forgotten (evicted, or
 * its experiment forgotten) and met again has new running totals, so its old records' memos no
 * longer answer, exactly as if they had been kept on the user and gone with it.
 *
 * @example
 *   const log = new ShardMemoLog();
 *   log.add(running, position, 0, undefined); // as the rules apply the record
 *   log.find(running, position);              // → [position, 0] on a replay
 *   log.commit(position);                      // the shard committed: the memo goes
 */
import type { Memo, MemoLog, RunningTotal } from './state-rules.js';

/** Dropped entries after which the front of the arrays is cut (each entry moves at most once per halving). */
const COMPACT_AFTER = 1024;

export class ShardMemoLog implements MemoLog {
  /** Record positions (`recordPosition`), ascending from `#head`. */
  #positions: string[] = [];
  #runnings: (RunningTotal | undefined)[] = [];
  #befores: Memo[1][] = [];
  #partners: (readonly (number | undefined)[] | undefined)[] = [];
  /** The first entry held (the ones before it are committed and cleared). */
  #head = 0;

  /** Memos held. */
  get size(): number {
    return this.#positions.length - this.#head;
  }

  /** The memo of the record at `position` for `running`, if the log holds one. */
  find(running: RunningTotal, position: string): Memo | undefined {
    const positions = this.#positions;
    const end = positions.length;
    if (end === this.#head || position > (positions[end - 1] as string)) return undefined; // a new record
    const index = this.#lowerBound(position);
    if (index === end || positions[index] !== position || this.#runnings[index] !== running) return undefined;
    const partners = this.#partners[index];
    const before = this.#befores[index];
    return partners === undefined ? [position, before] : [position, before, partners];
  }

  /**
   * Memoizes the record at `position`: appended when it is after every memo held (always, with
   * one writer per shard); otherwise put in its place, replacing a memo of the same position.
   */
  add(
    running: RunningTotal,
    position: string,
    before: Memo[1],
    partnerTotals: readonly (number | undefined)[] | undefined,
  ): void {
    const positions = this.#positions;
    const end = positions.length;
    if (end === this.#head || position > (positions[end - 1] as string)) {
      positions.push(position);
      this.#runnings.push(running);
      this.#befores.push(before);
      this.#partners.push(partnerTotals);
      return;
    }
    const index = this.#lowerBound(position);
    const replace = index < end && positions[index] === position ? 1 : 0;
    positions.splice(index, replace, position);
    this.#runnings.splice(index, replace, running);
    this.#befores.splice(index, replace, before);
    this.#partners.splice(index, replace, partnerTotals);
  }

  /** Drops the memos at or before `position` (the shard's committed position, a `recordPosition`). */
  commit(position: string): void {
    const positions = this.#positions;
    let head = this.#head;
    while (head < positions.length && (positions[head] as string) <= position) {
      this.#runnings[head] = undefined; // lets the running total go
      this.#partners[head] = undefined;
      head++;
    }
    this.#head = head;
    if (head === positions.length) this.#clear();
    else if (head >= COMPACT_AFTER && head * 2 >= positions.length) {
      this.#positions = positions.slice(head);
      this.#runnings = this.#runnings.slice(head);
      this.#befores = this.#befores.slice(head);
      this.#partners = this.#partners.slice(head);
      this.#head = 0;
    }
  }

  #clear(): void {
    this.#positions = [];
    this.#runnings = [];
    this.#befores = [];
    this.#partners = [];
    this.#head = 0;
  }

  /** The first index from `#head` whose position is not below `position`. */
  #lowerBound(position: string): number {
    const positions = this.#positions;
    let low = this.#head;
    let high = positions.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((positions[middle] as string) < position) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}
