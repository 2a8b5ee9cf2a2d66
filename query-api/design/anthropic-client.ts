/**
 * A minimal client of Anthropic's Messages API (`POST {ANTHROPIC_API_URL}/v1/messages`):
 * one call, text out. Headers `x-api-key`, `anthropic-version: 2023-06-01`,
 * `content-type: application/json`; body `{ model, max_tokens, system, messages }`.
 *
 * Failures: 429, 5xx (529 "overloaded" included) and connection errors are retried with
 * the one retry module (common/retry.ts: full-jitter backoff), waiting at least the
 * `retry-after` the API sent; a `retry-after` longer than the policy's largest delay ends
 * the retries. Any other status (400, 401, 403, 404, 413), a timeout, or running out of
 * attempts throws `UPSTREAM_FAILED` (502) whose message says what happened in a sentence
 * — never the response body, the URL or the key.
 *
 * @example
 *   const client = createAnthropicClient({ apiKey, apiUrl: 'https://api.anthropic.com', model: 'claude-sonnet-4-5' });
 *   const reply = await client.createMessage({ system: 'Answer in JSON.', messages: [{ role: 'user', content: 'Hi' }] });
 *   reply.text // the text blocks of the answer, joined
 */
import { PipelineError } from '../../common/errors.js';
import { withRetry, type RetryPolicy } from '../../common/retry.js';
import { retryAfterMs } from '../../common/retry-after.js';

/** The Messages API version this client speaks (sent as `anthropic-version`). */
export const ANTHROPIC_VERSION = '2023-06-01';

/**
 * Retries of the Messages API: 4 attempts, 1 s base, 30 s cap. Anthropic asks for waits of
 * seconds (`retry-after`) when it rate-limits or is overloaded.
 */
export const ANTHROPIC_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 4,
  baseDelayMs: 1_000,
  maxDelayMs: 30_000,
});

/** One attempt may take this long: drafting a definition is a few hundred output tokens. */
export const ANTHROPIC_TIMEOUT_MS = 60_000;

export interface ChatMessage {
  role: 'user' | 'assistant';
  content: string;
}

export interface MessageRequest {
  system: string;
  messages: readonly ChatMessage[];
  /** Default 2048. */
  maxTokens?: number;
}

export interface MessageReply {
  /** The `text` content blocks, joined with newlines. */
  text: string;
  /** The model that answered, as the API reports it. */
  model: string;
  stopReason: string | null;
}

/** Anything that can answer a Messages request (the real client, or a test's stand-in). */
export interface MessagesClient {
  /** The configured model id. */
  readonly model: string;
  createMessage(request: MessageRequest): Promise<MessageReply>;
}

export interface AnthropicClientOptions {
  apiKey: string;
  /** Base URL without `/v1/messages`. */
  apiUrl: string;
  model: string;
  retryPolicy?: RetryPolicy;
  timeoutMs?: number;
  fetch?: typeof fetch;
  /** Called before each retry (logging, metrics). */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/** What a failed attempt leaves for the retry loop: whether to retry and how long the API asked to wait. */
class AttemptFailed extends PipelineError {
  constructor(
    message: string,
    readonly transient: boolean,
    readonly waitMs?: number,
  ) {
    super('UPSTREAM_FAILED', message, { retriable: transient });
  }
}

function describeStatus(status: number): string {
  if (status === 401 || status === 403) return `refused the API key (HTTP ${status}): check ANTHROPIC_API_KEY`;
  if (status === 404)
    return 'does not know the model or endpoint (HTTP 404): check ANTHROPIC_MODEL and ANTHROPIC_API_URL';
  if (status === 429) return 'kept rate-limiting the requests (HTTP 429)';
  if (status >= 500) return `was unavailable (HTTP ${status})`;
  return `refused the request (HTTP ${status})`;
}

interface MessagesResponseBody {
  model?: unknown;
  stop_reason?: unknown;
  content?: unknown;
}

function replyOf(body: MessagesResponseBody, fallbackModel: string): MessageReply {
  if (!Array.isArray(body.content)) {
    throw new AttemptFailed('the Anthropic Messages API answered without a content list', false);
  }
  const text = body.content
    .filter((block): block is { type: 'text'; text: string } => {
      const candidate = block as { type?: unknown; text?: unknown };
      return candidate.type === 'text' && typeof candidate.text === 'string';
    })
    .map((block) => block.text)
    .join('\n');
  return {
    text,
    model: typeof body.model === 'string' ? body.model : fallbackModel,
    stopReason: typeof body.stop_reason === 'string' ? body.stop_reason : null,
  };
}

/** Builds the client; nothing is sent until `createMessage`. */
export function createAnthropicClient(options: AnthropicClientOptions): MessagesClient {
  const endpoint = `${options.apiUrl.replace(/\/+$/, '')}/v1/messages`;
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? ANTHROPIC_TIMEOUT_MS;

  async function attempt(request: MessageRequest): Promise<MessageReply> {
    let response: Response;
    try {
      response = await doFetch(endpoint, {
        method: 'POST',
        headers: {
          'x-api-key': options.apiKey,
          'anthropic-version': ANTHROPIC_VERSION,
          'content-type': 'application/json',
        },
        body: JSON.stringify({
          model: options.model,
          max_tokens: request.maxTokens ?? 2048,
          system: request.system,
          messages: request.messages,
        }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      const timedOut = error instanceof Error && error.name === 'TimeoutError';
      throw timedOut
        ? new AttemptFailed(`the Anthropic Messages API did not answer within ${timeoutMs} ms`, false)
        : new AttemptFailed('the Anthropic Messages API could not be reached', true);
    }
    if (!response.ok) {
      await response.body?.cancel();
      const transient = response.status === 429 || response.status >= 500;
      throw new AttemptFailed(
        `the Anthropic Messages API ${describeStatus(response.status)}`,
        transient,
        retryAfterMs(response.headers),
      );
    }
    let body: MessagesResponseBody;
    try {
      body = (await response.json()) as MessagesResponseBody;
    } catch {
      throw new AttemptFailed('the Anthropic Messages API answered with a body that is not JSON', false);
    }
    return replyOf(body ?? {}, options.model);
  }

  return {
    model: options.model,
    async createMessage(request) {
      try {
        return await withRetry(() => attempt(request), {
          policy: options.retryPolicy ?? ANTHROPIC_RETRY_POLICY,
          shouldRetry: (error) => error instanceof AttemptFailed && error.transient,
          delayHintMs: (error) => (error instanceof AttemptFailed ? error.waitMs : undefined),
          ...(options.onRetry ? { onRetry: options.onRetry } : {}),
        });
      } catch (error) {
        if (error instanceof AttemptFailed) throw new PipelineError('UPSTREAM_FAILED', error.message);
        throw error;
      }
    },
  };
}
