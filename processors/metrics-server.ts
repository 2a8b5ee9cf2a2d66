/**
 * Serves the processors' Prometheus metrics (`GET /metrics`), a liveness probe
 * (`GET /health`: the process answers) and a readiness probe (`GET /ready`: 200
 * `{"status":"ready"}`, or 503 `{"status":"state-lost"}` once the exactly-once state was
 * lost and shards stopped) on their own port: the local consumer has no other HTTP surface.
 */
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { promptCloser } from '../common/http-close.js';
import type { ProcessorReadiness } from './metrics.js';

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

/** Optional behaviour of the server. */
export interface MetricsServerOptions {
  /** What `GET /ready` reports; always `ready` when absent. */
  readiness?: () => Promise<ProcessorReadiness>;
}

/**
 * Listens on `host:port` (port 0 picks a free one).
 *
 * @example
 *   const server = await startMetricsServer(metrics.registry, '0.0.0.0', 9464, { readiness: () => readinessOf(metrics) });
 */
export async function startMetricsServer(
  registry: Registry,
  host: string,
  port: number,
  options: MetricsServerOptions = {},
): Promise<MetricsServer> {
  const readiness = options.readiness ?? (() => Promise.resolve<ProcessorReadiness>('ready'));
  const server: Server = createServer((request, response) => {
    if (request.method === 'GET' && request.url === '/metrics') {
      registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
        () => response.writeHead(500).end('metrics unavailable\n'),
      );
    } else if (request.method === 'GET' && request.url === '/health') {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    } else if (request.method === 'GET' && request.url === '/ready') {
      readiness().then(
        (status) =>
          response
            .writeHead(status === 'ready' ? 200 : 503, { 'content-type': 'application/json' })
            .end(JSON.stringify({ status })),
        () => response.writeHead(500).end('readiness unavailable\n'),
      );
    } else {
      response
        .writeHead(404, { 'content-type': 'application/json' })
        .end('{"error":{"code":"NOT_FOUND","message":"GET /metrics, /health or /ready"}}');
    }
  });
  const close = promptCloser(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  return {
    url: `http://${host}:${boundPort}`,
    close,
  };
}
