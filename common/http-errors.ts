/**
 * HTTP error mapping in one place for every Fastify service: typed `PipelineError`s
 * keep their code and status; Fastify's own errors (body too large, bad media type,
 * schema validation) are translated to our codes; anything else is a 500 whose message
 * never leaks internals. Body shape: `{ error: { code, message, details? } }`.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyTypeProvider } from 'fastify';
import { ERROR_CODES, isPipelineError, type ErrorCode } from './errors.js';

const FASTIFY_CODE_MAP: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BODY_UNPARSEABLE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BODY_UNPARSEABLE',
  FST_ERR_CTP_INVALID_JSON_BODY: 'BODY_UNPARSEABLE',
  FST_ERR_VALIDATION: 'VALIDATION_FAILED',
};

/**
 * Schema validation answers list at most this many problems (the rest are counted), and
 * each field path at most FIELD_PATH_LIMIT characters: an answer never grows with the
 * request (a body of 30,000 bad array items once made a 3 MB 400).
 */
export const MAX_VALIDATION_DETAILS = 20;
const FIELD_PATH_LIMIT = 200;

const clip = (text: string, limit: number) => (text.length > limit ? `${text.slice(0, limit)}…` : text);

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

/** Sends a typed error response (used by handlers that answer errors without throwing). */
export function sendError(reply: FastifyReply, code: ErrorCode, message: string, details?: unknown): FastifyReply {
  const body: ErrorBody = { error: { code, message, ...(details === undefined ? {} : { details }) } };
  return reply.code(ERROR_CODES[code].status).send(body);
}

function retryAfterSeconds(details: unknown): number | undefined {
  const value = (details as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
  return typeof value === 'number' ? value : undefined;
}

/** Installs the shared error handler and a JSON 404. */
export function registerErrorHandling<Log extends FastifyBaseLogger, Provider extends FastifyTypeProvider>(
  app: FastifyInstance<Server, IncomingMessage, ServerResponse, Log, Provider>,
): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (isPipelineError(error)) {
      const retryAfter = retryAfterSeconds(error.details);
      if (retryAfter !== undefined) void reply.header('retry-after', String(retryAfter));
      if (error.statusCode >= 500) request.log.error({ err: error }, error.message);
      const message = error.statusCode >= 500 && error.code === 'INTERNAL' ? 'internal error' : error.message;
      return sendError(reply, error.code, message, error.statusCode >= 500 ? undefined : error.details);
    }
    const mapped = error.code ? FASTIFY_CODE_MAP[error.code] : undefined;
    if (mapped === 'VALIDATION_FAILED' && error.validation) {
      const listed = error.validation.slice(0, MAX_VALIDATION_DETAILS);
      const details = listed.map((v) => ({
        field: clip(
          (v.instancePath || `/${String((v.params as { missingProperty?: string }).missingProperty ?? '')}`)
            .replace(/^\//, '')
            .replaceAll('/', '.') || '(request)',
          FIELD_PATH_LIMIT,
        ),
        rule: v.keyword,
        message: v.message ?? 'invalid',
      }));
      const context = error.validationContext ?? 'request';
      // Fastify's own wording ("body/variants must …, …"), for the listed problems only.
      const summary = listed
        .map((v) => `${context}${clip(v.instancePath, FIELD_PATH_LIMIT)} ${v.message ?? 'is invalid'}`)
        .join(', ');
      const more = error.validation.length - listed.length;
      return sendError(
        reply,
        'VALIDATION_FAILED',
        `${context} is invalid: ${summary}${more > 0 ? ` (and ${more} more problems)` : ''}`,
        more > 0
          ? [...details, { field: '(request)', rule: 'moreProblems', message: `${more} more not listed` }]
          : details,
      );
    }
    if (mapped) return sendError(reply, mapped, error.message);
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      return reply
        .code(error.statusCode)
        .send({ error: { code: error.code ?? 'BAD_REQUEST', message: error.message } });
    }
    request.log.error({ err: error }, 'unhandled error');
    return sendError(reply, 'INTERNAL', 'internal error');
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 'NOT_FOUND', `no route for ${request.method} ${request.url}`),
  );
}
