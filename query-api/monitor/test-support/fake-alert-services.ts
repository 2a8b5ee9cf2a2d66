/**
 * Test support: local fake Slack Web API and SendGrid v3 servers on 127.0.0.1. Each records
 * every request (method, path, headers, parsed JSON body) and answers from a script of
 * responses (then its normal answer): Slack `200 {"ok":true,…}`, SendGrid `202` with an
 * empty body — what the real services answer. Requests must be JSON with a Bearer token,
 * as the real services require; anything else gets their real error answer.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

export interface ScriptedResponse {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface FakeService {
  /** Base URL to configure (SLACK_API_URL / SENDGRID_API_URL). */
  url: string;
  requests: RecordedRequest[];
  /** Answers the next requests with these, in order, before the normal answer. */
  script(...responses: ScriptedResponse[]): void;
  /** Drops the scripted responses not used yet. */
  resetScript(): void;
  close(): Promise<void>;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function startFake(
  normal: (request: RecordedRequest) => ScriptedResponse,
  expectedPath: string,
): Promise<FakeService> {
  const requests: RecordedRequest[] = [];
  const pending: ScriptedResponse[] = [];
  const server: Server = createServer((request, response) => {
    void readBody(request).then((text) => {
      let body: unknown = text;
      try {
        body = JSON.parse(text) as unknown;
      } catch {
        // recorded as text
      }
      const recorded = { method: request.method ?? '', path: request.url ?? '', headers: request.headers, body };
      requests.push(recorded);
      let answer: ScriptedResponse;
      if (request.method !== 'POST' || request.url !== expectedPath)
        answer = { status: 404, body: { error: 'not found' } };
      else if (!/^application\/json/.test(request.headers['content-type'] ?? ''))
        answer = { status: 415, body: { error: 'unsupported media type' } };
      else if (!/^Bearer \S+$/.test(request.headers.authorization ?? ''))
        answer = { status: 401, body: { errors: [{ message: 'authorization required' }] } };
      else answer = pending.shift() ?? normal(recorded);
      const payload = answer.body === undefined ? '' : JSON.stringify(answer.body);
      response.writeHead(answer.status, {
        ...(payload ? { 'content-type': 'application/json' } : {}),
        ...answer.headers,
      });
      response.end(payload);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    script: (...responses) => pending.push(...responses),
    resetScript: () => void pending.splice(0),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A fake Slack Web API: `POST /chat.postMessage` → `{ ok: true, channel, ts }`. */
export function startFakeSlack(): Promise<FakeService> {
  return startFake(
    (request) => ({
      status: 200,
      body: { ok: true, channel: (request.body as { channel?: string }).channel, ts: `${Date.now() / 1000}` },
    }),
    '/chat.postMessage',
  );
}

/** A fake SendGrid: `POST /v3/mail/send` → `202` with an empty body. */
export function startFakeSendGrid(): Promise<FakeService> {
  return startFake(() => ({ status: 202 }), '/v3/mail/send');
}
