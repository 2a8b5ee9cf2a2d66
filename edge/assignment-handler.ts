/**
 * Assignment Lambda (direct invocation by SDK clients):
 * `{ experimentKey, userId, attributes }` → `{ variantId, inExperiment, reason }`, with the
 * same bucketing as the edge and the query API (common/assignment.ts). Bad requests and
 * failures answer with `{ error: { code, message, retriable, details? } }`, never a crash.
 * Configuration: EXPERIMENTATION_API_URL (and EXPERIMENTATION_API_KEY) through loadConfig.
 */
import Type, { type Static } from 'typebox';
import { assignVariant, type AssignmentReason } from '../common/assignment.js';
import { loadConfig } from '../common/config.js';
import { PipelineError } from '../common/errors.js';
import { EventKey, USER_ID_MAX_LENGTH } from '../common/event-contract.js';
import { createLogger, type Logger } from '../common/logger.js';
import { environmentSecrets } from '../common/secrets/secret-environment.js';
import { definitionClientFromConfig, type DefinitionClient } from '../common/definition-client.js';
import { payloadValidator, toInvocationError, type InvocationError } from './invocation.js';
import { withFunctionUrl } from './function-url.js';

/** User attributes for targeting: any JSON values, at most 100 of them. */
export const UserAttributesSchema = Type.Record(Type.String({ maxLength: 128 }), Type.Unknown(), {
  maxProperties: 100,
});

export const AssignmentRequestSchema = Type.Object(
  {
    experimentKey: EventKey,
    userId: Type.String({ minLength: 1, maxLength: USER_ID_MAX_LENGTH }),
    attributes: Type.Optional(UserAttributesSchema),
  },
  { additionalProperties: false },
);
export type AssignmentRequest = Static<typeof AssignmentRequestSchema>;

export interface AssignmentResponse {
  variantId: string;
  inExperiment: boolean;
  reason: AssignmentReason;
}

const validateRequest = payloadValidator<AssignmentRequest>(AssignmentRequestSchema, 'assignment request');

/**
 * Creates the handler around a definition client.
 *
 * @example
 *   const assign = createAssignmentHandler({ client });
 *   await assign({ experimentKey: 'checkout', userId: 'u-1', attributes: { country: 'US' } });
 */
export function createAssignmentHandler(deps: {
  client: DefinitionClient;
  logger?: Logger;
}): (payload: unknown) => Promise<AssignmentResponse | InvocationError> {
  return async (payload) => {
    try {
      const request = validateRequest(payload);
      const experiment = await deps.client.experiment(request.experimentKey);
      if (experiment === null) {
        throw new PipelineError('NOT_FOUND', `experiment ${JSON.stringify(request.experimentKey)} not found`);
      }
      const { variantId, inExperiment, reason } = assignVariant(experiment, request.userId, request.attributes ?? {});
      return { variantId, inExperiment, reason };
    } catch (error) {
      deps.logger?.warn({ err: error }, 'assignment request failed');
      return toInvocationError(error);
    }
  };
}

let configured: ((payload: unknown) => Promise<AssignmentResponse | InvocationError>) | undefined;

/**
 * Direct invocations and function URL requests: configuration is read once, on the first
 * invocation, with the API key read from Secrets Manager (EXPERIMENTATION_API_KEY_SECRET_ID,
 * re-read when the API refuses it). A failed cold start is answered and retried next time.
 */
export const handler = withFunctionUrl(async (payload: unknown): Promise<AssignmentResponse | InvocationError> => {
  if (configured === undefined) {
    try {
      const secrets = environmentSecrets(process.env);
      const config = loadConfig(await secrets.resolve());
      const logger = createLogger({ level: config.logLevel, name: 'assignment-lambda' });
      configured = createAssignmentHandler({ client: definitionClientFromConfig(config, secrets.apiKey), logger });
    } catch (error) {
      return toInvocationError(error);
    }
  }
  return configured(payload);
});
