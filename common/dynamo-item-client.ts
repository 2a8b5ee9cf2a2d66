/**
 * The client of the processors' hot DynamoDB requests: the counter cells' conditional
 * `UpdateItem`s and their watermark `GetItem`s (processors/counters/dynamo-cell-writer.ts).
 *
 * Two implementations of one small interface:
 * - `sdkItemClient(dynamo)`: the AWS SDK's `DynamoDBClient`, as every other DynamoDB call uses.
 * - `createJsonItemClient(…)`: the same two operations spoken directly in DynamoDB's JSON
 *   protocol (`POST /`, `Content-Type: application/x-amz-json-1.0`,
 *   `X-Amz-Target: DynamoDB_20120810.<Operation>`, the request body being the operation's
 *   input as JSON: the SDK's input shapes are the wire shapes), signed with SigV4 by `aws4`
 *   on a keep-alive agent. Measured through the cell writer against dynalite: 175 against 594
 *   µs of CPU per request, the SDK's middleware stack, schema serde, user agent, retry tokens
 *   and endpoint rules running on every call (`npm run bench -- counter-writes`; bench/README.md,
 *   "Counter writes without the SDK's request pipeline"). The processors use it for counter
 *   writes only; credentials come from the SDK client's resolved config, so the SDK's provider
 *   chain (environment, ECS container role, instance profile, SSO) and its refresh before
 *   expiry still apply.
 *
 * Errors look like the SDK's where the writer reads them: `name` is the error type after the
 * `#` of the response's `__type` (`ConditionalCheckFailedException`, `ThrottlingException`, …),
 * `$metadata.httpStatusCode` the status; a failed connection rejects with the socket's error
 * (its `code`: `ECONNRESET`, `ECONNREFUSED`, …); a request whose socket stays silent for
 * `requestTimeoutMs` fails with the name `TimeoutError`. The JSON client does not retry: the
 * writer retries transient failures with the shared backoff (common/retry.ts).
 *
 * Limits of the JSON client, by design: no binary (`B`, `BS`) attribute values (the counter
 * layout has none: JSON would not carry them as the protocol wants), no clock-skew correction,
 * and without `AWS_ENDPOINT_URL_DYNAMODB` the regional endpoint `https://dynamodb.<region>.amazonaws.com`
 * (no FIPS, dual-stack or China-region endpoint: set `AWS_ENDPOINT_URL_DYNAMODB` for one).
 *
 * @example
 *   const items = createJsonItemClient({ endpoint, region: 'eu-west-1', credentials: dynamo.config.credentials, maxSockets: 32 });
 *   await items.updateItem({ TableName, Key, UpdateExpression, ConditionExpression, ExpressionAttributeValues });
 */
import {
  GetItemCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
  type GetItemCommandInput,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import aws4 from 'aws4';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** The two operations the counter writer needs. */
export interface DynamoItemClient {
  /** A (conditional) UpdateItem; resolves when DynamoDB applied it. */
  updateItem(input: UpdateItemCommandInput): Promise<void>;
  /** A GetItem; `Item` is undefined when there is no such item. */
  getItem(input: GetItemCommandInput): Promise<{ Item?: Record<string, AttributeValue> | undefined }>;
  /** Closes the client's idle sockets (the SDK client is closed by its owner). */
  close(): void;
}

/** The SDK's client behind the item interface (tests instrument its `send`; other DynamoDB calls use it directly). */
export function sdkItemClient(dynamo: DynamoDBClient): DynamoItemClient {
  return {
    updateItem: async (input) => {
      await dynamo.send(new UpdateItemCommand(input));
    },
    getItem: async (input) => {
      const out = await dynamo.send(new GetItemCommand(input));
      return { Item: out.Item };
    },
    close: () => undefined,
  };
}

/** Credentials as the SDK's resolved provider gives them (`dynamo.config.credentials`). */
export interface ItemClientCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
}

export interface JsonItemClientOptions {
  /** `http://127.0.0.1:8000` (a local stand-in) or `https://dynamodb.<region>.amazonaws.com`. */
  endpoint: string;
  /** The signing region. */
  region: string;
  /** Asked before each request: the SDK's provider caches and refreshes them. */
  credentials: () => Promise<ItemClientCredentials>;
  /** Sockets kept open to the endpoint (the writer's concurrency, or more). */
  maxSockets: number;
  /** A request whose socket stays silent this long fails with the name `TimeoutError`. Default 10 s. */
  requestTimeoutMs?: number;
}

/** A DynamoDB error answer (or a timeout), shaped where it matters like the SDK's service errors. */
export class DynamoRequestError extends Error {
  readonly $metadata: { httpStatusCode?: number };
  constructor(name: string, message: string, httpStatusCode?: number) {
    super(message);
    this.name = name;
    this.$metadata = httpStatusCode === undefined ? {} : { httpStatusCode };
  }
}

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
const TARGET_PREFIX = 'DynamoDB_20120810.';
const CONTENT_TYPE = 'application/x-amz-json-1.0';

/** The error an answer other than 200 stands for: its `__type` after `#` and its message, else the status. */
export function errorOfAnswer(status: number, body: string): DynamoRequestError {
  let type: string | undefined;
  let message: string | undefined;
  try {
    const parsed = JSON.parse(body) as { __type?: unknown; message?: unknown; Message?: unknown };
    if (typeof parsed.__type === 'string') type = parsed.__type.slice(parsed.__type.lastIndexOf('#') + 1);
    const text = parsed.message ?? parsed.Message;
    if (typeof text === 'string') message = text;
  } catch {
    // not JSON (a proxy's or load balancer's page): named by its status below
  }
  const name = type || (status >= 500 ? 'InternalServerError' : `HTTP${status}`);
  return new DynamoRequestError(name, message ?? `DynamoDB answered ${status}${type ? ` ${type}` : ''}`, status);
}

/**
 * DynamoDB's JSON protocol for UpdateItem and GetItem on one keep-alive agent, SigV4-signed by `aws4`.
 */
export function createJsonItemClient(options: JsonItemClientOptions): DynamoItemClient {
  const url = new URL(options.endpoint);
  const secure = url.protocol === 'https:';
  const agent = secure
    ? new HttpsAgent({ keepAlive: true, maxSockets: options.maxSockets })
    : new HttpAgent({ keepAlive: true, maxSockets: options.maxSockets });
  const send = secure ? httpsRequest : httpRequest;
  const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port);
  const path = url.pathname; // at least '/'
  const timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const region = options.region;

  async function call(operation: 'UpdateItem' | 'GetItem', input: object): Promise<string> {
    const credentials = await options.credentials();
    const body = JSON.stringify(input);
    const signed = aws4.sign(
      {
        host: url.hostname,
        // The Host header (and so the signature) names the port only when the endpoint does.
        ...(url.port === '' ? {} : { port }),
        method: 'POST',
        path,
        service: 'dynamodb',
        region,
        headers: { 'Content-Type': CONTENT_TYPE, 'X-Amz-Target': TARGET_PREFIX + operation },
        body,
      },
      credentials,
    );
    return new Promise<string>((resolve, reject) => {
      const request = send(
        { agent, hostname: url.hostname, port, method: 'POST', path, headers: signed.headers },
        (response: IncomingMessage) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', reject);
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = response.statusCode ?? 0;
            if (status === 200) resolve(text);
            else reject(errorOfAnswer(status, text));
          });
        },
      );
      request.setTimeout(timeoutMs, () =>
        request.destroy(new DynamoRequestError('TimeoutError', `DynamoDB ${operation}: no answer for ${timeoutMs} ms`)),
      );
      request.on('error', reject);
      request.end(body);
    });
  }

  return {
    updateItem: async (input) => {
      await call('UpdateItem', input);
    },
    getItem: async (input) => {
      const text = await call('GetItem', input);
      const out = JSON.parse(text) as { Item?: Record<string, AttributeValue> };
      return { Item: out.Item };
    },
    close: () => agent.destroy(),
  };
}
