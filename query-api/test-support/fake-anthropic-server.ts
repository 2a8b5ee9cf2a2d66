/**
 * Test support: a local fake of Anthropic's Messages API (`POST /v1/messages`). It checks
 * every request against the real API's shape — the `x-api-key`, `anthropic-version:
 * 2023-06-01` and `content-type: application/json` headers; a body with `model`, a
 * positive integer `max_tokens`, a string `system` and `messages` alternating user /
 * assistant, starting and ending with the user, every content non-empty — and answers
 * 400 `invalid_request_error` (recording the problem in `shapeProblems`) when one is off,
 * as the real API would. Otherwise it plays the scripted replies in order: a text answer
 * in the real response shape, or an error status with the real error body and headers.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type FakeReply =
  /** A 200 Messages response whose single text block is `text`. */
  | { text: string; model?: string }
  /** An error answer: `status` with Anthropic's error body; `retryAfter` sets the header. */
  | { status: number; errorType?: string; retryAfter?: string }
  /** Hold the response this long before answering with `then` (timeouts). */
  | { delayMs: number; then: FakeReply };

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: {
    model?: unknown;
    max_tokens?: unknown;
    system?: unknown;
    messages?: { role?: unknown; content?: unknown }[];
  };
}

export interface FakeAnthropicServer {
  url: string;
  apiKey: string;
  requests: RecordedRequest[];
  /** Requests whose shape the real API would refuse (should stay empty). */
  shapeProblems: string[];
  /**
   * Starts a new scene: replaces the scripted replies (played in order; an exhausted script
   * answers 500) and forgets the recorded requests and shape problems.
   */
  script(replies: FakeReply[]): void;
  close(): Promise<void>;
}

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};

function shapeProblemsOf(request: RecordedRequest, apiKey: string): string[] {
  const problems: string[] = [];
  const { headers, body } = request;
  if (request.method !== 'POST' || request.url !== '/v1/messages') problems.push(`${request.method} ${request.url}`);
  if (headers['x-api-key'] !== apiKey) problems.push('x-api-key header missing or wrong');
  if (headers['anthropic-version'] !== '2023-06-01') problems.push('anthropic-version header is not 2023-06-01');
  if (!String(headers['content-type']).startsWith('application/json')) problems.push('content-type is not JSON');
  if (typeof body.model !== 'string' || body.model === '') problems.push('model missing');
  if (!Number.isInteger(body.max_tokens) || (body.max_tokens as number) < 1) problems.push('max_tokens invalid');
  if (typeof body.system !== 'string') problems.push('system is not a string');
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) problems.push('messages missing');
  else {
    messages.forEach((message, index) => {
      const expected = index % 2 === 0 ? 'user' : 'assistant';
      if (message.role !== expected)
        problems.push(`messages.${index}.role is ${String(message.role)}, not ${expected}`);
      if (typeof message.content !== 'string' || message.content.trim() === '') {
        problems.push(`messages.${index}.content is empty or not text`);
      }
    });
    if (messages.length % 2 === 0) problems.push('the last message is not from the user');
  }
  return problems;
}

/** Starts the fake on 127.0.0.1 (a free port) with a random API key. */
export async function startFakeAnthropicServer(): Promise<FakeAnthropicServer> {
  const apiKey = `sk-ant-test-${crypto.randomUUID()}`;
  const requests: RecordedRequest[] = [];
  const shapeProblems: string[] = [];
  let replies: FakeReply[] = [];

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      let body: RecordedRequest['body'] = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as RecordedRequest['body'];
      } catch {
        shapeProblems.push('body is not JSON');
      }
      const recorded: RecordedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      requests.push(recorded);
      const problems = shapeProblemsOf(recorded, apiKey);
      shapeProblems.push(...problems);
      const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, {
          'content-type': 'application/json',
          'request-id': `req_${requests.length}`,
          ...headers,
        });
        res.end(JSON.stringify(payload));
      };
      if (problems.length > 0) {
        send(400, { type: 'error', error: { type: 'invalid_request_error', message: problems.join('; ') } });
        return;
      }
      const play = (reply: FakeReply | undefined): void => {
        if (reply === undefined) {
          send(500, { type: 'error', error: { type: 'api_error', message: 'the fake has no scripted reply left' } });
        } else if ('delayMs' in reply) {
          setTimeout(() => play(reply.then), reply.delayMs);
        } else if ('text' in reply) {
          send(200, {
            id: `msg_${requests.length}`,
            type: 'message',
            role: 'assistant',
            model: reply.model ?? body.model,
            content: [{ type: 'text', text: reply.text }],
            stop_reason: 'end_turn',
            stop_sequence: null,
            usage: { input_tokens: 100, output_tokens: 200 },
          });
        } else {
          const errorType = reply.errorType ?? ERROR_TYPES[reply.status] ?? 'api_error';
          send(
            reply.status,
            { type: 'error', error: { type: errorType, message: `fake ${errorType}` } },
            reply.retryAfter === undefined ? {} : { 'retry-after': reply.retryAfter },
          );
        }
      };
      play(replies.shift());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    apiKey,
    requests,
    shapeProblems,
    script(next) {
      replies = [...next];
      requests.length = 0;
      shapeProblems.length = 0;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
