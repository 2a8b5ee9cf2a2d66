/**
 * One classification of Kinesis errors for every component (the collector's PutRecords, the
 * processors' readers, the dead-letter stream, the tools), by the service's error names (stable
 * across SDK versions, and identical from kinesalite) and the HTTP answer:
 *
 *   throttle           ProvisionedThroughputExceededException, LimitExceededException,
 *                      KMSThrottlingException, ThrottlingException            → retry with backoff
 *   transient fault    InternalFailure(Exception), ServiceUnavailable(Exception), any 5xx or
 *                      `$fault: 'server'`, or no HTTP answer at all (a network error code,
 *                      a timeout, an abort)                                      → retry with backoff
 *   expired iterator   ExpiredIteratorException                                → new iterator
 *   anything else      a missing stream, denied access, a validation error    → fail at once:
 *                      retrying only delays the alarm
 */
import { PipelineError } from '../errors.js';

/** Error names (of a call, or of one PutRecords entry's `ErrorCode`) that mean "slow down". */
export const KINESIS_THROTTLING_ERRORS: ReadonlySet<string> = new Set([
  'ProvisionedThroughputExceededException',
  'LimitExceededException',
  'KMSThrottlingException',
  'ThrottlingException',
]);

/** Error names of transient server-side faults. */
export const KINESIS_TRANSIENT_ERRORS: ReadonlySet<string> = new Set([
  'InternalFailure',
  'InternalFailureException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
]);

interface SdkErrorShape {
  name?: unknown;
  code?: unknown;
  $fault?: unknown;
  $metadata?: { httpStatusCode?: number };
}

const shapeOf = (error: unknown): SdkErrorShape => (error !== null && typeof error === 'object' ? error : {});
const nameOf = (error: unknown): string | undefined => {
  const name = shapeOf(error).name;
  return typeof name === 'string' ? name : undefined;
};

/** A throttle: the error of a call, or an entry's `ErrorCode` string. */
export function isKinesisThrottle(error: unknown): boolean {
  const name = typeof error === 'string' ? error : nameOf(error);
  return name !== undefined && KINESIS_THROTTLING_ERRORS.has(name);
}

/** The shard iterator is older than 5 minutes: get a new one from the checkpoint. */
export function isExpiredIterator(error: unknown): boolean {
  return nameOf(error) === 'ExpiredIteratorException';
}

/**
 * True for throttles and transient faults (see the module comment): what a Kinesis call may retry.
 *
 * @example
 *   isRetriableKinesisError({ name: 'KMSThrottlingException' })                        // → true
 *   isRetriableKinesisError({ name: 'Error', code: 'ECONNRESET' })                      // → true
 *   isRetriableKinesisError({ name: 'ResourceNotFoundException', $metadata: { httpStatusCode: 400 } }) // → false
 */
export function isRetriableKinesisError(error: unknown): boolean {
  const name = nameOf(error);
  if (name !== undefined && (KINESIS_THROTTLING_ERRORS.has(name) || KINESIS_TRANSIENT_ERRORS.has(name))) return true;
  const shape = shapeOf(error);
  if (shape.$fault === 'server') return true;
  const status = shape.$metadata?.httpStatusCode;
  if (status !== undefined) return status >= 500;
  // No HTTP answer at all: connection reset or refused (a Node error code), a timeout, an abort.
  return typeof shape.code === 'string' || name === 'TimeoutError' || name === 'AbortError';
}

/**
 * Turns the SDK error of a whole Kinesis call into a PipelineError: `SINK_THROTTLED` for a
 * throttle, else `SINK_FAILED`, retriable exactly when `isRetriableKinesisError` says so.
 *
 * @example classifyKinesisError(error, 'PutRecords', 'ExperimentEvents-dlq').retriable
 */
export function classifyKinesisError(error: unknown, operation: string, streamName: string): PipelineError {
  if (isKinesisThrottle(error)) {
    return new PipelineError('SINK_THROTTLED', `Kinesis throttled ${operation} on ${streamName}`, { cause: error });
  }
  return new PipelineError('SINK_FAILED', `${operation} on ${streamName} failed: ${nameOf(error) || 'Error'}`, {
    cause: error,
    retriable: isRetriableKinesisError(error),
  });
}
