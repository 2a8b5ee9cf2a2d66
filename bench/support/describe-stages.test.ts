/**
 * The stage notes of the pipeline and flush-interval benches: which stages they name, in which
 * order, and what the drain note sums and divides by.
 */
import { describe, expect, it } from 'vitest';
import { describeStageTotals, describeStages } from './describe-stages.js';

const times = (totalMs: number) => ({ p50: 1, p99: 2, count: 3, totalMs });

describe('describeStages', () => {
  it('prints p50 / p99 of each observed stage in pipeline order, one decimal', () => {
    expect(describeStages({ cell_writes: { p50: 10.04, p99: 20.06, count: 2, totalMs: 30 }, decode: times(3) })).toBe(
      'decode 1.0 / 2.0, cell_writes 10.0 / 20.1',
    );
  });
});

describe('describeStageTotals (where a drain’s reader time went)', () => {
  it('sums each reader stage over the processes, against wall time × readers', () => {
    expect(
      describeStageTotals(
        [
          { decode: times(30), state: times(100) },
          { state: times(50), cell_writes: times(20) },
        ],
        500,
        2,
      ),
    ).toBe('decode 30 (3%), state 150 (15%), cell_writes 20 (2%) of 1000 reader-ms');
  });

  it('leaves out the waits before a reader reads (collector_to_stream, stream_to_read) and stages never observed', () => {
    expect(
      describeStageTotals(
        [{ collector_to_stream: times(900), stream_to_read: times(800), gather: times(10), checkpoint: times(0) }],
        100,
        1,
      ),
    ).toBe('gather 10 (10%) of 100 reader-ms');
  });
});
