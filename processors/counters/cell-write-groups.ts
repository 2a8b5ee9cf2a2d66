/**
 * When the batches of several shards read by one process reach their cell writes together, they
 * are written as one group (merged-cell-writes.ts: one UpdateItem per cell for all of them).
 *
 * A batch *enters* when the counter sink starts on it and *submits* its cells once they are
 * aggregated. A submission waits while other batches have entered but not submitted yet (they
 * are in their state step or aggregation, and will write the same cells), at most `maxWaitMs`
 * from the group's first submission (from the end of its join window, below, when that
 * submission was alone); then the group is written. A batch that leaves without
 * submitting (it failed, or it had nothing to write) is no longer waited for. With one batch in
 * the sink, as on a single shard or in a Lambda invocation, a submission is written after the
 * next poll phase of the event loop (`#joinWindow`): the shard readers of one process flush on one
 * grid (consumer/shard-reader.ts), and the reads of the others complete while the first batch
 * runs its state step synchronously, so they enter the sink a turn of the loop after it submits.
 *
 * Timing only: what is written, and how each batch learns its outcome, is the writer's
 * (`write`, given the group's submissions in order; it settles each one).
 *
 * @example
 *   const groups = new CellWriteGroups((batches) => writeShardCells(deps, batches), 100);
 *   const ticket = groups.enter();
 *   try { …state, aggregation…; const { requests } = await ticket.submit(shardId, cells); }
 *   finally { ticket.leave(); }
 */
import { PipelineError } from '../../common/errors.js';
import type { CellDelta } from './aggregate.js';
import type { ShardCells } from './merged-cell-writes.js';

/** What the writer of a group answers for each of its batches, in order. */
export type GroupWriter = (
  batches: readonly ShardCells[],
) => Promise<readonly PromiseSettledResult<{ requests: number }>[]>;

/** A batch's place in the groups, from entering the sink to leaving it. */
export interface GroupTicket {
  /** Writes the batch's cells with the group it joins; resolves with its DynamoDB requests, or rejects with its error. */
  submit(shardId: string, cells: readonly CellDelta[]): Promise<{ requests: number }>;
  /** The batch leaves the sink (always called; after `submit`, or instead of it when the batch failed before). */
  leave(): void;
}

interface Submission extends ShardCells {
  resolve(value: { requests: number }): void;
  reject(reason: unknown): void;
}

/** Most batches of one group: a merged UpdateItem carries one condition and watermark per batch. */
export const MAX_GROUP_BATCHES = 8;

export class CellWriteGroups {
  /** Batches that entered and have neither submitted nor left. */
  #open = 0;
  /** The submissions of the group being gathered. */
  #gathering: Submission[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The join window of a group whose first submission found no other batch in the sink (`#closeIfReady`). */
  #joining: ReturnType<typeof setImmediate> | undefined;

  constructor(
    private readonly write: GroupWriter,
    /** Longest wait of a group's first submission for the other batches in the sink (0: no wait). */
    private readonly maxWaitMs: number,
  ) {}

  enter(): GroupTicket {
    this.#open++;
    let state: 'open' | 'submitted' | 'left' = 'open';
    return {
      submit: (shardId, cells) => {
        if (state !== 'open')
          return Promise.reject(new PipelineError('INTERNAL', `cell write ticket already ${state}`));
        state = 'submitted';
        this.#open--;
        return new Promise((resolve, reject) => {
          this.#gathering.push({ shardId, cells, resolve, reject });
          this.#closeIfReady();
        });
      },
      leave: () => {
        if (state !== 'open') return;
        state = 'left';
        this.#open--;
        this.#closeIfReady();
      },
    };
  }

  /** Closes the group once nobody else is coming (or it is full), else makes sure it closes in time. */
  #closeIfReady(): void {
    if (this.#gathering.length === 0) return;
    if (this.#gathering.length >= MAX_GROUP_BATCHES || this.maxWaitMs <= 0) {
      this.#close();
      return;
    }
    if (this.#open > 0) {
      this.#timer ??= setTimeout(() => this.#close(), this.maxWaitMs);
      return;
    }
    this.#joining ??= this.#joinWindow();
  }

  /**
   * Nobody else is in the sink: the group stays open until the check phase after the event loop's
   * next poll phase (two `setImmediate` turns), then closes, or waits for the batches that entered
   * meanwhile. A batch's state step runs synchronously, so a read that completed during it (another
   * shard's batch due at the same grid instant) is only seen by that next poll phase; closing at
   * once wrote every live batch alone. What it costs a batch that is alone: two turns of the loop.
   */
  #joinWindow(): ReturnType<typeof setImmediate> {
    return setImmediate(() => {
      this.#joining = setImmediate(() => {
        this.#joining = undefined;
        if (this.#open === 0) this.#close();
        else this.#closeIfReady();
      });
    });
  }

  /**
   * Writes the group gathered (never empty: `#closeIfReady` is the only way here but the timer and the
   * join window it starts, which `#close` clears).
   */
  #close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    clearImmediate(this.#joining);
    this.#joining = undefined;
    const group = this.#gathering;
    this.#gathering = [];
    this.write(group).then(
      (settled) => {
        group.forEach((submission, index) => {
          const outcome = settled[index];
          if (outcome === undefined)
            submission.reject(
              new PipelineError('INTERNAL', `cell writer settled ${settled.length} of ${group.length} batches`),
            );
          else if (outcome.status === 'fulfilled') submission.resolve(outcome.value);
          else submission.reject(outcome.reason);
        });
      },
      (error: unknown) => {
        for (const submission of group) submission.reject(error);
      },
    );
  }
}
