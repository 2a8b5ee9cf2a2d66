/**
 * The Event Processor Lambda (Kinesis event source mapping, batch size 100, bisect on
 * error, ReportBatchItemFailures). Configuration is read once per container, on the first
 * invocation, and the pipeline (clients, sinks, state connections) is reused by every
 * invocation that container serves.
 *
 * Returns `{ batchItemFailures: [{ itemIdentifier: <sequenceNumber> }] }` naming the first
 * record not finished, so retries and bisection resume there.
 *
 * The state store's password is read from Secrets Manager at cold start
 * (STATE_REDIS_PASSWORD_SECRET_ID, common/secrets); when the store refuses it (rotated), the
 * container's pipeline is dropped and the next invocation builds it with the secret read again.
 * The definitions API key (PROCESSOR_DEFINITIONS_API_KEY_SECRET_ID) is read the same way, and
 * re-read by the definitions client itself when the query API refuses it.
 */
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { loadConfig } from '../common/config.js';
import { environmentSecrets, isCredentialRefused } from '../common/secrets/secret-environment.js';
import { createKinesisBatchHandler, type KinesisBatchHandler } from './lambda/batch-handler.js';
import { createPipelineFromConfig } from './pipeline-from-config.js';

let containerHandler: Promise<KinesisBatchHandler> | undefined;
const secrets = environmentSecrets(process.env);
let refreshSecrets = false;

async function createContainerHandler(): Promise<KinesisBatchHandler> {
  const env = await secrets.resolve({ refresh: refreshSecrets });
  refreshSecrets = false;
  const runtime = await createPipelineFromConfig(loadConfig(env), {
    ...(secrets.definitionsApiKey ? { definitionsApiKey: secrets.definitionsApiKey } : {}),
  });
  return createKinesisBatchHandler(runtime.pipeline, runtime.logger);
}

/** After a refused credential, the next cold start reads the secrets again. */
function forgetContainer(error: unknown): void {
  containerHandler = undefined;
  if (isCredentialRefused(error)) refreshSecrets = true;
}

/**
 * The Lambda entry point.
 *
 * @example
 *   // cdk: new lambda.Function(this, 'EventProcessor', { handler: 'lambda-handler.handler', … })
 */
export async function handler(event: KinesisStreamEvent): Promise<KinesisStreamBatchResponse> {
  containerHandler ??= createContainerHandler().catch((error: unknown) => {
    forgetContainer(error); // a failed cold start must not poison the container for good
    throw error;
  });
  try {
    return await (
      await containerHandler
    )(event);
  } catch (error) {
    if (isCredentialRefused(error)) forgetContainer(error);
    throw error;
  }
}
