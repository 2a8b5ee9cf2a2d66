import { expect, it } from 'vitest';
import { compareSequenceNumbers, recordPosition } from './sequence-number.js';

it('orders record positions like (sequence number, sub-sequence number), whatever their lengths', () => {
  const records: [string, number][] = [
    ['9', 0],
    ['10', 0],
    ['49590338271490256608559692538361571095921575989136588898', 0],
    ['49590338271490256608559692538361571095921575989136588898', 1],
    ['49590338271490256608559692538361571095921575989136588898', 12],
    ['49590338271490256608559692538361571095921575989136588899', 0],
  ];
  const positions = records.map(([sequence, sub]) => recordPosition(sequence, sub));
  expect([...positions].sort()).toEqual(positions);
  expect(new Set(positions).size).toBe(records.length);
  expect(recordPosition('10', 3)).toBe('00210.000003');
});

it('pads every sub-sequence number alike, below and above the padded ones kept', () => {
  const subs = [0, 9, 10, 999, 4095, 4096, 4097, 65_535, 999_999];
  expect(subs.map((sub) => recordPosition('42', sub))).toEqual(
    subs.map((sub) => `00242.${String(sub).padStart(6, '0')}`),
  );
  expect(recordPosition('42', 4095) < recordPosition('42', 4096)).toBe(true);
});

it('drops leading zeros, so one sequence number written two ways is one position', () => {
  expect(recordPosition('000123', 7)).toBe(recordPosition('123', 7));
  expect(recordPosition('0', 0)).toBe('0010.000000');
});

it('refuses what is not a sequence number, also right after a valid one of the same record', () => {
  expect(() => recordPosition('', 0)).toThrow('not a Kinesis sequence number: ');
  expect(recordPosition('42', 0)).toBe('00242.000000');
  expect(recordPosition('42', 1)).toBe('00242.000001');
  expect(() => recordPosition('42a', 0)).toThrow('not a Kinesis sequence number: 42a');
  expect(() => recordPosition('', 1)).toThrow('not a Kinesis sequence number');
});

it('compares sequence numbers numerically', () => {
  expect(compareSequenceNumbers('9', '10')).toBeLessThan(0);
  expect(compareSequenceNumbers('10', '10')).toBe(0);
  expect(compareSequenceNumbers('0010', '9')).toBeGreaterThan(0);
});
