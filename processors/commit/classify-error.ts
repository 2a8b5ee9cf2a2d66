/**
 * The one classification of a batch error, made once in the commit step:
 *
 * | class          | errors                                             | what the commit step does                         |
 * | -------------- | -------------------------------------------------- | ------------------------------------------------- |
 * | `retry`        | retriable `PipelineError`s (throttling, outages)   | retries with backoff; then the adapter takes over |
 * | `state-lost`   | `STATE_LOST`                                       | stops: no bisection, no dead letter, no checkpoint |
 * | `stopping`     | `SHUTTING_DOWN`                                    | stops; the batch is redelivered after restart     |
 * | `isolate`      | every other error (e.g. `SINK_REJECTED`, `RECORD_REJECTED`) | bisects down to the record and dead-letters it |
 */
import { isPipelineError, isRetriable } from '../../common/errors.js';

/** What to do about an error of a batch (see the module comment). */
export type CommitErrorClass = 'retry' | 'state-lost' | 'stopping' | 'isolate';

/**
 * Classifies `error`.
 *
 * @example
 *   classifyCommitError(new PipelineError('SINK_REJECTED', 'Σx² does not fit')) // 'isolate'
 */
export function classifyCommitError(error: unknown): CommitErrorClass {
  if (isPipelineError(error) && error.code === 'STATE_LOST') return 'state-lost';
  if (isPipelineError(error) && error.code === 'SHUTTING_DOWN') return 'stopping';
  return isRetriable(error) ? 'retry' : 'isolate';
}

/** `code: message` of an error, for logs and dead-letter reasons. */
export function describeError(error: unknown): string {
  if (isPipelineError(error)) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}
