/**
 * `npm run bench -- ingest`: the collector's events/s and latency for batched POSTs
 * (100 events each) into kinesalite, with and without KPL aggregation, next to a bare
 * Fastify route that parses the same body and answers 202 — all in the same run, each
 * target in its own process, the load generator (autocannon) in this one.
 */
import autocannon, { type Result } from 'autocannon';
import { createKinesisClient } from '../../common/aws-clients.js';
import { ensureStream } from '../../local/provision.js';
import { startStandIn } from '../../local/stand-ins.js';
import { readAllRecords, type StreamRecordRead } from '../../local/stream-reader.js';
import { deaggregateRecord } from '../../processors/decode/deaggregate.js';
import { benchEnvironment, type BenchReport, type BenchRow } from '../report.js';
import type { BenchScenario } from '../scenario.js';
import { startChildService } from '../support/child-service.js';

const EVENTS_PER_REQUEST = 100;
const DISTINCT_BODIES = 64;

/** Realistic request bodies: 100 events of many users, impressions and conversions, segments. */
function buildBodies(): string[] {
  return Array.from({ length: DISTINCT_BODIES }, (_, b) =>
    JSON.stringify(
      Array.from({ length: EVENTS_PER_REQUEST }, (_, i) => {
        const user = `user-${(b * 7919 + i * 104729) % 50_000}`;
        const conversion = i % 5 === 0;
        return {
          type: conversion ? 'conversion' : 'impression',
          experimentId: `exp-${i % 3}`,
          variantId: i % 2 === 0 ? 'control' : 'treatment',
          userId: user,
          ...(conversion ? { metric: 'revenue', value: (i % 17) + 0.99 } : {}),
          segments: { country: ['US', 'DE', 'FR', 'BR'][i % 4] as string, device: i % 3 === 0 ? 'desktop' : 'mobile' },
        };
      }),
    ),
  );
}

/** User records in the stream: KPL aggregates split the way the processors split them. */
function countUserRecords(records: readonly StreamRecordRead[]): number {
  return records.reduce((count, record, index) => {
    const split = deaggregateRecord(record, record.shardId, index);
    if (!split.ok) throw new Error(`corrupt aggregate in the stream: ${split.rejection.message}`);
    return count + split.userRecords.length;
  }, 0);
}

async function load(url: string, bodies: string[], durationSeconds: number, connections: number): Promise<Result> {
  let next = 0;
  return autocannon({
    url: `${url}/api/v1/events`,
    connections,
    duration: durationSeconds,
    timeout: 30,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        setupRequest: (request) => ({ ...request, body: bodies[next++ % bodies.length] }),
      },
    ],
  });
}

function rowFor(name: string, result: Result, peakRssMiB: number | undefined): BenchRow {
  const seconds = result.duration || 1;
  return {
    name,
    metrics: {
      'events/s': (result['2xx'] * EVENTS_PER_REQUEST) / seconds,
      'requests/s': result['2xx'] / seconds,
      'p50 ms': result.latency.p50,
      'p99 ms': result.latency.p99,
      'non-2xx': result.non2xx,
      errors: result.errors,
      'peak RSS MiB': peakRssMiB ?? '—',
    },
  };
}

export const ingestScenario: BenchScenario = {
  name: 'ingest',
  description: 'Collector events/s and latency (100-event POSTs) into kinesalite, KPL on/off, vs a bare Fastify route',
  options: [
    { flags: '--duration <seconds>', description: 'load duration per target', defaultValue: '10' },
    { flags: '--connections <n>', description: 'concurrent HTTP connections', defaultValue: '16' },
    { flags: '--shards <n>', description: 'stream shards', defaultValue: '4' },
    { flags: '--no-verify', description: 'skip reading the stream back to check every accepted event landed' },
  ],
  async run({ options, progress, command }) {
    const started = Date.now();
    const duration = Number(options.duration);
    const connections = Number(options.connections);
    const shards = Number(options.shards);
    const verify = options.verify !== false;
    const bodies = buildBodies();
    const rows: BenchRow[] = [];
    const notes: string[] = [];
    const kinesalite = await startStandIn('kinesalite');
    const config = { aws: { region: 'us-east-1', kinesisEndpoint: kinesalite.endpoint } };
    const kinesis = createKinesisClient(config);
    const measured: Record<string, number> = {};
    try {
      progress(0.02, 'bare route');
      const bare = await startChildService(
        new URL('../support/ingest-target.ts', import.meta.url).pathname,
        ['bare'],
        {},
      );
      const bareResult = await load(bare.url, bodies, duration, connections);
      await bare.stop();
      rows.push(rowFor('baseline: bare Fastify route (parse + 202)', bareResult, bare.peakRssMiB()));
      measured.bare = (bareResult['2xx'] * EVENTS_PER_REQUEST) / (bareResult.duration || 1);

      for (const [index, kpl] of [false, true].entries()) {
        const label = `collector → kinesalite (KPL ${kpl ? 'on' : 'off'})`;
        progress(0.05 + index * 0.45, label);
        const streamName = `bench-ingest-${kpl ? 'kpl' : 'plain'}-${Date.now()}`;
        await ensureStream(kinesis, streamName, shards);
        const collector = await startChildService(
          new URL('../support/ingest-target.ts', import.meta.url).pathname,
          ['collector'],
          {
            AWS_ENDPOINT_URL_KINESIS: kinesalite.endpoint,
            KINESIS_STREAM_NAME: streamName,
            INGEST_KPL_AGGREGATION: String(kpl),
          },
        );
        const result = await load(collector.url, bodies, duration, connections);
        await collector.stop();
        rows.push(rowFor(label, result, collector.peakRssMiB()));
        const eventsPerSecond = (result['2xx'] * EVENTS_PER_REQUEST) / (result.duration || 1);
        measured[kpl ? 'kpl' : 'plain'] = eventsPerSecond;
        if (verify) {
          progress(0.3 + index * 0.45, `${label}: reading the stream back`);
          const records = await readAllRecords(kinesis, streamName, 5_000_000);
          const inStream = kpl ? countUserRecords(records) : records.length;
          const accepted = result['2xx'] * EVENTS_PER_REQUEST;
          // A request cut off by the end of the load can still have been written: more is fine, fewer is loss.
          if (inStream < accepted)
            notes.push(`CORRECTNESS FAILURE: ${label}: ${accepted} events acknowledged but ${inStream} in the stream`);
          else
            notes.push(
              `${label}: ${accepted} events acknowledged, ${inStream} in the stream (${records.length} Kinesis records) — nothing lost`,
            );
        }
      }
    } finally {
      kinesis.destroy();
      await kinesalite.stop();
    }
    progress(1, 'done');
    const plainRatio = (measured.plain ?? 0) / (measured.bare ?? 1);
    const kplRatio = (measured.kpl ?? 0) / (measured.bare ?? 1);
    const report: BenchReport = {
      scenario: 'ingest',
      title: 'Collector throughput into kinesalite vs a bare Fastify route',
      command,
      startedAt: new Date(started).toISOString(),
      durationMs: Date.now() - started,
      environment: benchEnvironment(),
      parameters: { durationSeconds: duration, connections, shards, eventsPerRequest: EVENTS_PER_REQUEST },
      rows,
      ratios: {
        'collector KPL off / bare route (events/s)': plainRatio,
        'collector KPL on / bare route (events/s)': kplRatio,
      },
      targets: [
        {
          description: 'collector ≥ 50% of the bare route events/s (KPL on)',
          measured: `${(kplRatio * 100).toFixed(0)}%`,
          met: kplRatio >= 0.5,
        },
        {
          description: 'collector ≥ 50% of the bare route events/s (KPL off)',
          measured: `${(plainRatio * 100).toFixed(0)}%`,
          met: plainRatio >= 0.5,
        },
      ],
      notes: [
        ...notes,
        'kinesalite runs in its own process; on a 2-core machine it competes with the collector and the load generator for CPU, which a real Kinesis endpoint would not.',
      ],
    };
    return report;
  },
};
