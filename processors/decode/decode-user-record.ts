/**
 * Bytes → contract-valid event, or a dead letter that says why not. Pure: no clock, no I/O.
 * The size rule runs before parsing so an oversized record never costs a JSON.parse.
 */
import type { EventLimits } from '../../common/config.js';
import type { EventRejection } from '../../common/event-contract.js';
import { validateStreamEvent } from '../../common/validate-event.js';
import type { DeadLetter, ValidEvent } from '../types.js';
import type { UserRecord } from './user-record.js';

/** The limits decoding enforces: a subset of the configured event limits. */
export type DecodeLimits = Pick<EventLimits, 'maxEventBytes' | 'maxSegments'>;

/** A user record's fate after decoding. */
export type DecodedUserRecord = { ok: true; valid: ValidEvent } | { ok: false; deadLetter: DeadLetter };

const utf8 = (data: Uint8Array): string =>
  Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString();

const reject = (record: UserRecord, reasons: EventRejection[]): DecodedUserRecord => ({
  ok: false,
  deadLetter: { id: record.id, partitionKey: record.partitionKey, data: record.data, reasons },
});

/**
 * Decodes and validates one user record. Never throws: bad JSON, contract violations,
 * oversized records and unknown versions all come back as a dead letter with reasons in
 * `{ index, field, rule, message }` form. `index` is the user record's position in its batch.
 *
 * @example
 *   const decoded = decodeUserRecord(userRecord, 0, { maxEventBytes: 8192, maxSegments: 10 });
 *   if (!decoded.ok) letters.push(decoded.deadLetter);
 */
export function decodeUserRecord(record: UserRecord, index: number, limits: DecodeLimits): DecodedUserRecord {
  if (record.data.byteLength > limits.maxEventBytes) {
    return reject(record, [
      {
        index,
        field: '(event)',
        rule: 'max-size',
        message: `record is ${record.data.byteLength} bytes; the limit is ${limits.maxEventBytes}`,
      },
    ]);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8(record.data));
  } catch (error) {
    return reject(record, [
      { index, field: '(event)', rule: 'json', message: `not valid JSON: ${(error as Error).message}` },
    ]);
  }
  const validation = validateStreamEvent(parsed, index, limits);
  if (!validation.ok) return reject(record, validation.rejections);
  return { ok: true, valid: { id: record.id, event: validation.event } };
}
