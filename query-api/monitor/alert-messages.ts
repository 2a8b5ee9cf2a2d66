/**
 * Pure: the words of an alert, for every channel. One notice per transition (an alert
 * starting or clearing for one experiment, or for the whole pipeline); Slack gets a fallback `text` plus Block Kit
 * `blocks` with a link to the results page, email a subject, a plain-text and an HTML body.
 * User-controlled strings (experiment names, variant ids) are escaped for each format.
 *
 * @example
 *   const message = formatAlert({ transition: 'fired', experiment: { key: 'checkout', name: 'Checkout' },
 *     condition: 'srm', summary: 'sample-ratio mismatch …', resultsUrl: 'https://x/ui/experiments/checkout',
 *     at: new Date() });
 *   message.emailSubject // → '[checkout] Alert: sample-ratio mismatch …'
 */
import type { AlertKind } from './alert-conditions.js';

/** One alert transition to tell people about. */
export interface AlertNotice {
  transition: 'fired' | 'cleared';
  /** The experiment the alert is about; absent for pipeline-health alerts (about every experiment). */
  experiment?: { key: string; name: string };
  condition: string;
  kind?: AlertKind;
  /** What holds (fired) or held (cleared), with its numbers. */
  summary: string;
  /** The experiment's results page, or the experiments list for a pipeline alert. */
  resultsUrl: string;
  at: Date;
  /** When a cleared alert had fired. */
  firedAt?: Date;
}

/** A Slack Block Kit block (the subset the monitor sends). */
export type SlackBlock =
  | { type: 'section'; text: { type: 'mrkdwn'; text: string } }
  | { type: 'context'; elements: { type: 'mrkdwn'; text: string }[] };

export interface FormattedAlert {
  /** Slack's `text`: the notification and screen-reader fallback. */
  slackText: string;
  slackBlocks: SlackBlock[];
  emailSubject: string;
  emailText: string;
  emailHtml: string;
}

/** Slack mrkdwn control characters (`&`, `<`, `>`), escaped as Slack documents. */
export function escapeSlack(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** HTML special characters, escaped. */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

function duration(fromMs: number, toMs: number): string {
  const minutes = Math.max(0, Math.round((toMs - fromMs) / 60_000));
  if (minutes < 120) return `${minutes} min`;
  const hours = Math.round(minutes / 60);
  return hours < 48 ? `${hours} h` : `${Math.round(hours / 24)} days`;
}

/** The message of one notice in every channel's format. */
export function formatAlert(notice: AlertNotice): FormattedAlert {
  const experiment = notice.experiment ?? PIPELINE_SUBJECT;
  const linkLabel = notice.experiment ? 'Open the results' : 'Open the experiments';
  const fired = notice.transition === 'fired';
  const headline = fired ? `Alert: ${notice.summary}` : `Cleared: ${notice.summary}`;
  const lasted =
    !fired && notice.firedAt
      ? ` (fired ${notice.firedAt.toISOString()}, lasted ${duration(notice.firedAt.getTime(), notice.at.getTime())})`
      : '';
  const status = fired ? 'This alert is sent once; you will hear when it clears.' : `No longer holds${lasted}.`;
  const slackText = `${fired ? ':rotating_light:' : ':white_check_mark:'} ${escapeSlack(experiment.name)} (${escapeSlack(experiment.key)}): ${escapeSlack(headline)}`;
  return {
    slackText,
    slackBlocks: [
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text:
            `${fired ? ':rotating_light: *Alert*' : ':white_check_mark: *Cleared*'} · ` +
            `*${escapeSlack(experiment.name)}* (\`${escapeSlack(experiment.key)}\`)\n${escapeSlack(notice.summary)}`,
        },
      },
      {
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: `${escapeSlack(status)} · condition \`${escapeSlack(notice.condition)}\` · <${notice.resultsUrl}|${linkLabel}>`,
          },
        ],
      },
    ],
    emailSubject: `[${experiment.key}] ${headline}`.slice(0, 250),
    emailText: [
      `${experiment.name} (${experiment.key})`,
      '',
      headline,
      status,
      '',
      `Condition: ${notice.condition}`,
      `At: ${notice.at.toISOString()}`,
      `Results: ${notice.resultsUrl}`,
    ].join('\n'),
    emailHtml:
      `<p><strong>${escapeHtml(experiment.name)}</strong> (<code>${escapeHtml(experiment.key)}</code>)</p>` +
      `<p>${escapeHtml(headline)}<br>${escapeHtml(status)}</p>` +
      `<p>Condition <code>${escapeHtml(notice.condition)}</code> at ${escapeHtml(notice.at.toISOString())}</p>` +
      `<p><a href="${escapeHtml(notice.resultsUrl)}">${linkLabel}</a></p>`,
  };
}

/** How pipeline-health alerts name what they are about (subject `[pipeline] Alert: …`). */
const PIPELINE_SUBJECT = { key: 'pipeline', name: 'Event pipeline (every running experiment)' };

/** Link to the experiments list (`<base>/ui/`), where pipeline-health alerts point. */
export function experimentsPageUrl(baseUrl: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/ui/`;
}

/**
 * Link to an experiment's results page: `<base>/ui/experiments/<key>` (the key
 * percent-encoded; a trailing slash of the base ignored).
 */
export function resultsPageUrl(baseUrl: string, experimentKey: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/ui/experiments/${encodeURIComponent(experimentKey)}`;
}
