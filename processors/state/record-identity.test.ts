import fc from 'fast-check';
import { expect, it } from 'vitest';
import { recordPosition } from '../sequence-number.js';
import { compactPosition, recordIdentity, shardTag, ShardRecordIdentities, startsWithText } from './record-identity.js';

const sequenceNumber = fc.oneof(
  fc.bigInt({ min: 0n, max: 10n ** 56n - 1n }),
  fc.bigInt({ min: 0n, max: 10n ** 129n - 1n }),
  fc.bigInt({ min: 0n, max: 1000n }),
);
const position = fc
  .tuple(sequenceNumber, fc.integer({ min: 0, max: 999_999 }))
  .map(([sequence, sub]) => recordPosition(sequence.toString(), sub));

const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

it('compact positions keep the byte order of record positions, and are shorter', () => {
  fc.assert(
    fc.property(position, position, (a, b) => {
      expect(Math.sign(byteOrder(compactPosition(a), compactPosition(b)))).toBe(Math.sign(byteOrder(a, b)));
      expect(compactPosition(a).length).toBeLessThanOrEqual(a.length);
    }),
    { numRuns: 2000 },
  );
});

it('a 56-digit Kinesis sequence number compacts to 42 characters', () => {
  const kinesis = recordPosition('49590338271490256608559692538361571095921575989136588898', 3);
  expect(compactPosition(kinesis)).toHaveLength(42);
});

it('shortens standard shard ids and keeps others whole', () => {
  expect(shardTag('shardId-000000000012')).toBe('12');
  expect(shardTag('shardId-000000000000')).toBe('0');
  expect(shardTag('custom')).toBe('custom');
  // Only a whole standard id is shortened: a tag must never be shared by two shards.
  expect(shardTag('xshardId-000000000003')).toBe('xshardId-000000000003');
  expect(shardTag('shardId-000000000003x')).toBe('shardId-000000000003x');
  expect(shardTag('shardId-000000000003')).toBe('3'); // asked again: the memoized answer
});

/** compactPosition as first written (no caches): the reference the cached forms must match. */
function referenceCompact(position: string): string {
  const dot = position.indexOf('.');
  const sequence = BigInt(position.slice(3, dot)).toString(36);
  const sub = Number(position.slice(dot + 1))
    .toString(36)
    .padStart(4, '0');
  return `${sequence.length.toString(36).padStart(2, '0')}${sequence}${sub}`;
}

it('record identities are the shard prefix and the compact position, whatever order records and shards come in', () => {
  // Few sequence numbers and subs, so runs of one record (the cached path) and switches both occur.
  const record = fc.tuple(
    fc.constantFrom('0@', '12@', 'custom@'),
    fc.constantFrom('1', '49590338271490256608559692538361571095921575989136588898', '1000', '10'),
    fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 999_999 }), fc.integer({ min: 1e6, max: 2e9 })),
  );
  fc.assert(
    fc.property(fc.array(record, { minLength: 1, maxLength: 30 }), (records) => {
      for (const [prefix, sequence, sub] of records) {
        const position = recordPosition(sequence, sub);
        expect(recordIdentity(prefix, position)).toBe(prefix + referenceCompact(position));
        expect(compactPosition(position)).toBe(referenceCompact(position));
      }
    }),
    { numRuns: 500 },
  );
});

it('reads a sub-sequence part that is not plain digits as Number does, and rejects a position without a head', () => {
  for (const position of [
    '0011000.',
    '0011000.1e3',
    '0011000. 12',
    '0011000.0x1f',
    '0011000.12345678901234567890',
    '0011000.9007199254740993',
    '0011000.1000000000000009',
  ]) {
    expect(compactPosition(position)).toBe(referenceCompact(position));
    expect(recordIdentity('0@', position)).toBe('0@' + referenceCompact(position));
  }
  expect(() => compactPosition('1.5')).toThrow('not a record position');
  expect(() => recordIdentity('0@', '1.5')).toThrow('not a record position');
});

it("a shard's record identities fence exactly like comparing whole identities with the committed one", () => {
  const sequence = fc.constantFrom(
    '1',
    '35',
    '36',
    '1000',
    '1296',
    '49590338271490256608559692538361571095921575989136588898',
  );
  const position = fc
    .tuple(sequence, fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 2e9 })))
    .map(([digits, sub]) => recordPosition(digits, sub));
  // What compactPosition writes, and forms it never writes (the test must hold for any committed string).
  const committed = fc.oneof(
    position.map(compactPosition),
    fc.constantFrom('', '0', '01', '011', '011000', '0110001', 'zz', '-1x', '02rs'),
    fc.string({ maxLength: 12 }),
  );
  fc.assert(
    fc.property(
      fc.constantFrom('0@', '12@'),
      fc.option(committed, { nil: undefined }),
      fc.array(position, { minLength: 1, maxLength: 25 }),
      (prefix, committedPosition, positions) => {
        const records = new ShardRecordIdentities(prefix, committedPosition);
        for (const at of positions) {
          const whole = prefix + referenceCompact(at);
          expect(records.read(at)).toBe(committedPosition !== undefined && whole <= prefix + committedPosition);
          expect(records.identity()).toBe(whole);
        }
      },
    ),
    { numRuns: 2000 },
  );
});

it("fences the committed record's own events by their sub-sequence number", () => {
  const committed = compactPosition(recordPosition('1000', 3));
  const records = new ShardRecordIdentities('0@', committed);
  const fenced = [0, 3, 4, 70].map((sub) => records.read(recordPosition('1000', sub)));
  expect(fenced).toEqual([true, true, false, false]);
  expect([records.read(recordPosition('999', 9)), records.read(recordPosition('1001', 0))]).toEqual([true, false]);
  expect(() => records.read('1.5')).toThrow('not a record position');
});

it('startsWithText answers what startsWith answers, for any text and prefix, positions included', () => {
  const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), position);
  fc.assert(
    fc.property(text, text, fc.nat(), (whole, other, cut) => {
      const ownPrefix = whole.slice(0, cut % (whole.length + 1));
      expect(startsWithText(whole, ownPrefix)).toBe(true);
      expect(startsWithText(whole, other)).toBe(whole.startsWith(other));
      expect(startsWithText(other, whole)).toBe(other.startsWith(whole));
    }),
  );
  const head = recordPosition('4959' + '0'.repeat(51) + '1', 0).slice(0, -5);
  expect(startsWithText(recordPosition('4959' + '0'.repeat(51) + '1', 42), head)).toBe(true);
  expect(startsWithText(recordPosition('4959' + '0'.repeat(51) + '2', 42), head)).toBe(false);
  expect(startsWithText(head.slice(0, -1), head)).toBe(false); // shorter than the prefix
  expect(startsWithText('x' + head, head)).toBe(false); // the prefix later in the text is not at its start
});
