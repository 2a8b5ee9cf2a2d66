/**
 * Test support: a fake DynamoDB endpoint on 127.0.0.1 for what dynalite cannot show: it checks
 * each request's Signature Version 4 (sigv4-verify.ts; 400 `InvalidSignatureException` on a
 * mismatch, as DynamoDB answers) and answers as the test scripts it: a status and body (DynamoDB's
 * JSON error shapes, a proxy's non-JSON page), or no answer at all. It records each request's
 * target, headers and parsed body.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FAKE_AWS_CREDENTIALS, readBody, signatureMatches } from './sigv4-verify.js';

/**
 * What the fake answers one request: a status and body; `'silence'` (it never answers); or
 * `'cut'` (a 200 whose body stops halfway: the connection is dropped, as a failing proxy does).
 */
export type FakeDynamoAnswer = { status: number; body: string } | 'silence' | 'cut';

export interface FakeDynamoRequest {
  /** `X-Amz-Target`, e.g. `DynamoDB_20120810.UpdateItem`. */
  target: string;
  headers: IncomingHttpHeaders;
  input: unknown;
  /** The client's port of the connection it came on (one per socket: keep-alive reuse shows here). */
  clientPort: number | undefined;
}

export interface FakeDynamoDB {
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  readonly requests: FakeDynamoRequest[];
  /** Connections open to the fake now (a client's idle keep-alive sockets included). */
  openConnections(): Promise<number>;
  /** Replaces how the fake answers a correctly signed request (default: 200 `{}`). */
  answer(script: (request: FakeDynamoRequest) => FakeDynamoAnswer): void;
  close(): Promise<void>;
}

/** A DynamoDB error body: `{"__type":"com.amazonaws.dynamodb.v20120810#<name>","message":…}`. */
export const dynamoErrorBody = (name: string, message: string): string =>
  JSON.stringify({ __type: `com.amazonaws.dynamodb.v20120810#${name}`, message });

/** Starts the fake on an ephemeral port; it accepts FAKE_AWS_CREDENTIALS (or `credentials`). */
export async function startFakeDynamoDB(
  credentials: { accessKeyId: string; secretAccessKey: string } = FAKE_AWS_CREDENTIALS,
): Promise<FakeDynamoDB> {
  const requests: FakeDynamoRequest[] = [];
  let script: (request: FakeDynamoRequest) => FakeDynamoAnswer = () => ({ status: 200, body: '{}' });
  const server = createServer((request, response) => {
    void (async () => {
      const body = await readBody(request);
      const recorded: FakeDynamoRequest = {
        target: String(request.headers['x-amz-target'] ?? ''),
        headers: request.headers,
        input: JSON.parse(body || 'null') as unknown,
        clientPort: request.socket.remotePort,
      };
      requests.push(recorded);
      const answer: FakeDynamoAnswer = signatureMatches(request, body, credentials)
        ? script(recorded)
        : {
            status: 400,
            body: dynamoErrorBody(
              'InvalidSignatureException',
              'The request signature we calculated does not match the signature you provided.',
            ),
          };
      if (answer === 'silence') return;
      if (answer === 'cut') {
        response.writeHead(200, { 'content-type': 'application/x-amz-json-1.0', 'content-length': '100' });
        response.write('{"Item":');
        setTimeout(() => response.socket?.destroy(), 20);
        return;
      }
      response.writeHead(answer.status, { 'content-type': 'application/x-amz-json-1.0' });
      response.end(answer.body);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    openConnections: () =>
      new Promise<number>((resolve, reject) =>
        server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
      ),
    answer(next) {
      script = next;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
