/**
 * The dead-letter envelope: what one record on the dead-letter stream contains. Pure
 * encode/decode, no I/O, so the sink, the `dlq` commands and tests agree on one format.
 *
 * Format (JSON, UTF-8), version 2:
 *
 *   { "v": 2, "data": "<original bytes, base64>", "dataBytes": 1234, "truncated": false,
 *     "reasons": [{ "index": 0, "field": "value", "rule": "type", "message": "…" }],
 *     "takenBy": ["counters"],
 *     "sourceStream": "ExperimentEvents", "shardId": "shardId-000000000001",
 *     "sequenceNumber": "4960…", "subSequenceNumber": 0, "partitionKey": "user-42",
 *     "deadLetteredAt": "2026-11-24T01:59:00.000Z" }
 *
 * `takenBy` names the sinks that already took the record before it was dead-lettered
 * (`counters` for an event the index refused): a replay must send the letter only to the
 * other sinks, or it counts twice. Version 1 (the same without `takenBy`) still decodes:
 * a v1 letter was taken by no sink, except a v1 `index-rejected` letter, which the
 * counters always took; decoding fills `takenBy` in accordingly. A reader that knows
 * only version 1 refuses version 2 letters instead of replaying them to every sink.
 *
 * A Kinesis record holds at most 1 MiB (data plus partition key) and base64 grows bytes
 * by a third, so an original larger than roughly 760 KiB cannot travel whole. Rather than
 * fail that letter forever (which would stall the shard), the original is cut to what
 * fits and `truncated` is set; `dataBytes` keeps the original length. Truncated letters
 * stay listable but are never replayed: a prefix of a record is not the record.
 */
import type { EventRejection } from '../../common/event-contract.js';
import type { DeadLetter, DeliverySink } from '../types.js';

/** The version this module writes. */
export const ENVELOPE_VERSION = 2;
/** Versions this module reads. */
export const READABLE_ENVELOPE_VERSIONS: readonly number[] = [1, 2];

/** Every sink a letter can have been taken by, in the order `takenBy` lists them. */
export const DELIVERY_SINKS: readonly DeliverySink[] = ['counters', 'index'];

/**
 * The reason rule of events the OpenSearch index refused (processors/pipeline/deliver-to-sinks.ts).
 * The counters take every such event, so a version-1 letter with this rule reads as taken by them.
 */
export const INDEX_REJECTED_RULE = 'index-rejected';

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
  /** Sinks that already took the record: a replay sends it only to the others. Empty: none. */
  takenBy: DeliverySink[];
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

/** `takenBy` without duplicates or unknown names, in `DELIVERY_SINKS` order. */
export function normalizedSinks(sinks: readonly DeliverySink[] | undefined): DeliverySink[] {
  return DELIVERY_SINKS.filter((sink) => sinks?.includes(sink) === true);
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
    takenBy: normalizedSinks(letter.takenBy),
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

const isDeliverySink = (value: unknown): value is DeliverySink => DELIVERY_SINKS.some((sink) => sink === value);

/**
 * The sinks a decoded letter was taken by. Version 2 records them (and an unknown sink name
 * makes the letter unreadable rather than replayable to a sink that took it); version 1 did
 * not, and only its `index-rejected` letters had been taken, by the counters.
 */
function takenByOf(version: number, raw: unknown, reasons: readonly EventRejection[]): DeliverySink[] | undefined {
  if (version === 1) {
    return reasons.some((reason) => reason.rule === INDEX_REJECTED_RULE) ? ['counters'] : [];
  }
  if (!Array.isArray(raw) || !raw.every(isDeliverySink)) return undefined;
  return normalizedSinks(raw);
}

/**
 * Decodes a dead-letter record of any readable version into the current shape (`takenBy`
 * always set, see the module comment). Never throws: a record written by something else
 * (or a future version) is reported, not fatal, so `dlq list` can show everything it finds.
 *
 * @example
 *   const decoding = decodeDeadLetter(record.data);
 *   if (decoding.ok) console.log(decoding.envelope.takenBy); // e.g. ['counters']
 */
export function decodeDeadLetter(bytes: Uint8Array): EnvelopeDecoding {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    return { ok: false, error: 'not JSON' };
  }
  const e = parsed as (Partial<Omit<DeadLetterEnvelope, 'takenBy'>> & { takenBy?: unknown }) | null;
  if (typeof e !== 'object' || e === null) return { ok: false, error: 'not an object' };
  if (typeof e.v !== 'number' || !READABLE_ENVELOPE_VERSIONS.includes(e.v)) {
    return { ok: false, error: `unsupported envelope version ${String(e.v)}` };
  }
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
  const takenBy = takenByOf(e.v, e.takenBy, e.reasons ?? []);
  if (takenBy === undefined) return { ok: false, error: 'missing or unknown sinks in takenBy' };
  return { ok: true, envelope: { ...(e as DeadLetterEnvelope), takenBy } };
}

/** The original bytes carried by an envelope (only a prefix when `truncated`). */
export function originalBytes(envelope: DeadLetterEnvelope): Buffer {
  return Buffer.from(envelope.data, 'base64');
}
