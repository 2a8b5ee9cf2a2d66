/**
 * Email alert channel: SendGrid v3 mail send (`POST <SENDGRID_API_URL>/v3/mail/send`,
 * `Authorization: Bearer SENDGRID_API_KEY`) to the recipients (an experiment's `owners`;
 * for pipeline alerts ALERT_EMAIL_TO or the running experiments' owners), one
 * personalization per address (recipients do not see each other's addresses), from
 * ALERT_EMAIL_FROM, with a plain-text and an HTML body. SendGrid answers `202` when it
 * accepted the mail. No addresses: nobody to email.
 *
 * @example
 *   const email = createSendGridChannel({ apiKey, apiUrl: 'https://api.sendgrid.com', from: 'alerts@example.com' });
 *   await email.deliver(notice, experimentRecipients(definition));
 */
import type { RetryPolicy } from '../../common/retry.js';
import { formatAlert } from './alert-messages.js';
import { postJson } from './alert-http.js';
import type { AlertChannel } from './alert-channel.js';

export interface SendGridChannelOptions {
  apiKey: string;
  /** e.g. `https://api.sendgrid.com` (SENDGRID_API_URL). */
  apiUrl: string;
  /** Verified sender (ALERT_EMAIL_FROM). */
  from: string;
  policy?: RetryPolicy;
}

/** The email channel; `deliver` sends one mail per notice to its recipients. */
export function createSendGridChannel(options: SendGridChannelOptions): AlertChannel {
  const url = `${options.apiUrl.replace(/\/+$/, '')}/v3/mail/send`;
  return {
    name: 'email',
    async deliver(notice, recipients) {
      const owners = recipients.emails;
      if (owners.length === 0) return 'no-recipient';
      const message = formatAlert(notice);
      await postJson({
        service: 'SendGrid',
        url,
        headers: { authorization: `Bearer ${options.apiKey}` },
        body: {
          personalizations: owners.map((email) => ({ to: [{ email }] })),
          from: { email: options.from, name: 'Experiment monitor' },
          subject: message.emailSubject,
          content: [
            { type: 'text/plain', value: message.emailText },
            { type: 'text/html', value: message.emailHtml },
          ],
        },
        ...(options.policy ? { policy: options.policy } : {}),
      });
      return 'sent';
    },
  };
}
