/**
 * The Assignment and Flag Evaluation functions answer two kinds of callers with one handler:
 * SDK clients invoking them directly (the payload is the request, the result is the answer)
 * and HTTP clients calling their function URL (`AWS_IAM` auth: a SigV4-signed `POST` with a
 * JSON body; Lambda hands over a payload-format-2.0 event). `withFunctionUrl` tells them apart
 * by the event's `requestContext.http`, parses the body, and maps an error object to its HTTP
 * status (common/errors.ts), so both callers get the same answers.
 *
 * @example
 *   export const handler = withFunctionUrl(assign); // assign: (payload) => Promise<Answer | InvocationError>
 */
import { ERROR_CODES, PipelineError, type ErrorCode } from '../common/errors.js';
import { toInvocationError, type InvocationError } from './invocation.js';

/** The parts of a function URL event (payload format 2.0) this adapter reads. */
export interface FunctionUrlEvent {
  version: string;
  requestContext: { http: { method: string } };
  body?: string;
  isBase64Encoded?: boolean;
}

export interface FunctionUrlResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/** True for a function URL invocation (payload format 2.0), false for a direct SDK payload. */
export function isFunctionUrlEvent(payload: unknown): payload is FunctionUrlEvent {
  if (payload === null || typeof payload !== 'object') return false;
  const { requestContext, version } = payload as Record<string, unknown>;
  const http = (requestContext as { http?: unknown } | undefined)?.http;
  return version === '2.0' && http !== null && typeof http === 'object';
}

function statusOf(answer: unknown): number {
  const code = (answer as Partial<InvocationError> | null)?.error?.code;
  return code !== undefined && code in ERROR_CODES ? ERROR_CODES[code as ErrorCode].status : 200;
}

function respond(answer: unknown, status = statusOf(answer)): FunctionUrlResult {
  return {
    statusCode: status,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
    body: JSON.stringify(answer),
  };
}

/** The request a function URL event carries: its JSON body. */
function requestOf(event: FunctionUrlEvent): unknown {
  if (event.requestContext.http.method !== 'POST') {
    throw new PipelineError('VALIDATION_FAILED', 'method: send the request as POST with a JSON body', {
      details: [{ field: 'method', rule: 'post-only', message: 'method must be POST' }],
    });
  }
  const text = event.isBase64Encoded ? Buffer.from(event.body ?? '', 'base64').toString('utf8') : (event.body ?? '');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new PipelineError('BODY_UNPARSEABLE', 'body: the request body is not JSON', { cause: error });
  }
}

/** Wraps a direct-invocation handler so it also serves function URL requests. */
export function withFunctionUrl<Answer>(
  handle: (payload: unknown) => Promise<Answer | InvocationError>,
): (event: unknown) => Promise<Answer | InvocationError | FunctionUrlResult> {
  return async (event) => {
    if (!isFunctionUrlEvent(event)) return handle(event);
    let request: unknown;
    try {
      request = requestOf(event);
    } catch (error) {
      const answer = toInvocationError(error);
      return respond(answer);
    }
    return respond(await handle(request));
  };
}
