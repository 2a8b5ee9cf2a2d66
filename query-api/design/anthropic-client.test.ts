import { createServer } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RetryPolicy } from '../../common/retry.js';
import { startFakeAnthropicServer, type FakeAnthropicServer } from '../test-support/fake-anthropic-server.js';
import { ANTHROPIC_VERSION, createAnthropicClient, type AnthropicClientOptions } from './anthropic-client.js';

const FAST: RetryPolicy = { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2_000 };
const REQUEST = { system: 'Answer in JSON.', messages: [{ role: 'user' as const, content: 'Hello' }] };

describe('Anthropic Messages client against a local fake Messages API server', () => {
  let fake: FakeAnthropicServer;
  const client = (overrides: Partial<AnthropicClientOptions> = {}) =>
    createAnthropicClient({
      apiKey: fake.apiKey,
      apiUrl: fake.url,
      model: 'claude-test-model',
      retryPolicy: FAST,
      ...overrides,
    });

  beforeAll(async () => {
    fake = await startFakeAnthropicServer();
  });
  afterAll(() => fake.close());
  beforeEach(() => fake.script([]));

  it('sends the documented request shape and returns the text blocks', async () => {
    fake.script([{ text: '{"ok": true}', model: 'claude-test-model-20261101' }]);
    const reply = await client().createMessage({ ...REQUEST, maxTokens: 512 });
    expect(reply).toEqual({ text: '{"ok": true}', model: 'claude-test-model-20261101', stopReason: 'end_turn' });
    expect(fake.shapeProblems).toEqual([]);
    const [request] = fake.requests;
    expect(request!.url).toBe('/v1/messages');
    expect(request!.headers['x-api-key']).toBe(fake.apiKey);
    expect(request!.headers['anthropic-version']).toBe(ANTHROPIC_VERSION);
    expect(request!.body).toEqual({
      model: 'claude-test-model',
      max_tokens: 512,
      system: 'Answer in JSON.',
      messages: [{ role: 'user', content: 'Hello' }],
    });
  });

  it('a base URL with a trailing slash still reaches /v1/messages', async () => {
    fake.script([{ text: 'hi' }]);
    await client({ apiUrl: `${fake.url}/` }).createMessage(REQUEST);
    expect(fake.requests.map((r) => r.url)).toEqual(['/v1/messages']);
  });

  it('429 with retry-after: waits at least that long, then succeeds', async () => {
    fake.script([{ status: 429, retryAfter: '1' }, { text: 'after the wait' }]);
    const started = Date.now();
    const reply = await client().createMessage(REQUEST);
    expect(reply.text).toBe('after the wait');
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(fake.requests).toHaveLength(2);
  });

  it('529 overloaded and 503 are retried with backoff', async () => {
    fake.script([{ status: 529 }, { status: 503 }, { text: 'third time' }]);
    const retries: number[] = [];
    const reply = await client({ onRetry: (_error, attempt) => retries.push(attempt) }).createMessage(REQUEST);
    expect(reply.text).toBe('third time');
    expect(retries).toEqual([1, 2]);
  });

  it('5xx every time: bounded attempts, then UPSTREAM_FAILED without internals', async () => {
    fake.script([{ status: 500 }, { status: 500 }, { status: 500 }, { text: 'never reached' }]);
    const error = await client()
      .createMessage(REQUEST)
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'UPSTREAM_FAILED', statusCode: 502 });
    expect((error as Error).message).toBe('the Anthropic Messages API was unavailable (HTTP 500)');
    expect(fake.requests).toHaveLength(FAST.maxAttempts);
  });

  it('401 is not retried and names ANTHROPIC_API_KEY, never the key', async () => {
    fake.script([{ status: 401 }, { text: 'never reached' }]);
    const error = (await client()
      .createMessage(REQUEST)
      .catch((e: unknown) => e)) as Error;
    expect(error).toMatchObject({ code: 'UPSTREAM_FAILED' });
    expect(error.message).toContain('ANTHROPIC_API_KEY');
    expect(error.message).not.toContain(fake.apiKey);
    expect(error.message).not.toContain(fake.url);
    expect(fake.requests).toHaveLength(1);
  });

  it('a retry-after longer than the policy allows ends the retries at once', async () => {
    fake.script([{ status: 429, retryAfter: '3600' }, { text: 'never reached' }]);
    const error = await client()
      .createMessage(REQUEST)
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'UPSTREAM_FAILED', message: expect.stringContaining('HTTP 429') });
    expect(fake.requests).toHaveLength(1);
  });

  it('an unreachable API is retried, then UPSTREAM_FAILED', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    const retries: number[] = [];
    const error = await client({
      apiUrl: `http://127.0.0.1:${closedPort}`,
      onRetry: (_e, attempt) => retries.push(attempt),
    })
      .createMessage(REQUEST)
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'UPSTREAM_FAILED',
      message: 'the Anthropic Messages API could not be reached',
    });
    expect(retries).toEqual([1, 2]);
  });

  it('an answer slower than the timeout fails without a retry', async () => {
    fake.script([{ delayMs: 1_000, then: { text: 'too late' } }, { text: 'never reached' }]);
    const error = await client({ timeoutMs: 100 })
      .createMessage(REQUEST)
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'UPSTREAM_FAILED', message: expect.stringContaining('within 100 ms') });
    expect(fake.requests).toHaveLength(1);
  });
});
