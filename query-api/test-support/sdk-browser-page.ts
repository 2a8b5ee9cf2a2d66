/**
 * Test support for the browser proof of the GrowthBook SDK endpoint: a page server on its own
 * origin that serves the official SDK's browser bundle, our tracking callback bundled for
 * browsers with esbuild, and (same-origin, as README recommends) proxies
 * `POST /api/v1/events` to the collector; and headless Chromium (Debian's) driven by
 * playwright-core.
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './chromium.js';

const SDK_BUNDLE = fileURLToPath(
  new URL('../../node_modules/@growthbook/growthbook/dist/bundles/index.min.js', import.meta.url),
);
const TRACKING_MODULE = fileURLToPath(new URL('../../ingest/growthbook-tracking.ts', import.meta.url));

export interface PageServer {
  /** The page's origin, e.g. `http://127.0.0.1:40123`. */
  readonly origin: string;
  close(): Promise<void>;
}

/** `ingest/growthbook-tracking.ts` as a browser script defining the global `growthbookTracking`. */
export async function trackingBundle(): Promise<string> {
  const result = await build({
    entryPoints: [TRACKING_MODULE],
    bundle: true,
    format: 'iife',
    globalName: 'growthbookTracking',
    platform: 'browser',
    target: 'es2020',
    write: false,
  });
  return result.outputFiles[0]!.text;
}

function proxy(request: IncomingMessage, response: ServerResponse, target: string): void {
  const upstream = httpRequest(
    `${target}${request.url ?? '/'}`,
    { method: request.method, headers: { 'content-type': request.headers['content-type'] ?? 'application/json' } },
    (answer) => {
      response.writeHead(answer.statusCode ?? 502, { 'content-type': answer.headers['content-type'] ?? 'text/plain' });
      answer.pipe(response);
    },
  );
  upstream.on('error', () => response.writeHead(502).end());
  request.pipe(upstream);
}

/** Serves `/` (an empty page), `/growthbook.js`, `/tracking.js`, and proxies `/api/v1/events` to `collectorUrl`. */
export async function startPageServer(collectorUrl: string): Promise<PageServer> {
  const [sdk, tracking] = await Promise.all([readFile(SDK_BUNDLE, 'utf8'), trackingBundle()]);
  const server = createServer((request, response) => {
    if (request.url === '/api/v1/events' && request.method === 'POST') return proxy(request, response, collectorUrl);
    const script = request.url === '/growthbook.js' ? sdk : request.url === '/tracking.js' ? tracking : undefined;
    if (script !== undefined) {
      response.writeHead(200, { 'content-type': 'text/javascript' });
      return response.end(script);
    }
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(
      '<!doctype html><html><head><title>shop</title>' +
        '<script src="/growthbook.js"></script><script src="/tracking.js"></script></head><body></body></html>',
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** Headless Chromium (query-api/test-support/chromium.ts). */
export function launchHeadlessChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: [...CHROMIUM_ARGS], timeout: 30_000 });
}
