/**
 * Kinesis sequence numbers are decimal strings of up to 128 bits: beyond JS numbers and
 * beyond DynamoDB's 38-digit numbers. Comparing them as fixed-width, zero-padded strings
 * orders them correctly and keeps them storable as DynamoDB strings.
 */
export const SEQUENCE_NUMBER_WIDTH = 40;
const SUB_SEQUENCE_WIDTH = 6;

/** Left-pads a sequence number to the fixed width so string order equals numeric order. */
export function padSequenceNumber(sequenceNumber: string): string {
  if (!/^\d{1,40}$/.test(sequenceNumber)) throw new Error(`not a Kinesis sequence number: ${sequenceNumber}`);
  return sequenceNumber.padStart(SEQUENCE_NUMBER_WIDTH, '0');
}

/**
 * A totally ordered position of a user record within its shard:
 * padded sequence number, then padded sub-sequence number (position inside a KPL aggregate).
 */
export function recordPosition(sequenceNumber: string, subSequenceNumber: number): string {
  return `${padSequenceNumber(sequenceNumber)}.${String(subSequenceNumber).padStart(SUB_SEQUENCE_WIDTH, '0')}`;
}

/** Negative, zero or positive like a comparator, for sequence numbers of any length. */
export function compareSequenceNumbers(a: string, b: string): number {
  const left = padSequenceNumber(a);
  const right = padSequenceNumber(b);
  return left < right ? -1 : left > right ? 1 : 0;
}
