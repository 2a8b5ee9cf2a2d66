/**
 * A DynamoDB endpoint that keeps nothing and answers at once, for measuring what the processors
 * themselves add to freshness when the counter store costs nothing (`npm run bench -- pipeline
 * --dynamodb no-op`): dynalite, one process on the shared cores, spends about 360 µs of CPU per
 * conditional UpdateItem (results/counter-writes.md), and DynamoDB cannot run here.
 *
 * It speaks DynamoDB's JSON protocol (`X-Amz-Target: DynamoDB_20120810.<Operation>`) for what the
 * processors send: every write (UpdateItem, PutItem, DeleteItem) succeeds with `{}`, every read
 * finds nothing (GetItem `{}`, Query and Scan no items), DescribeTable answers an ACTIVE table.
 * Any other operation is refused with DynamoDB's `UnknownOperationException`. Counts are kept per
 * operation; nothing is stored, so a run against it cannot be checked for exactness.
 *
 * @example
 *   const dynamo = await startNoOpDynamoDB();
 *   // processors with AWS_ENDPOINT_URL_DYNAMODB = dynamo.endpoint …
 *   dynamo.requests.UpdateItem; // conditional counter writes received
 *   await dynamo.close();
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promptCloser } from '../../common/http-close.js';
import { dynamoErrorBody } from '../../common/test-support/fake-dynamodb.js';
import { readBody } from '../../common/test-support/sigv4-verify.js';

export interface NoOpDynamoDB {
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  /** Requests received, by operation. */
  readonly requests: Readonly<Record<string, number>>;
  close(): Promise<void>;
}

const TARGET_PREFIX = 'DynamoDB_20120810.';
const CONTENT_TYPE = 'application/x-amz-json-1.0';

/** The answer to one operation, given its request body; undefined: not an operation the no-op speaks. */
function answerOf(operation: string, input: { TableName?: string }): object | undefined {
  switch (operation) {
    case 'UpdateItem':
    case 'PutItem':
    case 'DeleteItem':
    case 'GetItem':
      return {};
    case 'Query':
    case 'Scan':
      return { Items: [], Count: 0, ScannedCount: 0 };
    case 'DescribeTable':
      return { Table: { TableName: input.TableName, TableStatus: 'ACTIVE' } };
    default:
      return undefined;
  }
}

/** Starts the endpoint on a free loopback port. */
export async function startNoOpDynamoDB(): Promise<NoOpDynamoDB> {
  const requests: Record<string, number> = {};
  const server = createServer((request, response) => {
    void readBody(request).then((body) => {
      const target = String(request.headers['x-amz-target'] ?? '');
      const operation = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : target;
      let input: { TableName?: string } = {};
      try {
        input = JSON.parse(body || '{}') as { TableName?: string };
      } catch {
        // An unparseable body is answered like any unknown request below.
      }
      const answer = answerOf(operation, input);
      if (answer === undefined) {
        const message = `the no-op DynamoDB does not speak ${operation || '(no X-Amz-Target)'}`;
        response
          .writeHead(400, { 'content-type': CONTENT_TYPE })
          .end(dynamoErrorBody('UnknownOperationException', message));
        return;
      }
      requests[operation] = (requests[operation] ?? 0) + 1;
      response.writeHead(200, { 'content-type': CONTENT_TYPE }).end(JSON.stringify(answer));
    });
  });
  const close = promptCloser(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close,
  };
}
