/**
 * Pure parsing of a collector request body into a list of candidate events. Accepted
 * shapes: a JSON array of events, `{ "events": [...] }`, or NDJSON (one event per line).
 *
 * A body that cannot be read as any of these is a whole-request error (400). In NDJSON a
 * single bad line is that event's problem only: it becomes a rejection and the other
 * lines still go through.
 */
import { PipelineError } from '../common/errors.js';
import type { EventRejection } from '../common/event-contract.js';

export type BodyFormat = 'json' | 'ndjson';

export interface ParsedBody {
  /** Candidate events in request order; `undefined` holes are lines that failed to parse. */
  candidates: unknown[];
  /** Per-line parse failures (NDJSON only), indexed like `candidates`. */
  rejections: EventRejection[];
}

/** Maps a Content-Type header to a body format, or undefined when unsupported. */
export function bodyFormatOf(contentType: string | undefined): BodyFormat | undefined {
  const mediaType = contentType?.split(';')[0]?.trim().toLowerCase();
  if (mediaType === 'application/json') return 'json';
  if (mediaType === 'application/x-ndjson' || mediaType === 'application/ndjson') return 'ndjson';
  return undefined;
}

function parseJsonBody(text: string): ParsedBody {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new PipelineError('BODY_UNPARSEABLE', `body is not valid JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (Array.isArray(body)) return { candidates: body, rejections: [] };
  if (body !== null && typeof body === 'object' && Array.isArray((body as { events?: unknown }).events)) {
    return { candidates: (body as { events: unknown[] }).events, rejections: [] };
  }
  throw new PipelineError('BODY_UNPARSEABLE', 'body must be a JSON array of events or an object { "events": [...] }');
}

function parseNdjsonBody(text: string): ParsedBody {
  const candidates: unknown[] = [];
  const rejections: EventRejection[] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '') continue;
    const index = candidates.length;
    try {
      candidates.push(JSON.parse(trimmed));
    } catch (error) {
      candidates.push(undefined);
      rejections.push({
        index,
        field: '(event)',
        rule: 'invalid-json',
        message: `line is not valid JSON: ${(error as Error).message}`,
      });
    }
  }
  return { candidates, rejections };
}

/**
 * Parses a body of the given format.
 *
 * @example
 *   parseBody('{"events":[{"type":"impression", ...}]}', 'json') // → { candidates: [ {...} ], rejections: [] }
 */
export function parseBody(text: string, format: BodyFormat): ParsedBody {
  return format === 'json' ? parseJsonBody(text) : parseNdjsonBody(text);
}
