/**
 * What every alert channel (Slack, email) offers the monitor: deliver one notice to its
 * recipients. The monitor decides who hears what: an experiment's alerts go to its
 * `slackChannel` (else SLACK_DEFAULT_CHANNEL) and its `owners`; pipeline-health alerts go to
 * SLACK_DEFAULT_CHANNEL and ALERT_EMAIL_TO (else the running experiments' owners, once each).
 * Channels that are not configured are not created (the monitor says so once).
 *
 * @example
 *   await slack.deliver(notice, experimentRecipients(definition)); // → 'sent'
 */
import type { ExperimentDefinition } from '../../common/experiment-definition.js';
import type { AlertNotice } from './alert-messages.js';

/** Who should hear one notice. */
export interface AlertRecipients {
  /** Slack channel; absent: the channel's SLACK_DEFAULT_CHANNEL. */
  slackChannel?: string;
  /** Email addresses (none: no email). */
  emails: readonly string[];
}

/** An experiment's alerts go to its own Slack channel (else the default) and its owners. */
export function experimentRecipients(definition: ExperimentDefinition): AlertRecipients {
  return {
    ...(definition.slackChannel ? { slackChannel: definition.slackChannel } : {}),
    emails: definition.owners ?? [],
  };
}

/**
 * Pipeline-health alerts: the default Slack channel, and ALERT_EMAIL_TO when set, else every
 * running experiment's owners (each address once, sorted).
 *
 * @example pipelineRecipients([], [{ owners: ['b@x.io', 'a@x.io'] }, { owners: ['a@x.io'] }]) // → { emails: ['a@x.io', 'b@x.io'] }
 */
export function pipelineRecipients(
  alertEmailTo: readonly string[],
  running: readonly Pick<ExperimentDefinition, 'owners'>[],
): AlertRecipients {
  if (alertEmailTo.length > 0) return { emails: [...alertEmailTo] };
  return { emails: [...new Set(running.flatMap((definition) => definition.owners ?? []))].sort() };
}

/** A way of telling people about alerts. */
export interface AlertChannel {
  readonly name: 'slack' | 'email';
  /**
   * Sends one notice; resolves `sent` when the service accepted it, `no-recipient` when the
   * recipients name nobody for this channel; rejects (typed) when delivery failed.
   */
  deliver(notice: AlertNotice, recipients: AlertRecipients): Promise<'sent' | 'no-recipient'>;
}
