import { describe, expect, it } from 'vitest';
import { recordFormatScenario, shardsNeeded } from './record-format.js';

describe('shardsNeeded: Kinesis per-shard write limits (1 MiB/s, 1,000 records/s)', () => {
  it('is bound by records when each event is its own record', () => {
    expect(shardsNeeded(100_000, 300, 1)).toEqual({ shards: 100, boundBy: 'records' });
  });

  it('is bound by bytes when records are aggregated, rounding up to whole shards', () => {
    // 100,000 × 64 B = 6.1 MiB/s → 7 shards; 800 records/s alone would need 1.
    expect(shardsNeeded(100_000, 64, 125)).toEqual({ shards: 7, boundBy: 'bytes' });
    expect(shardsNeeded(16_384, 64, 1_000)).toEqual({ shards: 1, boundBy: 'bytes' });
    expect(shardsNeeded(16_385, 64, 1_000)).toEqual({ shards: 2, boundBy: 'bytes' });
  });
});

describe('record-format bench (short run, no services)', () => {
  it('reports every format, decodes each back to the events encoded, and applies the shard formula to its own figures', async () => {
    const report = await recordFormatScenario.run({
      command: 'npm run bench -- record-format --events 2000 --passes 1',
      progress: () => undefined,
      options: {
        events: '2000',
        eventsPerCall: '500',
        shards: '4',
        rate: '100000',
        segmentDimensions: '3',
        passes: '1',
        seed: '7',
      },
    });
    expect(report.rows.map((row) => row.name)).toEqual([
      'json: one event per record',
      'KPL aggregates of json',
      'compact',
      'compact + deflate',
    ]);
    expect(report.notes.filter((note) => note.startsWith('CORRECTNESS FAILURE'))).toEqual([]);
    expect(report.notes).toContain('Every format decoded back to the 2,000 events encoded.');
    const metric = (name: string, key: string) => report.rows.find((row) => row.name === name)?.metrics[key] as number;
    expect(metric('json: one event per record', 'events/record')).toBe(1);
    expect(metric('compact', 'bytes/event')).toBeLessThan(metric('json: one event per record', 'bytes/event') / 2);
    expect(metric('compact + deflate', 'bytes/event')).toBeLessThan(metric('compact', 'bytes/event'));
    for (const row of report.rows) {
      const bytes = row.metrics['bytes/event'] as number;
      const perRecord = row.metrics['events/record'] as number;
      expect(row.metrics['events per shard-MB']).toBeCloseTo((1024 * 1024) / bytes, 6);
      expect(row.metrics['shards for 100,000 ev/s']).toBe(shardsNeeded(100_000, bytes, perRecord).shards);
      expect(row.metrics['encode µs/event']).toBeGreaterThan(0);
      expect(row.metrics['decode µs/event']).toBeGreaterThan(0);
    }
  });
});
