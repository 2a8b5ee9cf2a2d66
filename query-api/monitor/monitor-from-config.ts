/**
 * Builds the monitor's channels and health source from the configuration, and says once,
 * at start, which channels are off and why (never a credential): the CLI, `npm start` and
 * the Lambda handler share it.
 *
 *   Slack   SLACK_BOT_TOKEN (+ SLACK_DEFAULT_CHANNEL, or `slackChannel` per experiment)
 *   email   SENDGRID_API_KEY + ALERT_EMAIL_FROM, to each experiment's `owners`
 *   health  PROCESSORS_METRICS_URLS (the processors' /metrics endpoints), or CloudWatch
 *           (MONITOR_HEALTH_SOURCE=cloudwatch: the Event Processor Lambda's metrics)
 */
import { createCloudWatchClient } from '../../common/aws-clients.js';
import type { Config } from '../../common/config.js';
import type { Logger } from '../../common/logger.js';
import type { AlertChannel } from './alert-channel.js';
import { createCloudWatchHealthSource } from './cloudwatch-health-source.js';
import { createProcessorHealthSource, type ProcessorHealthSource } from './processor-health-source.js';
import { createSendGridChannel } from './sendgrid-channel.js';
import { createSlackChannel } from './slack-channel.js';

/** The configured channels; logs each one that is skipped, with the variable to set. */
export function alertChannelsFromConfig(config: Pick<Config, 'monitor'>, logger: Logger): AlertChannel[] {
  const { slack, sendgrid } = config.monitor;
  const channels: AlertChannel[] = [];
  if (slack.botToken) {
    channels.push(
      createSlackChannel({
        botToken: slack.botToken,
        apiUrl: slack.apiUrl,
        ...(slack.defaultChannel ? { defaultChannel: slack.defaultChannel } : {}),
      }),
    );
    if (!slack.defaultChannel) {
      logger.info('monitor: SLACK_DEFAULT_CHANNEL is not set: only experiments with a slackChannel get Slack alerts');
    }
  } else {
    logger.info('monitor: Slack alerts are off (SLACK_BOT_TOKEN is not set); skipped');
  }
  if (sendgrid.apiKey && sendgrid.from) {
    channels.push(createSendGridChannel({ apiKey: sendgrid.apiKey, apiUrl: sendgrid.apiUrl, from: sendgrid.from }));
  } else {
    const missing = sendgrid.apiKey ? 'ALERT_EMAIL_FROM' : 'SENDGRID_API_KEY';
    logger.info(`monitor: email alerts are off (${missing} is not set); skipped`);
  }
  return channels;
}

/**
 * The pipeline-health source: CloudWatch (MONITOR_HEALTH_SOURCE=cloudwatch, the AWS
 * deployment: the SDK's client, credentials from the default chain) or the processors' /metrics endpoints;
 * logs once when neither can say anything.
 */
export function healthSourceFromConfig(
  config: Pick<Config, 'monitor' | 'aws' | 'kinesis'>,
  logger: Logger,
): ProcessorHealthSource {
  if (config.monitor.healthSource === 'cloudwatch') {
    return createCloudWatchHealthSource({
      client: createCloudWatchClient(config, { maxAttempts: 2 }),
      processorFunctionName: config.monitor.processorFunctionName,
      deadLetterStreamName: config.kinesis.dlqStreamName,
      windowMs: config.monitor.deadLetterWindowMs,
    });
  }
  if (config.monitor.processorsMetricsUrls.length === 0) {
    logger.info(
      'monitor: PROCESSORS_METRICS_URLS is not set: dead-letter, lag and STATE_LOST alerts are off; results alerts on',
    );
  }
  return createProcessorHealthSource({ urls: config.monitor.processorsMetricsUrls });
}
