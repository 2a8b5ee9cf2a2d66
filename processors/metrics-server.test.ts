import { describe, expect, it } from 'vitest';
import { createProcessorMetrics, readinessOf } from './metrics.js';
import { startMetricsServer } from './metrics-server.js';
import { droppedWithin, openUnusedConnection, settlesWithin } from '../common/test-support/idle-connections.js';

describe('processors metrics server', () => {
  it('serves the registry in Prometheus format, a health probe, and 404 otherwise', async () => {
    const metrics = createProcessorMetrics();
    metrics.eventsOut.inc({ outcome: 'counted' }, 3);
    const server = await startMetricsServer(metrics.registry, '127.0.0.1', 0);
    try {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      expect(text).toMatch(/processor_events_out_total\{outcome="counted"\} 3/);
      expect(await (await fetch(`${server.url}/health`)).json()).toEqual({ status: 'ok' });
      expect((await fetch(`${server.url}/nothing`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });

  it('answers /ready 200 until state is lost, then 503 state-lost; /health stays 200', async () => {
    const metrics = createProcessorMetrics();
    const server = await startMetricsServer(metrics.registry, '127.0.0.1', 0, {
      readiness: () => readinessOf(metrics),
    });
    try {
      const ready = await fetch(`${server.url}/ready`);
      expect([ready.status, await ready.json()]).toEqual([200, { status: 'ready' }]);
      metrics.stateLost.set(1);
      const lost = await fetch(`${server.url}/ready`);
      expect([lost.status, await lost.json()]).toEqual([503, { status: 'state-lost' }]);
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('closes at once while a scraper or browser holds an unused connection', async () => {
    const server = await startMetricsServer(createProcessorMetrics().registry, '127.0.0.1', 0);
    const socket = await openUnusedConnection(server.url);
    try {
      expect(await settlesWithin(server.close(), 2_000)).toBe('settled');
      expect(await droppedWithin(socket, 2_000)).toBe('dropped');
    } finally {
      socket.destroy();
    }
  });
});
