/**
 * One JSON POST to an alert service (Slack, SendGrid) through the shared retry module:
 * `429` and `5xx` (and network errors) are retried with full-jitter backoff, waiting at least
 * what `Retry-After` asks (seconds or an HTTP date; SendGrid's `X-RateLimit-Reset` epoch
 * seconds too); a wait longer than the policy's `maxDelayMs` gives up at once. Any other
 * status is refused for good (`SINK_REJECTED`, not retried). Credentials never appear in
 * errors: they name the service and the status only.
 *
 * @example
 *   const response = await postJson({ service: 'Slack', url, headers: { authorization: `Bearer ${t}` }, body });
 */
import { PipelineError } from '../../common/errors.js';
import { withRetry, type RetryPolicy } from '../../common/retry.js';
import { retryAfterMs } from '../../common/retry-after.js';

/** Alert delivery: 4 attempts, 500 ms base, at most 10 s between attempts (a minute's run stays short). */
export const ALERT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 4,
  baseDelayMs: 500,
  maxDelayMs: 10_000,
});

/** Per-attempt timeout of an alert request. */
const REQUEST_TIMEOUT_MS = 10_000;

export interface PostJsonRequest {
  /** Names the service in errors and logs. */
  service: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
  policy?: RetryPolicy;
  fetch?: typeof fetch;
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /** Inspects a 2xx body: an error to throw (retried when retriable) when the service says it failed. */
  bodyError?: (json: unknown) => PipelineError | undefined;
}

export interface PostJsonResponse {
  status: number;
  /** Parsed JSON body; undefined when empty or not JSON. */
  json: unknown;
}

const delayHint = (error: unknown): number | undefined => {
  if (!(error instanceof PipelineError)) return undefined;
  const details = error.details as { retryAfterMs?: unknown } | undefined;
  return typeof details?.retryAfterMs === 'number' ? details.retryAfterMs : undefined;
};

async function readJson(response: Response): Promise<unknown> {
  const text = await response.text();
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** POSTs `body` as JSON; resolves with a 2xx response, rejects with a typed error otherwise. */
export async function postJson(request: PostJsonRequest): Promise<PostJsonResponse> {
  const send = request.fetch ?? fetch;
  return withRetry(
    async () => {
      let response: Response;
      try {
        response = await send(request.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json; charset=utf-8', ...request.headers },
          body: JSON.stringify(request.body),
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
      } catch (error) {
        throw new PipelineError('SINK_FAILED', `${request.service} could not be reached`, { cause: error });
      }
      const json = await readJson(response);
      if (response.ok) {
        const refused = request.bodyError?.(json);
        if (refused) throw refused;
        return { status: response.status, json };
      }
      const transient = response.status === 429 || response.status >= 500;
      const hint = retryAfterMs(response.headers, Date.now());
      throw new PipelineError(
        transient ? 'SINK_FAILED' : 'SINK_REJECTED',
        `${request.service} answered ${response.status}${transient ? '' : ' (not retried)'}`,
        { details: { status: response.status, ...(hint === undefined ? {} : { retryAfterMs: hint }) } },
      );
    },
    {
      policy: request.policy ?? ALERT_RETRY_POLICY,
      delayHintMs: delayHint,
      ...(request.onRetry ? { onRetry: request.onRetry } : {}),
    },
  );
}
