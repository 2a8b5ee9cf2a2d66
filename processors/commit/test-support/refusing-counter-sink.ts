/**
 * Test helper: a REAL counter sink wrapped so that a batch holding a marked event is
 * refused before anything is written, with a non-retriable `PipelineError` — the way a
 * sink refuses a record it can never take (a value whose sums would not fit, an
 * unrepresentable date), or, with `STATE_LOST`, the way the state store reports lost state.
 * Not a test file itself.
 */
import { PipelineError, type ErrorCode } from '../../../common/errors.js';
import type { CounterSink, ValidEvent } from '../../types.js';

/** A counter sink that refuses marked events, and what it refused. */
export interface RefusingCounterSink extends CounterSink {
  /** Calls refused so far. */
  readonly refusals: number;
}

/**
 * Wraps `real`: `writeBatch` throws `new PipelineError(code, …)` (not retriable) when any
 * event of the batch satisfies `refuse`, else delegates.
 *
 * @example
 *   const counters = refusingCounterSink(createCounterSink(deps), (e) => e.event.userId.startsWith('poison-'));
 */
export function refusingCounterSink(
  real: CounterSink,
  refuse: (event: ValidEvent) => boolean,
  code: ErrorCode = 'RECORD_REJECTED',
): RefusingCounterSink {
  let refusals = 0;
  return {
    get refusals() {
      return refusals;
    },
    async writeBatch(shardId, events) {
      const refused = events.find(refuse);
      if (refused) {
        refusals += 1;
        throw new PipelineError(code, `injected: the counter sink refuses event ${refused.event.eventId}`, {
          retriable: false,
        });
      }
      return real.writeBatch(shardId, events);
    },
  };
}
