/**
 * Typed errors with stable codes. Every error the pipeline raises on purpose is a
 * `PipelineError`: it carries a `code` callers can switch on, a `retriable` flag the
 * retry module honours, an HTTP status for the services, and the `cause`.
 *
 * @example
 *   throw new PipelineError('SINK_THROTTLED', 'DynamoDB throttled the counter write', { cause: err });
 */
export const ERROR_CODES = {
  CONFIG_INVALID: { status: 500, retriable: false },
  EVENT_INVALID: { status: 400, retriable: false },
  BODY_UNPARSEABLE: { status: 400, retriable: false },
  BODY_TOO_LARGE: { status: 413, retriable: false },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, retriable: false },
  UNAUTHORIZED: { status: 401, retriable: false },
  FORBIDDEN: { status: 403, retriable: false },
  NOT_FOUND: { status: 404, retriable: false },
  VALIDATION_FAILED: { status: 400, retriable: false },
  CONFLICT: { status: 409, retriable: false },
  /** `If-Match` named a version that is no longer current (optimistic concurrency). */
  PRECONDITION_FAILED: { status: 412, retriable: false },
  BACKPRESSURE: { status: 429, retriable: true },
  RATE_LIMITED: { status: 429, retriable: true },
  STREAM_UNAVAILABLE: { status: 503, retriable: true },
  SINK_THROTTLED: { status: 503, retriable: true },
  SINK_FAILED: { status: 503, retriable: true },
  SINK_REJECTED: { status: 500, retriable: false },
  DEPENDENCY_UNAVAILABLE: { status: 503, retriable: true },
  CHECKPOINT_FAILED: { status: 500, retriable: true },
  LEASE_LOST: { status: 500, retriable: false },
  /** The exactly-once state store lost data (flushed, restarted empty, evicted, another epoch): stop, never re-count. */
  STATE_LOST: { status: 500, retriable: false },
  /** A record a sink refuses for good (over a limit, unrepresentable): dead-letter it, never retry it. */
  RECORD_REJECTED: { status: 500, retriable: false },
  /** One user's stored exactly-once state cannot be read: that user's records are dead-lettered, the others go on. */
  STATE_CORRUPT: { status: 500, retriable: false },
  SHUTTING_DOWN: { status: 503, retriable: true },
  /** An optional integration is not configured (e.g. ANTHROPIC_API_KEY unset): the message names the variable. */
  FEATURE_NOT_CONFIGURED: { status: 503, retriable: false },
  /** A third-party API failed (error status, unreachable, timed out) after the retries; no internals leak. */
  UPSTREAM_FAILED: { status: 502, retriable: false },
  /** A model's output stayed unusable (no JSON, or invalid against the schema) after the allowed retry. */
  MODEL_OUTPUT_INVALID: { status: 422, retriable: false },
  INTERNAL: { status: 500, retriable: false },
} as const satisfies Record<string, { status: number; retriable: boolean }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface PipelineErrorOptions {
  cause?: unknown;
  /** Overrides the code's default retriability (e.g. a 4xx from a sink that is really transient). */
  retriable?: boolean;
  /** Structured, client-safe detail (field errors, retry hints). */
  details?: unknown;
}

export class PipelineError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly statusCode: number;
  readonly details: unknown;

  constructor(code: ErrorCode, message: string, options: PipelineErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PipelineError';
    this.code = code;
    this.retriable = options.retriable ?? ERROR_CODES[code].retriable;
    this.statusCode = ERROR_CODES[code].status;
    this.details = options.details;
  }
}

export function isPipelineError(error: unknown): error is PipelineError {
  return error instanceof PipelineError;
}

/** True when an error is worth retrying: typed errors say so; unknown errors are treated as bugs. */
export function isRetriable(error: unknown): boolean {
  return isPipelineError(error) && error.retriable;
}
