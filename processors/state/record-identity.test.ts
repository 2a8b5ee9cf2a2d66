import fc from 'fast-check';
import { expect, it } from 'vitest';
import { recordPosition } from '../sequence-number.js';
import { compactPosition, shardTag } from './record-identity.js';

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
});
