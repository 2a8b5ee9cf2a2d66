/**
 * `npm run bench -- ingest`: the collector's events/s and latency for batched POSTs
 * (100 events each), next to a bare Fastify route that parses the same body and answers 202 —
 * all in the same run, each target in its own process, the load generator (autocannon) in this one.
 *
 *   baseline:            the bare route, measured before and after the no-op runs (ratios use their mean)
 *   collector → no-op:   the real collector (app, validation, PutRecords batcher, packers) writing to a
 *                        Kinesis client that answers at once (bench/support/no-op-kinesis.ts), for the
 *                        json, compact and compact + deflate record formats: the collector's own cost
 *   collector → kinesalite: KPL off and on, every acknowledged event read back from the stream
 *                        (`--no-kinesalite` skips them)
 *
 * Beside events/s, each row shows the target process's CPU use (from /proc), so a busy machine
 * shows up as a target that did not get its core. The bare route and the no-op rows are loaded by
 * `--noop-connections` (64) connections, the kinesalite rows by `--connections` (16).
 */
import { loadavg } from 'node:os';
import autocannon, { type Result } from 'autocannon';
import { createKinesisClient } from '../../common/aws-clients.js';
import { ensureStream } from '../../local/provision.js';
import { startStandIn } from '../../local/stand-ins.js';
import type { ShardRecord } from '../../common/kinesis/record.js';
import { readAllRecords } from '../../local/test-support/stream-reader.js';
import { deaggregateRecord } from '../../processors/decode/deaggregate.js';
import { benchEnvironment, type BenchReport, type BenchRow } from '../report.js';
import type { BenchScenario } from '../scenario.js';
import { cpuSecondsOf, startChildService } from '../support/child-service.js';

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
function countUserRecords(records: readonly ShardRecord[]): number {
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

/** One load run against one target process. */
interface TargetRun {
  result: Result;
  eventsPerSecond: number;
  /** CPU seconds the target process used during the load. */
  cpuSeconds: number | undefined;
  peakRssMiB: number | undefined;
}

const TARGET_SCRIPT = new URL('../support/ingest-target.ts', import.meta.url).pathname;

/** Starts a target (`bare`, `collector`, `collector-noop`), loads it, stops it. */
async function runTarget(
  mode: 'bare' | 'collector' | 'collector-noop',
  env: Record<string, string>,
  load: (url: string) => Promise<Result>,
): Promise<TargetRun> {
  // BENCH_COLLECTOR_NODE_ARGS="<flags>": Node/V8 flags for the collector targets (not the bare route), to try one.
  const flags = mode === 'bare' ? '' : (process.env.BENCH_COLLECTOR_NODE_ARGS ?? '');
  const target = await startChildService(TARGET_SCRIPT, [mode], env, {
    execArgv: flags.split(' ').filter((flag) => flag !== ''),
  });
  try {
    const cpuBefore = cpuSecondsOf(target.process.pid);
    const result = await load(target.url);
    const cpuAfter = cpuSecondsOf(target.process.pid);
    return {
      result,
      eventsPerSecond: (result['2xx'] * EVENTS_PER_REQUEST) / (result.duration || 1),
      cpuSeconds: cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore,
      peakRssMiB: target.peakRssMiB(),
    };
  } finally {
    await target.stop();
  }
}

function rowFor(name: string, run: TargetRun): BenchRow {
  const { result } = run;
  const seconds = result.duration || 1;
  const events = result['2xx'] * EVENTS_PER_REQUEST;
  return {
    name,
    metrics: {
      'events/s': run.eventsPerSecond,
      'requests/s': result['2xx'] / seconds,
      'p50 ms': result.latency.p50,
      'p99 ms': result.latency.p99,
      'non-2xx': result.non2xx,
      errors: result.errors,
      'target CPU %': run.cpuSeconds === undefined ? '—' : (100 * run.cpuSeconds) / seconds,
      'events per target CPU-s': run.cpuSeconds ? events / run.cpuSeconds : '—',
      'peak RSS MiB': run.peakRssMiB ?? '—',
    },
  };
}

/** The collector's record formats measured against the no-op stream. */
const NO_OP_FORMATS = [
  { key: 'json', label: 'json records', env: { INGEST_RECORD_FORMAT: 'json', INGEST_KPL_AGGREGATION: 'false' } },
  { key: 'compact', label: 'compact records', env: { INGEST_RECORD_FORMAT: 'compact' } },
  {
    key: 'compact+deflate',
    label: 'compact + deflate',
    env: { INGEST_RECORD_FORMAT: 'compact', INGEST_COMPRESS_RECORDS: 'true' },
  },
] as const;

/** Issue #20: collector events/s ≥ 50% of the bare route's, both against a no-op stream. */
const NO_OP_TARGET = 0.5;

/**
 * Connections of the bare route and the no-op rows. A closed-loop load of c connections gets at
 * most c × 100 events per request latency, and the collector answers a request only once its
 * events are written, after the batcher's linger (INGEST_LINGER_MS, 5 ms): 16 connections capped
 * the compact rows near 16 × 100 / 7 ms ≈ 230k events/s with the collector at 65–80% of a core,
 * a measure of the linger rather than of the collector's cost. At 64 the cap is far above what
 * the collector's core can do; the bare route's figure is the same either way (the load
 * generator is its limit).
 */
const NO_OP_CONNECTIONS = 64;

export const ingestScenario: BenchScenario = {
  name: 'ingest',
  description:
    'Collector events/s and latency (100-event POSTs) into a no-op stream (json, compact) and kinesalite (KPL on/off), vs a bare Fastify route',
  options: [
    { flags: '--duration <seconds>', description: 'load duration per target', defaultValue: '10' },
    { flags: '--connections <n>', description: 'concurrent HTTP connections (kinesalite rows)', defaultValue: '16' },
    {
      flags: '--noop-connections <n>',
      description:
        'concurrent HTTP connections for the bare route and the no-op rows: enough that the collector, which holds each request for its linger, is bound by CPU rather than by requests in flight',
      defaultValue: String(NO_OP_CONNECTIONS),
    },
    { flags: '--shards <n>', description: 'stream shards (kinesalite and the no-op stream)', defaultValue: '4' },
    { flags: '--no-verify', description: 'skip reading the stream back to check every accepted event landed' },
    { flags: '--no-kinesalite', description: 'measure only the bare route and the collector against the no-op stream' },
  ],
  async run({ options, progress, command }) {
    const started = Date.now();
    const duration = Number(options.duration);
    const connections = Number(options.connections);
    const noOpConnections = Number(options.noopConnections);
    const shards = Number(options.shards);
    const verify = options.verify !== false;
    const withKinesalite = options.kinesalite !== false;
    const bodies = buildBodies();
    const loadFor = (url: string) => load(url, bodies, duration, connections);
    const noOpLoadFor = (url: string) => load(url, bodies, duration, noOpConnections);
    const rows: BenchRow[] = [];
    const notes: string[] = [];
    const ratios: Record<string, number> = {};
    const targets: BenchReport['targets'] = [];
    const steps = 2 + NO_OP_FORMATS.length + (withKinesalite ? 2 : 0);
    let step = 0;
    const next = (label: string) => progress(step++ / steps, label);

    // The bare route before and after the no-op collector runs: the ratio uses their mean, so
    // a machine getting busier (or quieter) during the run does not favour either side.
    next('bare route');
    const bareBefore = await runTarget('bare', {}, noOpLoadFor);
    rows.push(rowFor('baseline: bare Fastify route (parse + 202)', bareBefore));
    const noOp: Record<string, TargetRun> = {};
    for (const format of NO_OP_FORMATS) {
      next(`collector → no-op stream (${format.label})`);
      noOp[format.key] = await runTarget(
        'collector-noop',
        { ...format.env, BENCH_NOOP_SHARDS: String(shards) },
        noOpLoadFor,
      );
      rows.push(rowFor(`collector → no-op stream (${format.label})`, noOp[format.key] as TargetRun));
    }
    next('bare route again');
    const bareAfter = await runTarget('bare', {}, noOpLoadFor);
    rows.push(rowFor('baseline: bare Fastify route, again', bareAfter));
    const bare = (bareBefore.eventsPerSecond + bareAfter.eventsPerSecond) / 2;
    for (const format of NO_OP_FORMATS) {
      const ratio = (noOp[format.key]?.eventsPerSecond ?? 0) / bare;
      ratios[`collector → no-op stream (${format.label}) / bare route (events/s)`] = ratio;
      targets.push({
        description: `collector ≥ ${NO_OP_TARGET * 100}% of the bare route's events/s, both against a no-op stream (${format.label})`,
        measured: `${(ratio * 100).toFixed(0)}%`,
        met: ratio >= NO_OP_TARGET,
      });
    }

    if (withKinesalite) {
      const kinesalite = await startStandIn('kinesalite');
      const kinesis = createKinesisClient({ aws: { region: 'us-east-1', kinesisEndpoint: kinesalite.endpoint } });
      try {
        for (const kpl of [false, true]) {
          const label = `collector → kinesalite (KPL ${kpl ? 'on' : 'off'})`;
          next(label);
          const streamName = `bench-ingest-${kpl ? 'kpl' : 'plain'}-${Date.now()}`;
          await ensureStream(kinesis, streamName, shards);
          const run = await runTarget(
            'collector',
            {
              AWS_ENDPOINT_URL_KINESIS: kinesalite.endpoint,
              KINESIS_STREAM_NAME: streamName,
              INGEST_KPL_AGGREGATION: String(kpl),
            },
            loadFor,
          );
          rows.push(rowFor(label, run));
          ratios[`${label} / bare route (events/s)`] = run.eventsPerSecond / bare;
          if (verify) {
            progress((step - 0.5) / steps, `${label}: reading the stream back`);
            const records = await readAllRecords(kinesis, streamName, 5_000_000);
            const inStream = kpl ? countUserRecords(records) : records.length;
            const accepted = run.result['2xx'] * EVENTS_PER_REQUEST;
            // A request cut off by the end of the load can still have been written: more is fine, fewer is loss.
            if (inStream < accepted)
              notes.push(
                `CORRECTNESS FAILURE: ${label}: ${accepted} events acknowledged but ${inStream} in the stream`,
              );
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
      notes.push(
        'kinesalite runs in its own process; on a 2-core machine it competes with the collector and the load generator for CPU, which a real Kinesis endpoint would not: its rows measure kinesalite (bound at a few MB/s here), the no-op rows measure the collector.',
      );
    }
    progress(1, 'done');
    const [load1, load5] = loadavg();
    notes.push(
      `Load average at the end of the run: ${load1?.toFixed(2)} (1 min), ${load5?.toFixed(2)} (5 min) on ${benchEnvironment().cpus} cores; the autocannon load generator runs in the bench process and takes a core of its own.`,
    );
    const report: BenchReport = {
      scenario: 'ingest',
      title: 'Collector throughput against a no-op stream and kinesalite vs a bare Fastify route',
      command,
      startedAt: new Date(started).toISOString(),
      durationMs: Date.now() - started,
      environment: benchEnvironment(),
      parameters: {
        durationSeconds: duration,
        connections,
        noOpConnections,
        shards,
        eventsPerRequest: EVENTS_PER_REQUEST,
      },
      rows,
      ratios,
      targets,
      notes,
    };
    return report;
  },
};
