/**
 * Test harness: a real collector on a free port writing to a fresh kinesalite stream.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { createKinesisClient } from '../../common/aws-clients.js';
import type { Config } from '../../common/config.js';
import { createSilentLogger } from '../../common/logger.js';
import { ensureStream } from '../../local/provision.js';
import { readAllRecords } from '../../local/test-support/stream-reader.js';
import { testConfig } from '../../local/test-support/test-config.js';
import { startCollector, type CollectorOverrides, type RunningCollector } from '../server.js';

export interface CollectorHarness {
  config: Config;
  kinesis: KinesisClient;
  collector: RunningCollector;
  post(
    body: string | unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: any; headers: Headers }>;
  streamEvents(): Promise<{ partitionKey: string; shardId: string; event: any }[]>;
  close(): Promise<void>;
}

export async function startCollectorHarness(
  env: Record<string, string> = {},
  overrides: (kinesis: KinesisClient) => CollectorOverrides = () => ({}),
): Promise<CollectorHarness> {
  const config = testConfig({ INGEST_PORT: '0', KINESIS_SHARD_COUNT: '2', ...env });
  const kinesis = createKinesisClient(config);
  await ensureStream(kinesis, config.kinesis.streamName, config.kinesis.shardCount);
  const collector = await startCollector(config, { logger: createSilentLogger(), ...overrides(kinesis) });
  return {
    config,
    kinesis,
    collector,
    async post(body, headers = {}) {
      const response = await fetch(`${collector.url}/api/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers };
    },
    async streamEvents() {
      const records = await readAllRecords(kinesis, config.kinesis.streamName);
      return records.map((r) => ({
        partitionKey: r.partitionKey,
        shardId: r.shardId,
        event: JSON.parse(Buffer.from(r.data).toString()),
      }));
    },
    async close() {
      await collector.stop();
      kinesis.destroy();
    },
  };
}

let counter = 0;
/** A valid incoming event; override any field. */
export function sampleEvent(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  counter++;
  return {
    type: 'impression',
    experimentId: 'checkout-button',
    variantId: counter % 2 === 0 ? 'control' : 'treatment',
    userId: `user-${counter}`,
    segments: { country: 'US', device: 'mobile' },
    ...overrides,
  };
}

/** The collector's whole answer when every one of `accepted` events was written. */
export function allAccepted(accepted: number): Record<string, unknown> {
  return { accepted, rejected: [], rejectedTotal: 0, rejectedByRule: {}, invalidIndexes: [], retryIndexes: [] };
}
