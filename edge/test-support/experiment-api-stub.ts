/**
 * Test support: a real HTTP server on 127.0.0.1 serving experiment and flag definitions
 * the way the query API does (`GET /api/v1/experiments/{key}`, `GET /api/v1/flags/{key}`,
 * `x-api-key` required), with switchable failure modes. Not a mock library: the edge code
 * under test uses its real `fetch` against it.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ApiMode = 'ok' | 'error' | 'garbage' | 'hang';

export interface ExperimentApiStub {
  readonly url: string;
  readonly apiKey: string;
  readonly experiments: Map<string, unknown>;
  readonly flags: Map<string, unknown>;
  /** Paths requested, in order. */
  readonly requests: string[];
  mode: ApiMode;
  close(): Promise<void>;
}

const ROUTE = /^\/api\/v1\/(experiments|flags)\/([^/?]+)$/;

function send(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

/** Starts the server on a random port of 127.0.0.1. */
export async function startExperimentApi(apiKey = 'test-api-key'): Promise<ExperimentApiStub> {
  const experiments = new Map<string, unknown>();
  const flags = new Map<string, unknown>();
  const requests: string[] = [];
  const state: { mode: ApiMode } = { mode: 'ok' };

  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const path = request.url ?? '/';
    requests.push(path);
    if (state.mode === 'hang') return; // the client's timeout must fire
    if (state.mode === 'error') return send(response, 503, { code: 'DEPENDENCY_UNAVAILABLE', message: 'down' });
    if (state.mode === 'garbage') {
      response.writeHead(200, { 'content-type': 'application/json' });
      return response.end('{"key": "trunc');
    }
    if (request.headers['x-api-key'] !== apiKey)
      return send(response, 401, { code: 'UNAUTHORIZED', message: 'bad key' });
    const match = ROUTE.exec(path);
    if (request.method !== 'GET' || match === null)
      return send(response, 404, { code: 'NOT_FOUND', message: 'no route' });
    const store = match[1] === 'experiments' ? experiments : flags;
    const definition = store.get(decodeURIComponent(match[2] ?? ''));
    if (definition === undefined) return send(response, 404, { code: 'NOT_FOUND', message: 'not found' });
    send(response, 200, definition);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    apiKey,
    experiments,
    flags,
    requests,
    get mode() {
      return state.mode;
    },
    set mode(mode: ApiMode) {
      state.mode = mode;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
