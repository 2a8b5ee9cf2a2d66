/**
 * Kinesis sequence numbers are decimal strings of up to 129 digits (API pattern
 * `0|([1-9]\d{0,128})`; Kinesis and kinesalite hand out 56-digit ones today): beyond JS
 * numbers and beyond DynamoDB's 38-digit numbers. Comparing them as fixed-width,
 * zero-padded strings orders them correctly and keeps them storable as DynamoDB strings.
 */
export const SEQUENCE_NUMBER_WIDTH = 129;
const SUB_SEQUENCE_WIDTH = 6;
const SEQUENCE_NUMBER = /^\d{1,129}$/;

/** Left-pads a sequence number to the fixed width so string order equals numeric order. */
export function padSequenceNumber(sequenceNumber: string): string {
  if (!SEQUENCE_NUMBER.test(sequenceNumber)) throw new Error(`not a Kinesis sequence number: ${sequenceNumber}`);
  return sequenceNumber.padStart(SEQUENCE_NUMBER_WIDTH, '0');
}

/**
 * A totally ordered position of a user record within its shard: the sequence number
 * prefixed by its digit count (3 digits), then the padded sub-sequence number (position
 * inside a KPL aggregate). String order equals record order, like a padded form, but a
 * 56-digit sequence number takes 66 characters instead of 136: positions are stored on
 * every counter item (one watermark per shard), and DynamoDB bills writes by item size.
 */
export function recordPosition(sequenceNumber: string, subSequenceNumber: number): string {
  const sub = paddedSubSequence(subSequenceNumber);
  // The user records of one aggregated record share its sequence number: its prefix is built once.
  if (sequenceNumber === lastPrefix.sequenceNumber) return `${lastPrefix.prefix}${sub}`;
  if (!SEQUENCE_NUMBER.test(sequenceNumber)) throw new Error(`not a Kinesis sequence number: ${sequenceNumber}`);
  const digits =
    sequenceNumber.length > 1 && sequenceNumber[0] === '0' ? sequenceNumber.replace(/^0+(?=\d)/, '') : sequenceNumber;
  lastPrefix = { sequenceNumber, prefix: `${String(digits.length).padStart(3, '0')}${digits}.` };
  return `${lastPrefix.prefix}${sub}`;
}

/**
 * Sub-sequence numbers below this keep their padded text (the user records of one aggregated
 * record are numbered from 0; the collector's compact records hold a few hundred events).
 */
const PADDED_SUB_SEQUENCES = 4096;
const paddedSubSequences: string[] = Array.from({ length: PADDED_SUB_SEQUENCES }, (_, n) =>
  String(n).padStart(SUB_SEQUENCE_WIDTH, '0'),
);

/** `subSequenceNumber` zero-padded to SUB_SEQUENCE_WIDTH: a kept string below PADDED_SUB_SEQUENCES (no two new strings per event). */
function paddedSubSequence(subSequenceNumber: number): string {
  if (subSequenceNumber >= 0 && subSequenceNumber < PADDED_SUB_SEQUENCES) {
    const cached = paddedSubSequences[subSequenceNumber];
    if (cached !== undefined) return cached;
  }
  return String(subSequenceNumber).padStart(SUB_SEQUENCE_WIDTH, '0');
}

/** The last sequence number `recordPosition` saw and its position prefix (digit count, digits, '.'). */
let lastPrefix: { sequenceNumber: string | undefined; prefix: string } = { sequenceNumber: undefined, prefix: '' };

/** Negative, zero or positive like a comparator, for sequence numbers of any length. */
export function compareSequenceNumbers(a: string, b: string): number {
  const left = padSequenceNumber(a);
  const right = padSequenceNumber(b);
  return left < right ? -1 : left > right ? 1 : 0;
}
