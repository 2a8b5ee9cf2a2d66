/**
 * Flag Evaluation Lambda (direct invocation by SDK clients):
 * `{ flagKey, userId, attributes }` → `{ value, reason }`, with the same hashing as
 * experiments (common/assignment.ts `evaluateFlag`). Failures answer with
 * `{ error: { code, message, retriable, details? } }`, never a crash.
 * Configuration: EXPERIMENTATION_API_URL (and EXPERIMENTATION_API_KEY) through loadConfig.
 */
import Type, { type Static } from 'typebox';
import { evaluateFlag, type FlagEvaluation } from '../common/assignment.js';
import { loadConfig } from '../common/config.js';
import { PipelineError } from '../common/errors.js';
import { EventKey, USER_ID_MAX_LENGTH } from '../common/event-contract.js';
import { createLogger, type Logger } from '../common/logger.js';
import { UserAttributesSchema } from './assignment-handler.js';
import { environmentSecrets } from '../common/secrets/secret-environment.js';
import { definitionClientFromConfig, type DefinitionClient } from '../common/definition-client.js';
import { payloadValidator, toInvocationError, type InvocationError } from './invocation.js';
import { withFunctionUrl } from './function-url.js';

export const FlagEvaluationRequestSchema = Type.Object(
  {
    flagKey: EventKey,
    userId: Type.String({ minLength: 1, maxLength: USER_ID_MAX_LENGTH }),
    attributes: Type.Optional(UserAttributesSchema),
  },
  { additionalProperties: false },
);
export type FlagEvaluationRequest = Static<typeof FlagEvaluationRequestSchema>;

const validateRequest = payloadValidator<FlagEvaluationRequest>(FlagEvaluationRequestSchema, 'flag evaluation request');

/**
 * Creates the handler around a definition client.
 *
 * @example
 *   const evaluate = createFlagEvaluationHandler({ client });
 *   await evaluate({ flagKey: 'new-nav', userId: 'u-1' }); // { value: true, reason: 'in-rollout' }
 */
export function createFlagEvaluationHandler(deps: {
  client: DefinitionClient;
  logger?: Logger;
}): (payload: unknown) => Promise<FlagEvaluation | InvocationError> {
  return async (payload) => {
    try {
      const request = validateRequest(payload);
      const flag = await deps.client.flag(request.flagKey);
      if (flag === null) throw new PipelineError('NOT_FOUND', `flag ${JSON.stringify(request.flagKey)} not found`);
      return evaluateFlag(flag, request.userId, request.attributes ?? {});
    } catch (error) {
      deps.logger?.warn({ err: error }, 'flag evaluation request failed');
      return toInvocationError(error);
    }
  };
}

let configured: ((payload: unknown) => Promise<FlagEvaluation | InvocationError>) | undefined;

/**
 * Direct invocations and function URL requests: configuration is read once, on the first
 * invocation, with the API key read from Secrets Manager (EXPERIMENTATION_API_KEY_SECRET_ID,
 * re-read when the API refuses it). A failed cold start is answered and retried next time.
 */
export const handler = withFunctionUrl(async (payload: unknown): Promise<FlagEvaluation | InvocationError> => {
  if (configured === undefined) {
    try {
      const secrets = environmentSecrets(process.env);
      const config = loadConfig(await secrets.resolve());
      const logger = createLogger({ level: config.logLevel, name: 'flag-evaluation-lambda' });
      configured = createFlagEvaluationHandler({ client: definitionClientFromConfig(config, secrets.apiKey), logger });
    } catch (error) {
      return toInvocationError(error);
    }
  }
  return configured(payload);
});
