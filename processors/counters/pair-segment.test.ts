import fc from 'fast-check';
import { expect, it } from 'vitest';
import { decodeCellKey, encodeCellKey, encodePairSegment, parsePairSegment } from '../../common/counter-layout.js';

const dimension = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,10}$/);
const value = fc.string({ minLength: 1, maxLength: 12 });

it('pair cells name dimensions in order and split back into both values, even values holding + or %', () => {
  fc.assert(
    fc.property(dimension, value, dimension, value, (dimA, valueA, dimB, valueB) => {
      fc.pre(dimA !== dimB);
      const segment = encodePairSegment({ dimension: dimA, value: valueA }, { dimension: dimB, value: valueB });
      const decoded = decodeCellKey(encodeCellKey({ variantId: 'v', metricKey: 'm', segment }));
      const parsed = parsePairSegment(decoded.segment!);
      const expected = [
        { dimension: dimA, value: valueA },
        { dimension: dimB, value: valueB },
      ].sort((a, b) => (a.dimension < b.dimension ? -1 : 1));
      expect(parsed).toEqual(expected);
    }),
  );
  expect(encodePairSegment({ dimension: 'device', value: 'ios' }, { dimension: 'country', value: 'US' })).toEqual({
    dimension: 'country+device',
    value: 'US+ios',
  });
  expect(parsePairSegment({ dimension: 'country', value: 'US' })).toBeUndefined();
});
