/**
 * Bytes → contract-valid event, or the reasons it is not one. Pure: no clock, no I/O.
 * The size rule runs before parsing so an oversized record never costs a JSON.parse.
 * Bytes that are not UTF-8 are refused rather than decoded with U+FFFD replacements (which
 * would turn different user ids into the same one).
 * The hot path allocates nothing beyond the parsed event: the validator's result is
 * returned as is.
 */
import { isUtf8 } from 'node:buffer';
import type { EventLimits } from '../../common/config.js';
import type { EventRejection, StreamEvent } from '../../common/event-contract.js';
import { validateStreamEvent } from '../../common/validate-event.js';

/** The limits decoding enforces: a subset of the configured event limits. */
export type DecodeLimits = Pick<EventLimits, 'maxEventBytes' | 'maxSegments'>;

/** A user record's fate after decoding. */
export type EventDecoding = { ok: true; event: StreamEvent } | { ok: false; rejections: EventRejection[] };

const utf8 = (data: Uint8Array): string =>
  Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString();

/**
 * Decodes and validates one user record's bytes. Never throws for bad input: bad JSON or
 * UTF-8, contract violations, oversized records and unknown versions come back as rejections in
 * `{ index, field, rule, message }` form. `index` is the user record's position in its batch.
 *
 * @example
 *   const decoded = decodeEvent(bytes, 0, { maxEventBytes: 8192, maxSegments: 10 });
 *   if (!decoded.ok) console.log(decoded.rejections[0].rule); // 'json', 'max-size', …
 */
export function decodeEvent(data: Uint8Array, index: number, limits: DecodeLimits): EventDecoding {
  if (data.byteLength > limits.maxEventBytes) {
    const message = `record is ${data.byteLength} bytes; the limit is ${limits.maxEventBytes}`;
    return { ok: false, rejections: [{ index, field: '(event)', rule: 'max-size', message }] };
  }
  if (!isUtf8(data)) {
    const message = 'record is not valid UTF-8';
    return { ok: false, rejections: [{ index, field: '(event)', rule: 'well-formed-unicode', message }] };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8(data));
  } catch (error) {
    const message = `not valid JSON: ${(error as Error).message}`;
    return { ok: false, rejections: [{ index, field: '(event)', rule: 'json', message }] };
  }
  return validateStreamEvent(parsed, index, limits);
}
