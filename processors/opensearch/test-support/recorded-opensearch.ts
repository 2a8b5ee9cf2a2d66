/**
 * A real HTTP server on 127.0.0.1 that stands in for OpenSearch (no OpenSearch server
 * can run here): it answers `_bulk` requests with recorded responses from ../fixtures,
 * in order, answers index-template requests with the recorded acknowledgement, and
 * records every request it receives so tests can assert what was sent.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A response as stored in fixtures/: status and JSON body. */
export interface RecordedResponse {
  description?: string;
  status: number;
  body: unknown;
}

/** One request the server received; for `_bulk`, its action and document lines parsed. */
export interface ReceivedRequest {
  method: string;
  path: string;
  body: string;
  actions: { _index: string; _id: string }[];
  documents: Record<string, unknown>[];
}

/** Reads fixtures/<name>.json. */
export function loadFixture(name: string): RecordedResponse {
  return JSON.parse(readFileSync(new URL(`../fixtures/${name}.json`, import.meta.url), 'utf8')) as RecordedResponse;
}

/**
 * Answers a `_bulk` request with "created" for every operation, shaped like the recorded
 * success item: for tests about batching, where the responses are not the point.
 */
export function allCreated(request: ReceivedRequest): RecordedResponse {
  const template = (loadFixture('bulk-success').body as { items: { index: Record<string, unknown> }[] }).items[0]!;
  return {
    status: 200,
    body: {
      took: 5,
      errors: false,
      items: request.actions.map((action) => ({
        index: { ...template.index, _index: action._index, _id: action._id },
      })),
    },
  };
}

export type BulkResponder = RecordedResponse | ((request: ReceivedRequest) => RecordedResponse);

export interface RecordedOpenSearch {
  url: string;
  requests: ReceivedRequest[];
  bulkRequests(): ReceivedRequest[];
  close(): Promise<void>;
}

function parseBulk(body: string): Pick<ReceivedRequest, 'actions' | 'documents'> {
  const lines = body.split('\n').filter((line) => line.length > 0);
  const actions: ReceivedRequest['actions'] = [];
  const documents: ReceivedRequest['documents'] = [];
  for (let i = 0; i + 1 < lines.length; i += 2) {
    actions.push((JSON.parse(lines[i]!) as { index: { _index: string; _id: string } }).index);
    documents.push(JSON.parse(lines[i + 1]!) as Record<string, unknown>);
  }
  return { actions, documents };
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Starts the server. `bulk` responses are used in order; the last one repeats, so a
 * test of exhausted retries needs only one.
 *
 * @example
 *   const server = await startRecordedOpenSearch([loadFixture('bulk-429-items'), loadFixture('bulk-429-retry-success')]);
 */
export async function startRecordedOpenSearch(bulk: readonly BulkResponder[]): Promise<RecordedOpenSearch> {
  const requests: ReceivedRequest[] = [];
  let bulkCount = 0;
  const server = createServer((request, response) => {
    void readBody(request).then((body) => {
      const path = request.url ?? '/';
      const isBulk = path.split('?')[0]!.endsWith('/_bulk');
      const received: ReceivedRequest = {
        method: request.method ?? 'GET',
        path,
        body,
        ...(isBulk ? parseBulk(body) : { actions: [], documents: [] }),
      };
      requests.push(received);
      let answer: RecordedResponse;
      if (path.startsWith('/_index_template/')) answer = loadFixture('template-acknowledged');
      else if (isBulk) {
        const responder = bulk[Math.min(bulkCount, bulk.length - 1)];
        bulkCount += 1;
        answer =
          responder === undefined
            ? { status: 500, body: { error: 'no recorded response' } }
            : typeof responder === 'function'
              ? responder(received)
              : responder;
      } else answer = { status: 404, body: { error: `no recorded response for ${path}` } };
      response.writeHead(answer.status, { 'content-type': 'application/json; charset=UTF-8' });
      response.end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    bulkRequests: () => requests.filter((request) => request.path.split('?')[0]!.endsWith('/_bulk')),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
