/**
 * The HTTP target of the ingest bench, run as a child process:
 *   `ingest-target.ts collector` — the real collector (config from the environment)
 *   `ingest-target.ts collector-noop` — the same, writing to a no-op Kinesis client (no network;
 *                                  `BENCH_NOOP_SHARDS` open shards, default 4): the collector's own cost
 *   `ingest-target.ts bare`      — the baseline: a bare Fastify route that parses the same body and answers 202
 * Prints `{"ready": "<url>"}` when listening; stops on SIGTERM.
 */
import Fastify from 'fastify';
import { loadConfig } from '../../common/config.js';
import { createSilentLogger } from '../../common/logger.js';
import { startCollector } from '../../ingest/server.js';
import { createNoOpKinesis } from './no-op-kinesis.js';

const mode = process.argv[2];

async function startBare(): Promise<{ url: string; stop: () => Promise<void> }> {
  const app = Fastify({ bodyLimit: 1024 * 1024 });
  app.post('/api/v1/events', (request, reply) => {
    const events = request.body as unknown[];
    return reply.code(202).send({ accepted: events.length, rejected: [] });
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { url, stop: () => app.close() };
}

async function main(): Promise<void> {
  const kinesis =
    mode === 'collector-noop' ? createNoOpKinesis({ shards: Number(process.env.BENCH_NOOP_SHARDS ?? 4) }) : undefined;
  const target =
    mode === 'bare'
      ? await startBare()
      : await startCollector(loadConfig({ ...process.env, INGEST_PORT: '0', LOG_LEVEL: 'warn' }), {
          logger: createSilentLogger(),
          kinesis,
        });
  process.stdout.write(`${JSON.stringify({ ready: target.url })}\n`);
  process.once('SIGTERM', () => {
    target.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`ingest target failed: ${String(error)}\n`);
  process.exit(1);
});
