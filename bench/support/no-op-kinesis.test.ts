import { afterEach, describe, expect, it } from 'vitest';
import { createSilentLogger } from '../../common/logger.js';
import { startCollector, type RunningCollector } from '../../ingest/server.js';
import { loadShardMap } from '../../ingest/stream-shards.js';
import { testConfig } from '../../local/test-support/test-config.js';
import { createNoOpKinesis, evenShards } from './no-op-kinesis.js';

let collector: RunningCollector | undefined;
afterEach(async () => {
  await collector?.stop();
  collector = undefined;
});

const events = (count: number) =>
  Array.from({ length: count }, (_, i) => ({
    type: 'impression',
    experimentId: 'exp',
    variantId: 'control',
    userId: `user-${i}`,
  }));

describe('no-op (fake) Kinesis client for the ingest bench', () => {
  it('splits the hash-key space into contiguous shards covering all of it', () => {
    const shards = evenShards(3).map((shard) => shard.HashKeyRange);
    expect(BigInt(shards[0]?.StartingHashKey ?? '-1')).toBe(0n);
    expect(BigInt(shards[2]?.EndingHashKey ?? '0')).toBe((1n << 128n) - 1n);
    expect(BigInt(shards[1]?.StartingHashKey ?? '0')).toBe(BigInt(shards[0]?.EndingHashKey ?? '0') + 1n);
    expect(BigInt(shards[2]?.StartingHashKey ?? '0')).toBe(BigInt(shards[1]?.EndingHashKey ?? '0') + 1n);
  });

  for (const format of ['json', 'compact'] as const) {
    it(`lets the real collector accept and "write" a request (${format})`, async () => {
      const kinesis = createNoOpKinesis({ shards: 4 });
      collector = await startCollector(testConfig({ INGEST_PORT: '0', INGEST_RECORD_FORMAT: format }), {
        kinesis,
        logger: createSilentLogger(),
      });
      const response = await fetch(`${collector.url}/api/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(events(200)),
      });
      expect(response.status).toBe(202);
      expect(((await response.json()) as { accepted: number }).accepted).toBe(200);
      expect((await fetch(`${collector.url}/ready`)).status).toBe(200);
      // json: one record per event; compact: one record per shard of the call.
      if (format === 'json') expect(kinesis.recordsWritten).toBe(200);
      else expect(kinesis.recordsWritten).toBeLessThanOrEqual(4);
      expect(kinesis.bytesWritten).toBeGreaterThan(0);
      expect((await loadShardMap(kinesis, 'any')).shardCount).toBe(4);
    });
  }
});
