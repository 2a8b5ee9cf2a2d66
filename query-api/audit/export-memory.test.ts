/**
 * The compliance export streams: 100,000 events (about 70 MB of NDJSON) go out over real
 * HTTP while the process's live heap stays far below the export's size. The download is
 * verified as it arrives (the same streaming verifier as `npm run audit -- verify`), so the
 * client side holds no more than a line either. Live heap is measured after a forced full
 * GC at every ~5 MB received (V8's `gc`, exposed for this test), against a baseline taken
 * the same way before the request.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuditKeyRing } from './audit-keys.js';
import { verifyExport } from './verify-chain.js';
import { startTestApi, type TestApi } from '../test-support/test-app.js';
import { seedAuditChain } from '../test-support/audit-chain.js';

const EVENTS = 100_000;
/** Generous: an implementation holding the export (or its rows) in memory needs several times the 70 MB. */
const HEAP_GROWTH_LIMIT_BYTES = 48 * 1024 * 1024;
const SAMPLE_EVERY_BYTES = 5 * 1024 * 1024;

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const liveHeap = () => {
  gc();
  return process.memoryUsage().heapUsed;
};

let api: TestApi;
let url: string;
beforeAll(async () => {
  api = await startTestApi({ ADMIN_API_KEYS: 'memory-admin-key' });
  const keys = createAuditKeyRing(api.config.audit.hmacSecret!);
  await seedAuditChain(api.database.writer, keys, EVENTS, { changeBytes: 250 });
  url = await api.app.listen({ port: 0, host: '127.0.0.1' });
}, 180_000);
afterAll(async () => {
  await api?.close();
});

describe('compliance export memory', () => {
  it(`streams ${EVENTS.toLocaleString('en')} events in bounded memory, and they verify`, async () => {
    const baseline = liveHeap();
    let peak = baseline;
    let bytes = 0;
    let nextSample = SAMPLE_EVERY_BYTES;
    let samples = 0;
    const started = Date.now();
    const response = await fetch(`${url}/api/v1/compliance/export?format=ndjson`, {
      headers: { 'x-api-key': 'memory-admin-key' },
    });
    expect(response.status).toBe(200);
    async function* measured(body: AsyncIterable<Uint8Array>) {
      for await (const chunk of body) {
        bytes += chunk.byteLength;
        if (bytes >= nextSample) {
          nextSample += SAMPLE_EVERY_BYTES;
          samples++;
          peak = Math.max(peak, liveHeap());
        }
        yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      }
    }
    const report = await verifyExport(
      measured(response.body as unknown as AsyncIterable<Uint8Array>),
      createAuditKeyRing(api.config.audit.hmacSecret!),
    );
    const seconds = (Date.now() - started) / 1000;
    const growth = peak - baseline;
    console.info(
      `export: ${EVENTS} events, ${(bytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(1)} s; live heap growth ` +
        `peak ${(growth / 1e6).toFixed(1)} MB over ${samples} samples (limit ${HEAP_GROWTH_LIMIT_BYTES / 1e6} MB)`,
    );
    expect(report).toMatchObject({ ok: true, events: EVENTS, firstPosition: 1, lastPosition: EVENTS });
    expect(bytes).toBeGreaterThan(2 * HEAP_GROWTH_LIMIT_BYTES * 0.6);
    expect(samples).toBeGreaterThanOrEqual(10);
    expect(growth).toBeLessThan(HEAP_GROWTH_LIMIT_BYTES);
  }, 180_000);
});
