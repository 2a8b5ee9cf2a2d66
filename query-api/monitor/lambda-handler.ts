/**
 * The monitor as an AWS Lambda function on an EventBridge schedule (cdk/monitor-job.ts):
 * each invocation is one run (`runOnce`). Configuration, connections and channels are built
 * once per container, on the first invocation.
 *
 * Secrets are read from Secrets Manager at cold start, never from the function's
 * configuration: SLACK_BOT_TOKEN_SECRET_ID → SLACK_BOT_TOKEN and SENDGRID_API_KEY_SECRET_ID →
 * SENDGRID_API_KEY (plain-string secrets, the same the query API's tasks get). PostgreSQL is
 * reached with IAM database authentication (DATABASE_IAM_AUTH), so no password either. A run
 * that fails as a whole rejects, so the invocation is reported as an error (and alarmed on).
 */
import type { ScheduledEvent } from 'aws-lambda';
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createDynamoClient } from '../../common/aws-clients.js';
import { loadConfig } from '../../common/config.js';
import { PipelineError } from '../../common/errors.js';
import { createLogger } from '../../common/logger.js';
import { SECRETS_MANAGER_ENDPOINT_VARIABLE } from '../../common/secrets/secret-environment.js';
import { createDatabase } from '../db/database.js';
import { runMigrations } from '../db/migrations.js';
import { alertChannelsFromConfig, healthSourceFromConfig } from './monitor-from-config.js';
import { createMonitor, monitorSettingsFromConfig, type Monitor, type MonitorRunReport } from './monitor-job.js';

/** `<VARIABLE>_SECRET_ID` (an ARN) → `<VARIABLE>` (the secret's plain string). */
export const MONITOR_SECRET_VARIABLES = ['SLACK_BOT_TOKEN', 'SENDGRID_API_KEY'] as const;

type Environment = Record<string, string | undefined>;

/**
 * A copy of `env` with each configured `*_SECRET_ID` read and put in place of its variable.
 *
 * @example
 *   await resolveMonitorSecrets({ SLACK_BOT_TOKEN_SECRET_ID: arn }, provider) // → { …, SLACK_BOT_TOKEN: 'xoxb-…' }
 */
export async function resolveMonitorSecrets(env: Environment, provider: SecretsProvider): Promise<Environment> {
  const resolved: Environment = { ...env };
  for (const variable of MONITOR_SECRET_VARIABLES) {
    const secretId = env[`${variable}_SECRET_ID`];
    if (!secretId) continue;
    let value: unknown;
    try {
      value = await provider.get(secretId, { maxAge: 300 });
    } catch (error) {
      throw new PipelineError('DEPENDENCY_UNAVAILABLE', `secret ${secretId} could not be read`, { cause: error });
    }
    if (typeof value !== 'string' || value === '') {
      throw new PipelineError('CONFIG_INVALID', `secret ${secretId} (${variable}) has no string value`);
    }
    resolved[variable] = value;
  }
  return resolved;
}

let container: Promise<Monitor> | undefined;

async function createContainerMonitor(env: Environment): Promise<Monitor> {
  const endpoint = env[SECRETS_MANAGER_ENDPOINT_VARIABLE];
  const provider = new SecretsProvider({
    awsSdkV3Client: new SecretsManagerClient({
      region: env.AWS_REGION ?? 'us-east-1',
      maxAttempts: 2,
      ...(endpoint ? { endpoint } : {}),
    }),
  });
  const config = loadConfig(await resolveMonitorSecrets(env, provider));
  const logger = createLogger({ level: config.logLevel, name: 'monitor' });
  const database = createDatabase(config.database);
  await runMigrations(database.writer);
  return createMonitor(monitorSettingsFromConfig(config), {
    database,
    dynamo: createDynamoClient(config),
    channels: alertChannelsFromConfig(config, logger),
    healthSource: healthSourceFromConfig(config, logger),
    logger,
  });
}

/**
 * The Lambda entry point: one monitor run per scheduled event.
 *
 * @example
 *   // cdk: events.Rule({ schedule: Schedule.rate(Duration.minutes(1)) }).addTarget(new LambdaFunction(fn))
 */
export async function handler(_event: ScheduledEvent): Promise<Omit<MonitorRunReport, 'health'>> {
  container ??= createContainerMonitor(process.env).catch((error: unknown) => {
    container = undefined; // a failed cold start must not poison the container
    throw error;
  });
  const report = await (await container).runOnce();
  const { health: _health, ...summary } = report;
  return summary;
}
