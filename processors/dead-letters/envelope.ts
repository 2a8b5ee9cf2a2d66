/**
 * The dead-letter envelope: what one record on the dead-letter stream contains. Pure
 * encode/decode, no I/O, so the sink, the `dlq` commands and tests agree on one format.
 *
 * Format (JSON, UTF-8), version 1:
 *
 *   { "v": 1, "data": "<original bytes, base64>", "dataBytes": 1234, "truncated": false,
 *     "reasons": [{ "index": 0, "field": "value", "rule": "type", "message": "…" }],
 *     "sourceStream": "ExperimentEvents", "shardId": "shardId-000000000001",
 *     "sequenceNumber": "4960…", "subSequenceNumber": 0, "partitionKey": "user-42",
 *     "deadLetteredAt": "2026-11-24T01:59:00.000Z" }
 *
 * A Kinesis record holds at most 1 MiB (data plus partition key) and base64 grows bytes
 * by a third, so an original larger than roughly 760 KiB cannot travel whole. Rather than
 * fail that letter forever (which would stall the shard), the original is cut to what
 * fits and `truncated` is set; `dataBytes` keeps the original length. Truncated letters
 * stay listable but are never replayed: a prefix of a record is not the record.
 */
import type { EventRejection } from '../../common/event-contract.js';
import type { DeadLetter } from '../types.js';

export const ENVELOPE_VERSION = 1;

/** Kinesis' limit for one record: data plus partition key. */
export const MAX_KINESIS_RECORD_BYTES = 1024 * 1024;

/** A rejection message longer than this is cut: reasons explain, they do not carry payloads. */
const MAX_REASON_MESSAGE_CHARS = 1_000;
/** More reasons than this for one record add nothing an operator can act on. */
const MAX_REASONS = 100;

/** One decoded dead letter. */
export interface DeadLetterEnvelope {
  v: number;
  /** The original record bytes (possibly cut, see `truncated`), base64. */
  data: string;
  /** Length of the original bytes before any truncation. */
  dataBytes: number;
  truncated: boolean;
  reasons: EventRejection[];
  sourceStream: string;
  shardId: string;
  sequenceNumber: string;
  subSequenceNumber: number;
  partitionKey: string;
  /** ISO-8601, UTC. */
  deadLetteredAt: string;
}

/** Where the letter came from and when it was dead-lettered: the part the DeadLetter does not carry. */
export interface EnvelopeContext {
  sourceStream: string;
  deadLetteredAt: Date;
}

const utf8Length = (text: string): number => Buffer.byteLength(text, 'utf8');

function boundedReasons(reasons: readonly EventRejection[]): EventRejection[] {
  return reasons.slice(0, MAX_REASONS).map((reason) => ({
    index: reason.index,
    field: reason.field,
    rule: reason.rule,
    message:
      reason.message.length > MAX_REASON_MESSAGE_CHARS
        ? `${reason.message.slice(0, MAX_REASON_MESSAGE_CHARS)}…`
        : reason.message,
  }));
}

/** The partition key a dead letter is written with: the original one, so letters spread like the source. */
export function deadLetterPartitionKey(letter: DeadLetter): string {
  return letter.partitionKey.length > 0 ? letter.partitionKey : letter.id.shardId;
}

/** The bytes of one dead-letter record, and whether the original had to be cut to fit. */
export interface EncodedDeadLetter {
  bytes: Uint8Array;
  truncated: boolean;
}

/**
 * Encodes a dead letter as the bytes of one Kinesis record, cutting the original bytes
 * when the whole would exceed the 1 MiB record limit (see the module comment).
 *
 * @example
 *   const { bytes, truncated } = encodeDeadLetter(letter, { sourceStream: 'ExperimentEvents', deadLetteredAt: new Date() });
 */
export function encodeDeadLetter(
  letter: DeadLetter,
  context: EnvelopeContext,
  maxRecordBytes: number = MAX_KINESIS_RECORD_BYTES,
): EncodedDeadLetter {
  const original = Buffer.from(letter.data.buffer, letter.data.byteOffset, letter.data.byteLength);
  const envelope: DeadLetterEnvelope = {
    v: ENVELOPE_VERSION,
    data: '',
    dataBytes: original.byteLength,
    truncated: false,
    reasons: boundedReasons(letter.reasons),
    sourceStream: context.sourceStream,
    shardId: letter.id.shardId,
    sequenceNumber: letter.id.sequenceNumber,
    subSequenceNumber: letter.id.subSequenceNumber,
    partitionKey: letter.partitionKey,
    deadLetteredAt: context.deadLetteredAt.toISOString(),
  };
  // Everything but the payload, plus the partition key, which counts against the same limit.
  const overhead =
    utf8Length(JSON.stringify({ ...envelope, truncated: true })) + utf8Length(deadLetterPartitionKey(letter));
  const base64Budget = maxRecordBytes - overhead;
  if (base64Budget < 4) throw new Error(`dead-letter metadata alone exceeds ${maxRecordBytes} bytes`);
  const maxOriginalBytes = Math.floor(base64Budget / 4) * 3;
  if (original.byteLength > maxOriginalBytes) {
    envelope.truncated = true;
    envelope.data = original.subarray(0, maxOriginalBytes).toString('base64');
  } else {
    envelope.data = original.toString('base64');
  }
  return { bytes: Buffer.from(JSON.stringify(envelope), 'utf8'), truncated: envelope.truncated };
}

/** The outcome of decoding one record read from the dead-letter stream. */
export type EnvelopeDecoding = { ok: true; envelope: DeadLetterEnvelope } | { ok: false; error: string };

const isString = (value: unknown): value is string => typeof value === 'string';
const isRejection = (value: unknown): value is EventRejection => {
  const r = value as Partial<EventRejection> | null;
  return (
    typeof r === 'object' &&
    r !== null &&
    typeof r.index === 'number' &&
    isString(r.field) &&
    isString(r.rule) &&
    isString(r.message)
  );
};

/**
 * Decodes a dead-letter record. Never throws: a record written by something else (or a
 * future version) is reported, not fatal, so `dlq list` can show everything it finds.
 */
export function decodeDeadLetter(bytes: Uint8Array): EnvelopeDecoding {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    return { ok: false, error: 'not JSON' };
  }
  const e = parsed as Partial<DeadLetterEnvelope> | null;
  if (typeof e !== 'object' || e === null) return { ok: false, error: 'not an object' };
  if (e.v !== ENVELOPE_VERSION) return { ok: false, error: `unsupported envelope version ${String(e.v)}` };
  const wellFormed =
    isString(e.data) &&
    typeof e.dataBytes === 'number' &&
    typeof e.truncated === 'boolean' &&
    Array.isArray(e.reasons) &&
    e.reasons.every(isRejection) &&
    isString(e.sourceStream) &&
    isString(e.shardId) &&
    isString(e.sequenceNumber) &&
    typeof e.subSequenceNumber === 'number' &&
    isString(e.partitionKey) &&
    isString(e.deadLetteredAt);
  if (!wellFormed) return { ok: false, error: 'missing or mistyped envelope fields' };
  return { ok: true, envelope: e as DeadLetterEnvelope };
}

/** The original bytes carried by an envelope (only a prefix when `truncated`). */
export function originalBytes(envelope: DeadLetterEnvelope): Buffer {
  return Buffer.from(envelope.data, 'base64');
}
