/**
 * Slack alert channel: `chat.postMessage` with the bot token (`Authorization: Bearer
 * SLACK_BOT_TOKEN`), to the recipients' channel (an experiment's `slackChannel`) or else
 * SLACK_DEFAULT_CHANNEL (pipeline-health alerts always), a
 * readable `text` plus Block Kit `blocks` with a link to the results page. Slack answers
 * HTTP 200 with `{ ok: false, error }` for refusals: `ratelimited` and Slack's own
 * transient errors are retried like a 429/5xx, the rest (`channel_not_found`,
 * `not_in_channel`, `invalid_auth`, …) are refused for good.
 *
 * @example
 *   const slack = createSlackChannel({ botToken, apiUrl: 'https://slack.com/api', defaultChannel: '#experiments' });
 *   await slack.deliver(notice, experimentRecipients(definition));
 */
import { PipelineError } from '../../common/errors.js';
import type { RetryPolicy } from '../../common/retry.js';
import type { AlertChannel } from './alert-channel.js';
import { formatAlert } from './alert-messages.js';
import { postJson } from './alert-http.js';

export interface SlackChannelOptions {
  botToken: string;
  /** Base of the Web API, e.g. `https://slack.com/api` (SLACK_API_URL). */
  apiUrl: string;
  defaultChannel?: string;
  policy?: RetryPolicy;
}

/** Slack `error` values worth another attempt. */
const TRANSIENT_SLACK_ERRORS = new Set([
  'ratelimited',
  'internal_error',
  'fatal_error',
  'service_unavailable',
  'request_timeout',
]);

function slackBodyError(json: unknown): PipelineError | undefined {
  const body = json as { ok?: unknown; error?: unknown } | undefined;
  if (body?.ok === true) return undefined;
  const error = typeof body?.error === 'string' ? body.error : 'no ok:true in the answer';
  const transient = TRANSIENT_SLACK_ERRORS.has(error);
  return new PipelineError(
    transient ? 'SINK_FAILED' : 'SINK_REJECTED',
    `Slack refused chat.postMessage: ${error}${transient ? '' : ' (not retried)'}`,
    { details: { slackError: error } },
  );
}

/** The Slack channel; `deliver` posts one message per notice. */
export function createSlackChannel(options: SlackChannelOptions): AlertChannel {
  const url = `${options.apiUrl.replace(/\/+$/, '')}/chat.postMessage`;
  return {
    name: 'slack',
    async deliver(notice, recipients) {
      const channel = recipients.slackChannel ?? options.defaultChannel;
      if (!channel) return 'no-recipient';
      const message = formatAlert(notice);
      await postJson({
        service: 'Slack',
        url,
        headers: { authorization: `Bearer ${options.botToken}` },
        body: { channel, text: message.slackText, blocks: message.slackBlocks, unfurl_links: false },
        bodyError: slackBodyError,
        ...(options.policy ? { policy: options.policy } : {}),
      });
      return 'sent';
    },
  };
}
