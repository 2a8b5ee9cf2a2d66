/**
 * Test support: an HTTP proxy in front of the run's dynalite that can hold one chosen
 * request — before forwarding it (the write never happens) or after (the write landed,
 * its answer never comes back). A test points a processor at the proxy, arms a hold, waits
 * until the request is held, and only then kills the processor: the kill lands at a known
 * point inside a batch, by condition, never by a timer. Not a mock: every request it does
 * not hold is forwarded to dynalite unchanged.
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Which request to hold: the `nth` (from 1) `operation` on `table` after the hold is armed. */
export interface HoldRule {
  /** DynamoDB operation, as in the X-Amz-Target header: `UpdateItem`, `GetItem`, … */
  operation: string;
  table: string;
  nth: number;
  /** `before-forward`: dynalite never sees it. `after-forward`: dynalite applied it; the answer is withheld. */
  when: 'before-forward' | 'after-forward';
}

/** What was held. */
export interface HeldRequest extends HoldRule {
  /** The request body (JSON), for diagnostics. */
  body: string;
}

export interface DynamoGateProxy {
  /** Endpoint to give the processor instead of dynalite's. */
  readonly url: string;
  /** Requests forwarded and answered, by operation. */
  readonly answered: Map<string, number>;
  /**
   * Arms a hold; resolves once a matching request is held. Requests held stay held until
   * their client goes away (the killed process) or the proxy closes. One hold at a time.
   */
  hold(rule: HoldRule): Promise<HeldRequest>;
  /** Stops holding: a pending `hold` is dropped, held requests stay unanswered until `close`. */
  disarm(): void;
  close(): Promise<void>;
}

const readBody = (message: IncomingMessage): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    message.on('data', (chunk: Buffer) => chunks.push(chunk));
    message.on('end', () => resolve(Buffer.concat(chunks)));
    message.on('error', reject);
  });

const tableOf = (body: Buffer): string | undefined => {
  try {
    const parsed = JSON.parse(body.toString()) as { TableName?: unknown };
    return typeof parsed.TableName === 'string' ? parsed.TableName : undefined;
  } catch {
    return undefined;
  }
};

/**
 * Starts the proxy on a random port of 127.0.0.1, forwarding to `upstream` (dynalite).
 *
 * @example
 *   const proxy = await startDynamoGateProxy(inject('dynamodbEndpoint'));
 *   const held = proxy.hold({ operation: 'UpdateItem', table: checkpointTable, nth: 1, when: 'before-forward' });
 *   // start the processor with AWS_ENDPOINT_URL_DYNAMODB = proxy.url …
 *   await held; child.kill('SIGKILL');
 */
export async function startDynamoGateProxy(upstream: string): Promise<DynamoGateProxy> {
  const target = new URL(upstream);
  const answered = new Map<string, number>();
  const held: ServerResponse[] = [];
  let armed: { rule: HoldRule; seen: number; resolve: (held: HeldRequest) => void } | undefined;

  /** True when this request is the one to hold (and disarms: one hold at a time). */
  const shouldHold = (operation: string, table: string | undefined, body: Buffer): HoldRule | undefined => {
    if (!armed || armed.rule.operation !== operation || armed.rule.table !== table) return undefined;
    armed.seen += 1;
    if (armed.seen < armed.rule.nth) return undefined;
    const { rule, resolve } = armed;
    armed = undefined;
    resolve({ ...rule, body: body.toString() });
    return rule;
  };

  const server = createServer((incoming, response) => {
    void (async () => {
      const body = await readBody(incoming);
      const operation = String(incoming.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
      const table = tableOf(body);
      const rule = shouldHold(operation, table, body);
      if (rule?.when === 'before-forward') {
        held.push(response);
        return;
      }
      const upstreamResponse = await new Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }>(
        (resolve, reject) => {
          const forwarded = httpRequest(
            {
              hostname: target.hostname,
              port: target.port,
              method: incoming.method,
              path: incoming.url,
              headers: { ...incoming.headers, host: target.host },
            },
            (answer) => {
              readBody(answer)
                .then((answerBody) =>
                  resolve({ status: answer.statusCode ?? 502, headers: answer.headers, body: answerBody }),
                )
                .catch(reject);
            },
          );
          forwarded.on('error', reject);
          forwarded.end(body);
        },
      );
      if (rule?.when === 'after-forward') {
        held.push(response);
        return;
      }
      answered.set(operation, (answered.get(operation) ?? 0) + 1);
      response.writeHead(upstreamResponse.status, upstreamResponse.headers);
      response.end(upstreamResponse.body);
    })().catch(() => {
      if (!response.headersSent) response.writeHead(502).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    answered,
    hold(rule) {
      if (armed) throw new Error('a hold is already armed');
      return new Promise<HeldRequest>((resolve) => (armed = { rule, seen: 0, resolve }));
    },
    disarm() {
      armed = undefined;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        armed = undefined;
        for (const response of held.splice(0)) response.destroy();
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
