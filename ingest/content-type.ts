/**
 * Pure reading of a collector request's `Content-Type`: which body format it announces, and
 * whether its charset is one the collector reads. Only UTF-8 is read (an absent charset means
 * UTF-8, as RFC 8259 says for JSON); a body announced in another charset is refused with `415`
 * rather than read as UTF-8 and turned into other user ids.
 */
import { PipelineError } from '../common/errors.js';

export type BodyFormat = 'json' | 'ndjson';

const FORMAT_BY_MEDIA_TYPE: ReadonlyMap<string, BodyFormat> = new Map([
  ['application/json', 'json'],
  ['application/x-ndjson', 'ndjson'],
  ['application/ndjson', 'ndjson'],
]);

/** Charset labels read as UTF-8 (compared lower case). */
const UTF8_LABELS: ReadonlySet<string> = new Set(['utf-8', 'utf8']);

/** Longest piece of a client's header quoted back in an error message. */
const QUOTED_MAX = 40;

const quote = (text: string): string =>
  JSON.stringify(text.length > QUOTED_MAX ? `${text.slice(0, QUOTED_MAX)}…` : text);

/** Maps a Content-Type header to a body format, or undefined when the media type is not one we read. */
export function bodyFormatOf(contentType: string | undefined): BodyFormat | undefined {
  const mediaType = contentType?.split(';')[0]?.trim().toLowerCase();
  return mediaType === undefined ? undefined : FORMAT_BY_MEDIA_TYPE.get(mediaType);
}

/** The last header `requestBodyFormat` accepted, and its format. */
let lastAccepted: { contentType: string | undefined; format: BodyFormat } = { contentType: undefined, format: 'json' };

/**
 * The body format a request announces, or a `PipelineError('UNSUPPORTED_MEDIA_TYPE')` (415) whose
 * `details.rule` is `media-type` (not JSON or NDJSON) or `charset` (a charset other than UTF-8).
 * Parameter names are case-insensitive and values may be quoted; parameters other than
 * `charset` are ignored.
 *
 * @example
 *   requestBodyFormat('application/json; charset="UTF-8"') // → 'json'
 *   requestBodyFormat('application/json; charset=utf-16')  // throws: 415, details.rule 'charset'
 */
export function requestBodyFormat(contentType: string | undefined): BodyFormat {
  // Producers send the same header on every request (twice read per request: before and after the body).
  if (contentType !== undefined && contentType === lastAccepted.contentType) return lastAccepted.format;
  const format = bodyFormatOf(contentType);
  if (contentType === undefined || format === undefined) {
    throw new PipelineError(
      'UNSUPPORTED_MEDIA_TYPE',
      `the media type ${contentType === undefined ? '(none)' : quote(contentType)} is not accepted: use application/json or application/x-ndjson (rule media-type)`,
      { details: { rule: 'media-type' } },
    );
  }
  for (const parameter of contentType.split(';').slice(1)) {
    const equals = parameter.indexOf('=');
    const name = (equals === -1 ? parameter : parameter.slice(0, equals)).trim().toLowerCase();
    if (name !== 'charset') continue;
    const raw = equals === -1 ? '' : parameter.slice(equals + 1).trim();
    const charset = raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw;
    if (!UTF8_LABELS.has(charset.trim().toLowerCase())) {
      throw new PipelineError(
        'UNSUPPORTED_MEDIA_TYPE',
        `charset ${quote(charset)} is not accepted: send the body as UTF-8 (rule charset)`,
        { details: { rule: 'charset', charset: charset.slice(0, QUOTED_MAX) } },
      );
    }
  }
  lastAccepted = { contentType, format };
  return format;
}
