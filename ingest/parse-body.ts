/**
 * Pure parsing of a collector request body into a list of candidate events. Accepted
 * shapes: a JSON array of events, `{ "events": [...] }`, or NDJSON (one event per line).
 *
 * Whole-request errors, each naming its rule in `details.rule`, are checked in this order so a
 * hostile body costs little: `utf-8` (400, bytes that are not UTF-8: decoding them with U+FFFD
 * replacements would merge different user ids), `max-depth` (400, nesting deeper than any event
 * needs, found by one linear scan before `JSON.parse`, or after it for a small JSON array whose
 * events are not all valid: `deferDepthCheck`), `json` (400), then `max-events` (413, more
 * events than a request may carry, counted before any event is validated). In NDJSON a single bad
 * line is that event's problem only: it becomes a rejection and the other lines still go through.
 */
import { PipelineError } from '../common/errors.js';
import type { EventRejection } from '../common/event-contract.js';
import type { BodyFormat } from './content-type.js';

export { bodyFormatOf, type BodyFormat } from './content-type.js';

/**
 * Deepest nesting of arrays and objects a body may have. An event needs 3 levels
 * (`{ "events": [ { "segments": { … } } ] }`); a million-deep body costs `JSON.parse` half a second.
 */
export const MAX_BODY_DEPTH = 16;

/**
 * Largest JSON body (in UTF-16 code units) that `deferDepthCheck` lets `JSON.parse` read before
 * the depth scan. Nested as deep as its size allows, such a body costs `JSON.parse` about 2 ms
 * here (64 KiB of `[`), less than a valid body of the 1 MiB limit (3.5 ms; 9.6 ms for an array
 * of a million numbers): deferring the scan adds no cost an attacker could not already cause.
 */
export const DEFER_DEPTH_CHECK_MAX_CHARS = 64 * 1024;

export interface ParseLimits {
  /** Most events one request may carry (`INGEST_MAX_EVENTS_PER_REQUEST`). */
  maxEvents: number;
  /**
   * Parse a JSON array body of at most `DEFER_DEPTH_CHECK_MAX_CHARS` before checking its depth,
   * and leave the check to the caller (`ParsedBody.uncheckedDepthText`): a body whose every
   * candidate is a valid event is three levels deep at most, so only a body with an invalid
   * candidate needs the scan (a quarter to a half of what `JSON.parse` costs on an ordinary body). Every error
   * this function throws is still the one the scan-first order gives.
   */
  deferDepthCheck?: boolean;
}

export interface ParsedBody {
  /** Candidate events in request order; `undefined` holes are lines that failed to parse. */
  candidates: unknown[];
  /** Per-line parse failures (NDJSON only), indexed like `candidates`. */
  rejections: EventRejection[];
  /**
   * The body's text when its depth is not checked yet (`deferDepthCheck`): a JSON array. Unless
   * every candidate turns out to be a valid event, the caller must run `assertBodyDepth` on it
   * before answering (collectEvents does).
   */
  uncheckedDepthText?: string;
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes a request body as UTF-8, refusing (400, rule `utf-8`) any byte sequence that is not
 * UTF-8 instead of replacing it with U+FFFD. A leading byte-order mark is dropped.
 *
 * @example
 *   decodeUtf8Body(Buffer.from('[{"userId":"zoë"}]')) // → '[{"userId":"zoë"}]'
 *   decodeUtf8Body(Buffer.from([0x5b, 0xff, 0x5d]))     // throws: 400, details.rule 'utf-8'
 */
export function decodeUtf8Body(bytes: Uint8Array): string {
  try {
    return utf8Decoder.decode(bytes);
  } catch (error) {
    throw new PipelineError('BODY_UNPARSEABLE', 'the body is not valid UTF-8 (rule utf-8)', {
      cause: error,
      details: { rule: 'utf-8' },
    });
  }
}

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NEWLINE = 0x0a;

/**
 * Refuses (400, rule `max-depth`) a body nested deeper than `MAX_BODY_DEPTH`, in one pass over
 * its characters. In NDJSON a newline starts again at depth 0: it cannot occur inside a JSON
 * string, and each line is a document of its own.
 */
function assertDepthWithinLimit(text: string, format: BodyFormat): void {
  if (format === 'json') {
    if (maxJsonDepthExceeds(text, MAX_BODY_DEPTH)) throw tooDeep();
    return;
  }
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
      else if (c === NEWLINE) inString = false;
      continue;
    }
    if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > MAX_BODY_DEPTH) throw tooDeep();
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth = Math.max(0, depth - 1);
    else if (c === NEWLINE) depth = 0;
  }
}

/**
 * Refuses (400, rule `max-depth`) a JSON body nested deeper than `MAX_BODY_DEPTH`: the check
 * `parseBody` left to the caller (`ParsedBody.uncheckedDepthText`).
 */
export function assertBodyDepth(text: string): void {
  assertDepthWithinLimit(text, 'json');
}

const tooDeep = (): PipelineError =>
  new PipelineError('BODY_UNPARSEABLE', `the body is nested deeper than ${MAX_BODY_DEPTH} levels (rule max-depth)`, {
    details: { rule: 'max-depth', limit: MAX_BODY_DEPTH },
  });

/**
 * The JSON scan of `assertDepthWithinLimit`: the same walk, but a string is skipped with
 * `indexOf` to its closing quote (one not preceded by an odd run of backslashes) instead of
 * character by character — strings are most of an event's characters.
 */
function maxJsonDepthExceeds(text: string, limit: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      let end = text.indexOf('"', i + 1);
      while (end !== -1) {
        let backslashes = 0;
        while (text.charCodeAt(end - 1 - backslashes) === BACKSLASH) backslashes++;
        if ((backslashes & 1) === 0) break;
        end = text.indexOf('"', end + 1);
      }
      if (end === -1) return false; // an unterminated string: no bracket after it counts
      i = end;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > limit) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth = Math.max(0, depth - 1);
  }
  return false;
}

function assertEventCountWithinLimit(events: number, limits: ParseLimits): void {
  if (events <= limits.maxEvents) return;
  throw new PipelineError(
    'BODY_TOO_LARGE',
    `the request carries ${events} events; at most ${limits.maxEvents} are accepted per request (rule max-events): split it`,
    { details: { rule: 'max-events', limit: limits.maxEvents, events } },
  );
}

/**
 * A JSON body's candidates. With the depth check deferred (small bodies only), every way out but
 * an array returned with `uncheckedDepthText` runs the scan first, so the errors keep their order:
 * `max-depth`, then `json`, `shape` and `max-events`.
 */
function parseJsonBody(text: string, limits: ParseLimits): ParsedBody {
  const deferred = limits.deferDepthCheck === true && text.length <= DEFER_DEPTH_CHECK_MAX_CHARS;
  if (!deferred) assertBodyDepth(text);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    if (deferred) assertBodyDepth(text);
    throw new PipelineError('BODY_UNPARSEABLE', `body is not valid JSON: ${(error as Error).message}`, {
      cause: error,
      details: { rule: 'json' },
    });
  }
  if (Array.isArray(body)) {
    if (deferred && body.length > limits.maxEvents) assertBodyDepth(text);
    assertEventCountWithinLimit(body.length, limits);
    return deferred
      ? { candidates: body, rejections: [], uncheckedDepthText: text }
      : { candidates: body, rejections: [] };
  }
  // `{ "events": [...] }` may nest deep beside its events, and a wrong shape is reported after the depth.
  if (deferred) assertBodyDepth(text);
  if (body === null || typeof body !== 'object' || !Array.isArray((body as { events?: unknown }).events)) {
    throw new PipelineError(
      'BODY_UNPARSEABLE',
      'body must be a JSON array of events or an object { "events": [...] }',
      { details: { rule: 'shape' } },
    );
  }
  const candidates = (body as { events: unknown[] }).events;
  assertEventCountWithinLimit(candidates.length, limits);
  return { candidates, rejections: [] };
}

function parseNdjsonBody(text: string, limits: ParseLimits): ParsedBody {
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  // Counted before a single line is parsed: a request over the limit costs one split.
  assertEventCountWithinLimit(lines.length, limits);
  const candidates: unknown[] = [];
  const rejections: EventRejection[] = [];
  for (const line of lines) {
    const index = candidates.length;
    try {
      candidates.push(JSON.parse(line.trim()));
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
 * Parses a decoded body of the given format, refusing it as a whole when it is nested too deep,
 * is not JSON (or NDJSON) of the accepted shape, or carries more than `limits.maxEvents` events.
 *
 * @example
 *   parseBody('{"events":[{"type":"impression", ...}]}', 'json', { maxEvents: 500 })
 *   // → { candidates: [ {...} ], rejections: [] }
 */
export function parseBody(text: string, format: BodyFormat, limits: ParseLimits): ParsedBody {
  if (format === 'json') return parseJsonBody(text, limits);
  assertDepthWithinLimit(text, format);
  return parseNdjsonBody(text, limits);
}
