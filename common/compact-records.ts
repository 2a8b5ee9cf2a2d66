/**
 * The compact record format ("XCB", version 1): many contract-valid events in one Kinesis
 * record, with every string written once per record (a dictionary) and numbers as numbers.
 * The collector writes it (`INGEST_RECORD_FORMAT=compact`), one record per destination shard
 * and PutRecords call; the processors read it beside plain JSON records (older producers,
 * dead-letter replays) and KPL aggregates. Kinesis bills and limits shards by bytes: an
 * event takes about 60 bytes here against about 280 as JSON.
 *
 * Layout (integers little-endian; `varint` = unsigned LEB128, at most 4 bytes here):
 *
 *   0  'X' 'C' 'B' 0x01      magic and format version
 *   4  u8 flags              bit 0: the body is raw-deflate compressed;
 *                            bit 1: every event ends with its covariates (below);
 *                            other bits must be 0
 *   5  u32 crc32             CRC-32 (zlib) of the body bytes as stored
 *   9  body:
 *        varint stringCount, then per string: varint byteLength, UTF-8 bytes
 *        varint eventCount, then per event:
 *          u8     type                0 impression, 1 conversion
 *          16 B   eventId             the UUID's bytes (read back in canonical lower case)
 *          varint experimentId, variantId, userId   string indices
 *          varint metric + 1          0: no metric
 *          f64    value, timestamp, receivedAt
 *          varint segmentCount, then per segment: varint dimension, value  (dimensions in
 *                 strictly ascending code-unit order: sorted, no duplicates)
 *          only with flag bit 1:
 *          varint covariateCount + 1      0: no `covariates` field (1: an empty one), then per
 *                 covariate: varint name (string index), f64 value  (names in strictly
 *                 ascending code-unit order: sorted, no duplicates)
 *        nothing after the last event
 *
 * Flag bit 1 is how `covariates` (contract: impressions only, common/event-contract.ts) was added
 * without a new version: the encoder sets it only when an event of the record has covariates, so
 * a record without any is byte for byte what earlier encoders wrote, and every record written
 * before decodes as it did. A reader older than the flag refuses a record that has it as
 * `unknown compact record flags` (dead-lettered, replayable): deploy the processors first.
 *
 * The processors trust nothing in it: a record whose header, checksum or framing is wrong is
 * dead-lettered whole (rule `compact-record`); every event is held to the same contract as a
 * JSON event (the per-field checks below come from the contract's own schemas, each string
 * checked once per record and role), and an event that breaks a rule is dead-lettered alone
 * with the reasons `validateStreamEvent` gives for it. The contract's `max-size` rule, which
 * bounds a JSON record's bytes, has no meaning here: every field of a compact event is bounded
 * by its own rule.
 */
import { crc32, deflateRawSync, inflateRawSync } from 'node:zlib';
import { CURRENT_CONTRACT_VERSION, MAX_COVARIATES, type EventRejection, type StreamEvent } from './event-contract.js';
import { UUID_BYTES, UUID_TEXT_LENGTH, uuidText, writeUuidBytesFromAscii } from './event-ids.js';
import { fnv1a32 } from './hashing.js';
import { attachSortedSegments } from './sorted-segments.js';
import { streamEventOf, streamFieldChecks, validateStreamEvent } from './validate-event.js';

export const COMPACT_MAGIC = [0x58, 0x43, 0x42] as const;
export const COMPACT_FORMAT_VERSION = 1;
const FLAG_DEFLATE = 1;
/** Events end with their covariates (varint count + 1, then name index and f64 value per covariate). */
const FLAG_COVARIATES = 2;
const KNOWN_FLAGS = FLAG_DEFLATE | FLAG_COVARIATES;
const HEADER_BYTES = 9;
/** Largest body accepted after decompression: a Kinesis record is at most 1 MiB; deflate gains well under 32×. */
const MAX_BODY_BYTES = 32 * 1024 * 1024;

/** True when the bytes start with the compact format's magic (any version: unknown versions are refused later). */
export function isCompactRecord(data: Uint8Array): boolean {
  return (
    data.byteLength >= HEADER_BYTES &&
    data[0] === COMPACT_MAGIC[0] &&
    data[1] === COMPACT_MAGIC[1] &&
    data[2] === COMPACT_MAGIC[2]
  );
}

/** Encoder options. */
export interface CompactEncodeOptions {
  /** Raw-deflate the body (fewer bytes per event, more CPU on both sides). */
  compress?: boolean;
}

/**
 * Growable bytes the encoder writes into. Two live for the module's lifetime and are reused by
 * every call (encoding is synchronous and copies what it wrote into the record it returns), so
 * a record costs no scratch allocation once they have grown to the largest record written.
 */
class ByteWriter {
  buffer: Buffer;
  private view: DataView;
  offset = 0;
  constructor(size: number) {
    this.buffer = Buffer.allocUnsafeSlow(size);
    this.view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.byteLength);
  }
  ensure(bytes: number): void {
    if (this.offset + bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(this.buffer.length * 2, this.offset + bytes));
    this.buffer.copy(grown, 0, 0, this.offset);
    this.buffer = grown;
    this.view = new DataView(grown.buffer, grown.byteOffset, grown.byteLength);
  }
  varint(value: number): void {
    this.ensure(5);
    this.offset = putVarint(this.buffer, this.offset, value);
  }
  double(value: number): void {
    this.ensure(8);
    this.offset = this.putDouble(this.offset, value);
  }
  /** Writes a little-endian f64 at `at`, already ensured; returns the offset after it. */
  putDouble(at: number, value: number): number {
    this.view.setFloat64(at, value, true);
    return at + 8;
  }
  /**
   * A dictionary string: varint byte length, then its UTF-8 bytes. Short ASCII text (ids, keys,
   * most values) is copied code unit by code unit behind a one-byte length, text of up to 42
   * code units is written by `Buffer#write` behind one (its UTF-8 is below 128 bytes); a
   * JavaScript loop is the cheaper of the two below about 24 characters.
   */
  string(text: string): void {
    const length = text.length;
    // UTF-8 takes at most 3 bytes per UTF-16 code unit (4 per surrogate pair).
    this.ensure(5 + 3 * length);
    const buffer = this.buffer;
    if (length < SHORT_STRING_LENGTH) {
      let at = this.offset + 1;
      let i = 0;
      for (; i < length; i++) {
        const code = text.charCodeAt(i);
        if (code >= 0x80) break;
        buffer[at++] = code;
      }
      if (i === length) {
        buffer[this.offset] = length;
        this.offset = at;
        return;
      }
    }
    if (3 * length < 0x80) {
      const bytes = buffer.write(text, this.offset + 1, 'utf8');
      buffer[this.offset] = bytes;
      this.offset += 1 + bytes;
      return;
    }
    this.varint(Buffer.byteLength(text, 'utf8'));
    this.offset += buffer.write(text, this.offset, 'utf8');
  }
  /** Copies what was written to `target` at `offset`. */
  copyTo(target: Buffer, offset: number): void {
    this.buffer.copy(target, offset, 0, this.offset);
  }
}

let encoderScratch: { events: ByteWriter; strings: ByteWriter } | undefined;
/** Slots of the encoder's table of recent strings (a power of two). */
const RECENT_SLOTS = 256;
const RECENT_MASK = RECENT_SLOTS - 1;
let recentStrings: (string | undefined)[] | undefined;
let recentIndexes: Int32Array | undefined;
/** Names of one event's segments or covariates, sorted in place (no entries arrays per event). */
const sortedNames: string[] = [];

/**
 * Puts the own enumerable keys of `record` (what `Object.entries` lists) into `sortedNames`, in
 * strictly ascending code-unit order (insertion sort: a handful of keys, usually sorted already),
 * and returns how many there are.
 */
function sortNames(record: object): number {
  let count = 0;
  for (const name in record) {
    if (!Object.hasOwn(record, name)) continue;
    let at = count++;
    while (at > 0 && (sortedNames[at - 1] as string) > name) {
      sortedNames[at] = sortedNames[at - 1] as string;
      at--;
    }
    sortedNames[at] = name;
  }
  return count;
}

/** Writes `value` as a varint at `at` of a buffer with room for it; returns the offset after it. */
function putVarint(buffer: Buffer, at: number, value: number): number {
  let offset = at;
  let rest = value;
  while (rest >= 0x80) {
    buffer[offset++] = (rest & 0x7f) | 0x80;
    rest >>>= 7;
  }
  buffer[offset++] = rest;
  return offset;
}

/**
 * zlib level of a compressed body. Level 3 instead of zlib's default 6: on the collector's records
 * (about 125 events) it takes half the CPU (0.30 against 0.70 µs per event) for 1–2% more bytes
 * (1,628 against 1,599 for 125 events with the collector's ids; 3,589 against 3,559 with random
 * ids). Any level inflates the same.
 */
const DEFLATE_LEVEL = 3;

/** Below this many code units, a string's ASCII is copied by a loop rather than by `Buffer#write`. */
const SHORT_STRING_LENGTH = 24;

/** Most bytes of an event without its segments and covariates: type, eventId, 4 varints, 3 f64s, the segment count. */
const EVENT_MAX_BYTES = 1 + UUID_BYTES + 4 * 5 + 3 * 8 + 5;
/** Most bytes of one segment: two varints. */
const SEGMENT_MAX_BYTES = 2 * 5;

/** The eventIds of the record being encoded, joined into one string (reused). */
const eventIdTexts: string[] = [];
/** Their ASCII bytes, `UUID_TEXT_LENGTH` per event (grown as needed). */
let eventIdAscii = Buffer.alloc(0);

/**
 * Writes the events' eventIds, as text, into `eventIdAscii` (36 bytes each) with one join and
 * one native write: reading each id's string instead flattens an id built by concatenation (the
 * collector's), which cost more than the rest of its bytes. Throws on an id that is not 36 ASCII
 * characters; `writeUuidBytesFromAscii` checks the rest.
 */
function writeEventIdAscii(events: readonly StreamEvent[], given: EventIdBytes | undefined): Buffer {
  let count = 0;
  for (let i = 0; i < events.length; i++) {
    if (given?.bytes[i] !== undefined) continue;
    const eventId = (events[i] as StreamEvent).eventId;
    if (eventId.length !== UUID_TEXT_LENGTH) throw new Error(`eventId ${eventId} is not a UUID`);
    eventIdTexts[count++] = eventId;
  }
  if (count === 0) return eventIdAscii;
  eventIdTexts.length = count;
  const text = eventIdTexts.join('');
  eventIdTexts.length = 0;
  if (eventIdAscii.length < text.length)
    eventIdAscii = Buffer.allocUnsafeSlow(Math.max(text.length, 2 * eventIdAscii.length));
  // As many bytes as characters only when every character is ASCII (UTF-8 writes others as 2–3 bytes).
  const written = eventIdAscii.write(text, 0, 'utf8');
  if (written !== text.length) {
    const nonAscii = events.find((event) => Buffer.byteLength(event.eventId) !== event.eventId.length) as StreamEvent;
    throw new Error(`eventId ${nonAscii.eventId} is not a UUID`);
  }
  return eventIdAscii;
}

/**
 * The eventIds' 16 bytes where the caller has them already (the collector's generated ids, see
 * `eventIdBytesWriter`), by event position: `bytes[i]` from `at[i]`, or `bytes[i]` undefined
 * for an event whose id is read from its text.
 */
export interface EventIdBytes {
  bytes: readonly (Uint8Array | undefined)[];
  at: readonly number[];
}

/** The dictionary's string count as a varint, written before the body's size is known (5 bytes hold any count). */
const stringCountVarint = Buffer.alloc(5);

/**
 * Encodes contract-valid stream events (the collector's normalised events) into one compact
 * record. Throws on an eventId that is not a UUID (the contract guarantees one).
 *
 * The events are written as they come, each new string into the dictionary at once (so its
 * index is its position), into reused scratch bytes; the record is then allocated once at its
 * exact size and the two parts copied in.
 *
 * @example
 *   const data = encodeCompactRecord(events, { compress: false }); // → PutRecords `Data`
 */
export function encodeCompactRecord(
  events: readonly StreamEvent[],
  options: CompactEncodeOptions = {},
  eventIdBytes?: EventIdBytes,
): Buffer {
  encoderScratch ??= { events: new ByteWriter(64 * 1024), strings: new ByteWriter(16 * 1024) };
  const { events: eventsOut, strings: stringsOut } = encoderScratch;
  eventsOut.offset = 0;
  stringsOut.offset = 0;
  const strings = new Map<string, number>();
  // In front of the map, a small table of recent strings by a cheap hash of their ends: the
  // experiments, variants, metrics and segments an event repeats are found with one comparison.
  const recent = (recentStrings ??= new Array<string | undefined>(RECENT_SLOTS));
  const recentIndex = (recentIndexes ??= new Int32Array(RECENT_SLOTS));
  recent.fill(undefined);
  const indexOf = (text: string): number => {
    const length = text.length;
    const slot = length === 0 ? 0 : (length * 31 + text.charCodeAt(0) * 7 + text.charCodeAt(length - 1)) & RECENT_MASK;
    if (recent[slot] === text) return recentIndex[slot] as number;
    let index = strings.get(text);
    if (index === undefined) {
      if (!text.isWellFormed()) throw new Error(`string ${JSON.stringify(text)} is not well-formed Unicode`);
      strings.set(text, (index = strings.size));
      stringsOut.string(text);
    }
    recent[slot] = text;
    recentIndex[slot] = index;
    return index;
  };
  let withCovariates = false;
  for (let i = 0; i < events.length && !withCovariates; i++) withCovariates = events[i]?.covariates !== undefined;
  const eventIds = writeEventIdAscii(events, eventIdBytes);
  let eventIdTextAt = 0;
  eventsOut.varint(events.length);
  for (let e = 0; e < events.length; e++) {
    const event = events[e] as StreamEvent;
    const segments = event.segments;
    const segmentCount = segments === undefined ? 0 : sortNames(segments);
    // Room for the whole event but its covariates, checked once: the writes below are unchecked.
    eventsOut.ensure(EVENT_MAX_BYTES + segmentCount * SEGMENT_MAX_BYTES);
    const buffer = eventsOut.buffer;
    let at = eventsOut.offset;
    buffer[at++] = event.type === 'conversion' ? 1 : 0;
    const given = eventIdBytes?.bytes[e];
    if (given !== undefined) {
      const from = eventIdBytes?.at[e] as number;
      if (!(from >= 0 && from + UUID_BYTES <= given.length))
        throw new Error(`the bytes given for eventId ${event.eventId} are outside their array (at ${from})`);
      for (let i = 0; i < UUID_BYTES; i++) buffer[at + i] = given[from + i] as number;
    } else {
      if (!writeUuidBytesFromAscii(buffer, at, eventIds, eventIdTextAt))
        throw new Error(`eventId ${event.eventId} is not a UUID`);
      eventIdTextAt += UUID_TEXT_LENGTH;
    }
    at = putVarint(buffer, at + UUID_BYTES, indexOf(event.experimentId));
    at = putVarint(buffer, at, indexOf(event.variantId));
    at = putVarint(buffer, at, indexOf(event.userId));
    at = putVarint(buffer, at, event.metric === undefined ? 0 : indexOf(event.metric) + 1);
    at = eventsOut.putDouble(at, event.value);
    at = eventsOut.putDouble(at, event.timestamp);
    at = eventsOut.putDouble(at, event.receivedAt);
    at = putVarint(buffer, at, segmentCount);
    for (let i = 0; i < segmentCount; i++) {
      const dimension = sortedNames[i] as string;
      at = putVarint(buffer, at, indexOf(dimension));
      at = putVarint(buffer, at, indexOf((segments as Record<string, string>)[dimension] as string));
    }
    eventsOut.offset = at;
    if (!withCovariates) continue;
    const covariates = event.covariates;
    if (covariates === undefined) {
      eventsOut.varint(0);
      continue;
    }
    const covariateCount = sortNames(covariates);
    eventsOut.varint(covariateCount + 1);
    for (let i = 0; i < covariateCount; i++) {
      const name = sortedNames[i] as string;
      eventsOut.varint(indexOf(name));
      eventsOut.double(covariates[name] as number);
    }
  }
  sortedNames.length = 0;
  const countBytes = putVarint(stringCountVarint, 0, strings.size);
  const bodyBytes = countBytes + stringsOut.offset + eventsOut.offset;
  const writeBody = (target: Buffer, at: number): void => {
    stringCountVarint.copy(target, at, 0, countBytes);
    stringsOut.copyTo(target, at + countBytes);
    eventsOut.copyTo(target, at + countBytes + stringsOut.offset);
  };
  let record: Buffer;
  let stored: Buffer;
  if (options.compress) {
    const body = Buffer.allocUnsafe(bodyBytes);
    writeBody(body, 0);
    stored = deflateRawSync(body, { level: DEFLATE_LEVEL });
    record = Buffer.allocUnsafe(HEADER_BYTES + stored.length);
    stored.copy(record, HEADER_BYTES);
  } else {
    record = Buffer.allocUnsafe(HEADER_BYTES + bodyBytes);
    writeBody(record, HEADER_BYTES);
    stored = record.subarray(HEADER_BYTES);
  }
  record[0] = COMPACT_MAGIC[0];
  record[1] = COMPACT_MAGIC[1];
  record[2] = COMPACT_MAGIC[2];
  record[3] = COMPACT_FORMAT_VERSION;
  record[4] = (options.compress ? FLAG_DEFLATE : 0) | (withCovariates ? FLAG_COVARIATES : 0);
  record.writeUInt32LE(crc32(stored), 5);
  return record;
}

/** One event of a compact record: valid, or invalid with its reasons and the fields as read. */
export type CompactEventDecoding =
  { ok: true; event: StreamEvent } | { ok: false; rejections: EventRejection[]; event: Record<string, unknown> };

/** A compact record's events, or why the record as a whole could not be read. */
export type CompactDecoding = { ok: true; events: CompactEventDecoding[] } | { ok: false; rejection: EventRejection };

/**
 * An event of a compact record that fails the contract, as `readCompactRecord` lists it among the
 * valid events (which it lists as they are, without a wrapper object each).
 */
export class InvalidCompactEvent {
  constructor(
    readonly rejections: EventRejection[],
    /** The event as read, for its dead letter. */
    readonly event: Record<string, unknown>,
  ) {}
}

/** A compact record's events in record order (invalid ones as `InvalidCompactEvent`), or why the record could not be read. */
export type CompactRecordEvents =
  { ok: true; events: (StreamEvent | InvalidCompactEvent)[] } | { ok: false; rejection: EventRejection };

/** Thrown inside the reader for framing errors; turned into the record's rejection. */
class FramingError extends Error {}

class ByteReader {
  offset: number;
  constructor(
    readonly buffer: Buffer,
    start: number,
  ) {
    this.offset = start;
  }
  varint(): number {
    let result = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (this.offset >= this.buffer.length) throw new FramingError('truncated varint');
      const byte = this.buffer[this.offset++] as number;
      result |= (byte & 0x7f) << shift;
      if (byte < 0x80) return result >>> 0;
    }
    throw new FramingError('varint longer than 4 bytes');
  }
  byte(): number {
    if (this.offset >= this.buffer.length) throw new FramingError('truncated record');
    return this.buffer[this.offset++] as number;
  }
  double(): number {
    if (this.offset + 8 > this.buffer.length) throw new FramingError('truncated number');
    const value = this.buffer.readDoubleLE(this.offset);
    this.offset += 8;
    return value;
  }
  uuid(): string {
    if (this.offset + UUID_BYTES > this.buffer.length) throw new FramingError('truncated eventId');
    const text = uuidText(this.buffer, this.offset);
    this.offset += UUID_BYTES;
    return text;
  }
  string(): string {
    const length = this.varint();
    if (this.offset + length > this.buffer.length) throw new FramingError('truncated string');
    return this.buffer.toString('utf8', this.offset, (this.offset += length));
  }
}

/** Per string and role: 0 not checked yet, 1 valid, 2 invalid. */
const enum Verdict {
  Unchecked = 0,
  Valid = 1,
  Invalid = 2,
}

/** Validity of each dictionary string in each role it plays, checked once per record. */
class StringVerdicts {
  readonly #key: Uint8Array;
  readonly #userId: Uint8Array;
  readonly #segmentKey: Uint8Array;
  readonly #segmentValue: Uint8Array;
  constructor(private readonly strings: readonly string[]) {
    this.#key = new Uint8Array(strings.length);
    this.#userId = new Uint8Array(strings.length);
    this.#segmentKey = new Uint8Array(strings.length);
    this.#segmentValue = new Uint8Array(strings.length);
  }
  static #check(table: Uint8Array, index: number, text: string, isValid: (text: string) => boolean): boolean {
    const verdict = table[index];
    if (verdict !== Verdict.Unchecked) return verdict === Verdict.Valid;
    const valid = isValid(text);
    table[index] = valid ? Verdict.Valid : Verdict.Invalid;
    return valid;
  }
  key = (index: number): boolean =>
    StringVerdicts.#check(this.#key, index, this.strings[index] as string, streamFieldChecks.key);
  userId = (index: number): boolean =>
    StringVerdicts.#check(this.#userId, index, this.strings[index] as string, streamFieldChecks.userId);
  segmentKey = (index: number): boolean =>
    StringVerdicts.#check(this.#segmentKey, index, this.strings[index] as string, streamFieldChecks.segmentKey);
  segmentValue = (index: number): boolean =>
    StringVerdicts.#check(this.#segmentValue, index, this.strings[index] as string, streamFieldChecks.segmentValue);
}

const recordRejection = (index: number, message: string): { ok: false; rejection: EventRejection } => ({
  ok: false,
  rejection: { index, field: '(record)', rule: 'compact-record', message },
});

function bodyOf(
  data: Buffer,
  index: number,
): { body: Buffer; withCovariates: boolean } | { ok: false; rejection: EventRejection } {
  if (data[3] !== COMPACT_FORMAT_VERSION) {
    return recordRejection(index, `compact record version ${data[3]} is not supported (supported: 1)`);
  }
  const flags = data[4] as number;
  if ((flags & ~KNOWN_FLAGS) !== 0) return recordRejection(index, `unknown compact record flags ${flags}`);
  const stored = data.subarray(HEADER_BYTES);
  if (crc32(stored) !== data.readUInt32LE(5)) return recordRejection(index, 'compact record checksum mismatch');
  const withCovariates = (flags & FLAG_COVARIATES) !== 0;
  if ((flags & FLAG_DEFLATE) === 0) return { body: stored, withCovariates };
  try {
    return { body: inflateRawSync(stored, { maxOutputLength: MAX_BODY_BYTES }), withCovariates };
  } catch (error) {
    return recordRejection(index, `compact record body does not inflate: ${(error as Error).message}`);
  }
}

/**
 * Reads a compact record. `index` is the record's position in its batch (used in a
 * whole-record rejection); `maxSegments` is the contract's segment limit. Never throws for
 * bad bytes.
 *
 * @example
 *   const decoded = decodeCompactRecord(record.data, 0, { maxSegments: 10 });
 *   if (decoded.ok) for (const e of decoded.events) if (e.ok) count(e.event);
 */
export function decodeCompactRecord(data: Uint8Array, index: number, limits: { maxSegments: number }): CompactDecoding {
  const read = readCompactRecord(data, index, limits);
  if (!read.ok) return read;
  return {
    ok: true,
    events: read.events.map((event): CompactEventDecoding =>
      event instanceof InvalidCompactEvent
        ? { ok: false, rejections: event.rejections, event: event.event }
        : { ok: true, event },
    ),
  };
}

/**
 * `decodeCompactRecord` for the processors' hot path: the valid events as they are (no
 * `{ ok, event }` object per event), the invalid ones as `InvalidCompactEvent` in their place.
 *
 * @example
 *   const read = readCompactRecord(record.data, 0, { maxSegments: 10 });
 *   if (read.ok) for (const e of read.events) if (!(e instanceof InvalidCompactEvent)) count(e);
 */
export function readCompactRecord(
  data: Uint8Array,
  index: number,
  limits: { maxSegments: number },
): CompactRecordEvents {
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (!isCompactRecord(bytes)) return recordRejection(index, 'not a compact record (magic number missing)');
  const read = bodyOf(bytes, index);
  if ('ok' in read) return read;
  try {
    return { ok: true, events: readEvents(new ByteReader(read.body, 0), limits.maxSegments, read.withCovariates) };
  } catch (error) {
    if (error instanceof FramingError) return recordRejection(index, `compact record is malformed: ${error.message}`);
    throw error;
  }
}

function readEvents(
  reader: ByteReader,
  maxSegments: number,
  withCovariates: boolean,
): (StreamEvent | InvalidCompactEvent)[] {
  const stringCount = reader.varint();
  if (stringCount > reader.buffer.length) throw new FramingError(`string count ${stringCount} exceeds the record`);
  const strings: string[] = new Array<string>(stringCount);
  for (let i = 0; i < stringCount; i++) strings[i] = reader.string();
  const stringAt = (position: number): string => {
    const text = strings[position];
    if (text === undefined) throw new FramingError(`string index ${position} out of range (${stringCount} strings)`);
    return text;
  };
  const verdicts = new StringVerdicts(strings);
  // Events of one record that share their segments share one (frozen) segments object.
  const segmentObjects = new SegmentObjects();
  let hashes: StringHashes | undefined; // made when a segments combination is first looked up across records

  const eventCount = reader.varint();
  if (eventCount > reader.buffer.length) throw new FramingError(`event count ${eventCount} exceeds the record`);
  const events = new Array<StreamEvent | InvalidCompactEvent>(eventCount);
  const segmentIndices: number[] = [];
  for (let e = 0; e < eventCount; e++) {
    const typeByte = reader.byte();
    const eventId = reader.uuid();
    const experiment = reader.varint();
    const variant = reader.varint();
    const user = reader.varint();
    const metricPlusOne = reader.varint();
    const value = reader.double();
    const timestamp = reader.double();
    const receivedAt = reader.double();
    const segmentCount = reader.varint();
    let valid = typeByte <= 1 && segmentCount <= maxSegments;
    let segments: Readonly<Record<string, string>> | undefined;
    if (segmentCount > 0) {
      if (segmentCount > reader.buffer.length)
        throw new FramingError(`segment count ${segmentCount} exceeds the record`);
      segmentIndices.length = 0;
      let hash = segmentCount;
      for (let s = 0; s < segmentCount; s++) {
        const dimension = reader.varint();
        const segmentValue = reader.varint();
        segmentIndices.push(dimension, segmentValue);
        hash = Math.imul(Math.imul(hash ^ dimension, FNV_PRIME) ^ segmentValue, FNV_PRIME);
      }
      segments = segmentObjects.find(hash, segmentIndices);
      if (!segments) {
        hashes ??= new StringHashes(stringCount, stringAt);
        segments = sharedSegmentsOf(segmentIndices, stringAt, hashes, verdicts);
        segmentObjects.add(hash, segmentIndices, segments);
      }
      valid &&= segmentsValid.has(segments);
    }
    let covariates: Record<string, number> | undefined;
    let covariateCount = 0;
    let covariatesOrdered = true;
    const covariatesPlusOne = withCovariates ? reader.varint() : 0;
    if (covariatesPlusOne > 0) {
      covariateCount = covariatesPlusOne - 1;
      if (covariateCount > reader.buffer.length)
        throw new FramingError(`covariate count ${covariateCount} exceeds the record`);
      covariates = {};
      let previous: string | undefined;
      valid &&= typeByte === 0 && covariateCount <= MAX_COVARIATES;
      for (let c = 0; c < covariateCount; c++) {
        const nameIndex = reader.varint();
        const covariateValue = reader.double();
        const name = stringAt(nameIndex);
        // A name such as `__proto__` must become a field, as JSON.parse makes it (assignment would not).
        if (name === '__proto__')
          Object.defineProperty(covariates, name, {
            value: covariateValue,
            enumerable: true,
            writable: true,
            configurable: true,
          });
        else covariates[name] = covariateValue;
        if (previous !== undefined && !(previous < name)) covariatesOrdered = false;
        previous = name;
        valid &&= verdicts.key(nameIndex) && streamFieldChecks.value(covariateValue);
      }
      valid &&= covariatesOrdered;
    }
    const experimentId = stringAt(experiment);
    const variantId = stringAt(variant);
    const userId = stringAt(user);
    const type = typeByte === 1 ? 'conversion' : 'impression';
    const metric = metricPlusOne === 0 ? undefined : stringAt(metricPlusOne - 1);
    // The contract's one literal per shape (validate-event.ts): events of both record formats share their hidden classes.
    const event = streamEventOf(
      CURRENT_CONTRACT_VERSION,
      eventId,
      type,
      experimentId,
      variantId,
      userId,
      metric,
      value,
      segments,
      covariates,
      timestamp,
      receivedAt,
    );
    valid &&=
      verdicts.key(experiment) &&
      verdicts.key(variant) &&
      verdicts.userId(user) &&
      (metricPlusOne === 0 ? typeByte === 0 : verdicts.key(metricPlusOne - 1)) &&
      streamFieldChecks.value(value) &&
      streamFieldChecks.instant(timestamp) &&
      streamFieldChecks.instant(receivedAt);
    events[e] = valid
      ? event
      : invalidEvent(event, typeByte, { segmentCount, covariateCount, covariatesOrdered }, e, maxSegments);
  }
  if (reader.offset !== reader.buffer.length) {
    throw new FramingError(`${reader.buffer.length - reader.offset} bytes after the last event`);
  }
  return events;
}

/** FNV-1a's 32-bit prime: mixes a record's (dimension, value) string indices into one number. */
const FNV_PRIME = 16777619;

/**
 * (Exported for its tests.) A record's segments objects by their (dimension, value) string indices: looked up by a hash
 * of the indices and confirmed by comparing them, so reading an event builds no key string.
 */
export class SegmentObjects {
  readonly #byHash = new Map<number, { indices: number[]; segments: Readonly<Record<string, string>> }[]>();

  find(hash: number, indices: readonly number[]): Readonly<Record<string, string>> | undefined {
    const candidates = this.#byHash.get(hash);
    if (candidates === undefined) return undefined;
    for (const candidate of candidates) if (sameIndices(candidate.indices, indices)) return candidate.segments;
    return undefined;
  }

  add(hash: number, indices: readonly number[], segments: Readonly<Record<string, string>>): void {
    const entry = { indices: [...indices], segments };
    const candidates = this.#byHash.get(hash);
    if (candidates === undefined) this.#byHash.set(hash, [entry]);
    else candidates.push(entry);
  }
}

function sameIndices(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A record's dictionary strings' content hashes (fnv1a32), each computed when first asked for;
 * 0 marks one not computed yet, so a string whose hash is 0 is given 1 (the table confirms every
 * match by content, so a hash only has to be the same for the same content).
 */
class StringHashes {
  readonly #hashes: Uint32Array;
  constructor(
    count: number,
    private readonly stringAt: (index: number) => string,
  ) {
    this.#hashes = new Uint32Array(count);
  }
  /** The hash of string `index`; throws the framing error of `stringAt` for an index out of range. */
  of(index: number): number {
    const known = this.#hashes[index];
    if (known !== undefined && known !== 0) return known;
    const hash = fnv1a32(this.stringAt(index)) || 1;
    this.#hashes[index] = hash;
    return hash;
  }
}

/** One segments object in the shared table, with the strings it was built from and the next of its hash. */
interface SharedSegmentsEntry {
  /** Dimension and value strings in record order (dimension, value, dimension, value, …). */
  readonly texts: readonly string[];
  readonly segments: Readonly<Record<string, string>>;
  readonly next: SharedSegmentsEntry | undefined;
}

/**
 * Segments objects by content, shared across records (each record has its own dictionary, so its
 * own string indices): looked up by a hash of the strings' content hashes and confirmed by
 * comparing the strings themselves, so two contents whose hashes collide keep their own objects
 * and a lookup builds no key string. Bounded: emptied when it holds SHARED_SEGMENTS_LIMIT
 * combinations.
 */
const sharedSegments = new Map<number, SharedSegmentsEntry>();
let sharedSegmentsCount = 0;
const SHARED_SEGMENTS_LIMIT = 10_000;

/** The one frozen segments object of this content (names and values in record order). */
function sharedSegmentsOf(
  indices: readonly number[],
  stringAt: (index: number) => string,
  hashes: StringHashes,
  verdicts: StringVerdicts,
): Readonly<Record<string, string>> {
  let hash = indices.length;
  for (let i = 0; i < indices.length; i++) hash = Math.imul(hash ^ hashes.of(indices[i] as number), FNV_PRIME);
  hash >>>= 2; // 30 bits: a small integer on every V8 build, so the lookup boxes no number
  let first = sharedSegments.get(hash);
  for (let entry = first; entry !== undefined; entry = entry.next) {
    if (sameTexts(entry.texts, indices, stringAt)) return entry.segments;
  }
  if (sharedSegmentsCount >= SHARED_SEGMENTS_LIMIT) {
    sharedSegments.clear();
    sharedSegmentsCount = 0;
    first = undefined;
  }
  const segments = segmentsOf(indices, stringAt, verdicts);
  // A loop, not `indices.map((index) => stringAt(index))`: a closure over a parameter would make every
  // call (hits too) allocate a context for it.
  const texts = new Array<string>(indices.length);
  for (let i = 0; i < indices.length; i++) texts[i] = stringAt(indices[i] as number);
  sharedSegments.set(hash, { texts, segments, next: first });
  sharedSegmentsCount++;
  return segments;
}

/** Whether a shared entry's strings are the record's strings at `indices`, in order (=== compares content). */
function sameTexts(texts: readonly string[], indices: readonly number[], stringAt: (index: number) => string): boolean {
  if (texts.length !== indices.length) return false;
  for (let i = 0; i < texts.length; i++) if (texts[i] !== stringAt(indices[i] as number)) return false;
  return true;
}

/** Segment objects whose every name and value passed, in ascending dimension order without repeats. */
const segmentsValid = new WeakSet<object>();

/** Builds one segments object from (dimension, value) string indices and records whether it is valid. */
function segmentsOf(
  indices: readonly number[],
  stringAt: (index: number) => string,
  verdicts: StringVerdicts,
): Readonly<Record<string, string>> {
  const segments: Record<string, string> = {};
  const pairs: [string, string][] = [];
  let valid = true;
  let previous: string | undefined;
  for (let i = 0; i < indices.length; i += 2) {
    const dimension = indices[i] as number;
    const value = indices[i + 1] as number;
    const name = stringAt(dimension);
    const text = stringAt(value);
    pairs.push([name, text]);
    // A name such as `__proto__` must become a field, as JSON.parse makes it (assignment would not).
    if (name === '__proto__')
      Object.defineProperty(segments, name, { value: text, enumerable: true, writable: true, configurable: true });
    else segments[name] = text;
    if (previous !== undefined && !(previous < name)) valid = false; // out of order or repeated
    previous = name;
    valid &&= verdicts.segmentKey(dimension) && verdicts.segmentValue(value);
  }
  // Names ascend in a valid record: the pairs are the sorted segments the processors use.
  if (valid) attachSortedSegments(segments, Object.freeze(pairs));
  Object.freeze(segments);
  if (valid) segmentsValid.add(segments);
  return segments;
}

/** What the framing said about an event's maps: how many entries it wrote, whether covariate names ascended. */
interface MapFraming {
  segmentCount: number;
  covariateCount: number;
  covariatesOrdered: boolean;
}

/** The framing rule a map of an event breaks (names repeated or out of order), if any. */
function framingRejection(
  index: number,
  field: 'segments' | 'covariates',
  written: number,
  kept: number,
): EventRejection {
  const repeated = written > kept;
  const [one, all] = field === 'segments' ? ['a dimension', 'dimensions'] : ['a covariate', 'covariate names'];
  return {
    index,
    field,
    rule: repeated ? 'duplicate-key' : 'key-order',
    message: repeated
      ? `${field} names ${one} twice`
      : `${field} must list ${all} in ascending code-unit order (the compact format sorts them)`,
  };
}

/**
 * The reasons an event that failed a fast check is refused, in the words of the JSON
 * validator; then the rules only the compact framing can break (segment dimensions or
 * covariate names out of order or repeated).
 */
function invalidEvent(
  event: StreamEvent,
  typeByte: number,
  framing: MapFraming,
  index: number,
  maxSegments: number,
): InvalidCompactEvent {
  const asRead: Record<string, unknown> = { ...event, type: typeByte <= 1 ? event.type : `(type byte ${typeByte})` };
  const checked = validateStreamEvent(asRead, index, { maxSegments });
  if (!checked.ok) return new InvalidCompactEvent(checked.rejections, asRead);
  const rejections: EventRejection[] = [];
  if (event.segments !== undefined && !segmentsValid.has(event.segments)) {
    rejections.push(framingRejection(index, 'segments', framing.segmentCount, Object.keys(event.segments).length));
  }
  const covariateNames = Object.keys(event.covariates ?? {}).length;
  if (framing.covariateCount > covariateNames || !framing.covariatesOrdered) {
    rejections.push(framingRejection(index, 'covariates', framing.covariateCount, covariateNames));
  }
  return new InvalidCompactEvent(rejections, asRead);
}
