/**
 * POST /api/v1/experiments/design: a plain-words hypothesis (and optionally the page or
 * feature flag it concerns) → a draft experiment definition from Claude, validated as the
 * definitions routes validate, with the power calculator's sample size. Nothing is saved.
 *
 *   200 { draft, validation, power, model, rationale }   the draft, valid (maybe after one retry)
 *   400 VALIDATION_FAILED       the request body (field and rule named)
 *   422 MODEL_OUTPUT_INVALID    the model's draft was still invalid after the retry (details: errors)
 *   502 UPSTREAM_FAILED         the Messages API failed (after retries on 429/5xx)
 *   503 FEATURE_NOT_CONFIGURED  ANTHROPIC_API_KEY is not set
 *
 * Write access, and at most DESIGN_REQUESTS_PER_MINUTE per caller: each call spends the
 * deployment's Anthropic credit.
 */
import Type from 'typebox';
import type { Config } from '../../common/config.js';
import { PipelineError } from '../../common/errors.js';
import { EventKey } from '../../common/event-contract.js';
import type { Logger } from '../../common/logger.js';
import type { QueryApiContext, QueryApiInstance } from '../context.js';
import { CreateExperimentSchema } from '../definitions/schemas.js';
import { createAnthropicClient, type MessagesClient } from '../design/anthropic-client.js';
import { draftExperiment } from '../design/draft-experiment.js';
import { AUTHENTICATED, ERROR_RESPONSES } from './http-schemas.js';
import { PowerPlanSchema } from './power-routes.js';

/**
 * Drafts one caller may ask for per minute (on top of the service-wide limit): each one
 * spends model tokens, so a runaway script costs at most this many calls a minute.
 */
export const DESIGN_REQUESTS_PER_MINUTE = 10;

const DesignRequestSchema = Type.Object(
  {
    hypothesis: Type.String({
      minLength: 10,
      maxLength: 2000,
      description: 'The hypothesis in plain words, e.g. "Showing trust badges at checkout raises purchases".',
    }),
    page: Type.Optional(
      Type.String({ minLength: 1, maxLength: 2048, description: 'The page it concerns: a path or an https URL.' }),
    ),
    flag: Type.Optional({ ...EventKey, description: 'The feature flag it concerns (its description is sent along).' }),
  },
  { additionalProperties: false },
);

const RuleViolationSchema = Type.Object({ field: Type.String(), rule: Type.String(), message: Type.String() });

const DesignResponseSchema = Type.Object({
  draft: { ...CreateExperimentSchema, description: 'An experiment create request (`status: "draft"`), not saved.' },
  validation: Type.Object({
    valid: Type.Boolean(),
    attempts: Type.Integer({ description: 'Model calls: 2 when the first draft had to be corrected.' }),
    correctedErrors: Type.Array(RuleViolationSchema, {
      description: "The first draft's problems, fixed by the retry.",
    }),
    warnings: Type.Array(Type.String()),
  }),
  power: Type.Object({
    assumptions: Type.Object(
      {
        metricKey: Type.String(),
        baseline: Type.Number(),
        variance: Type.Optional(Type.Number()),
        minimumDetectableEffect: Type.Number(),
        dailyTraffic: Type.Optional(Type.Number()),
        source: Type.String({ description: '`model-estimate`: check these against your own data.' }),
      },
      { description: "The model's estimates behind the sample size." },
    ),
    plan: PowerPlanSchema,
  }),
  model: Type.String({ description: 'The model that drafted it.' }),
  rationale: Type.Union([Type.String(), Type.Null()]),
});

/**
 * The Messages API client the configuration asks for, or undefined when ANTHROPIC_API_KEY
 * is not set (the route then answers 503). Retries are logged.
 */
export function designClientFromConfig(anthropic: Config['anthropic'], logger: Logger): MessagesClient | undefined {
  if (!anthropic.apiKey) return undefined;
  return createAnthropicClient({
    apiKey: anthropic.apiKey,
    apiUrl: anthropic.apiUrl,
    model: anthropic.model,
    onRetry: (error, attempt, delayMs) =>
      logger.warn({ err: error, attempt, delayMs }, 'Anthropic Messages API call failed; retrying'),
  });
}

/** Registers POST /api/v1/experiments/design; `client` undefined: the route answers 503. */
export function registerDesignRoutes(
  app: QueryApiInstance,
  context: QueryApiContext,
  client: MessagesClient | undefined,
): void {
  app.post(
    '/api/v1/experiments/design',
    {
      config: { access: 'write', rateLimit: { max: DESIGN_REQUESTS_PER_MINUTE, timeWindow: 60_000 } },
      schema: {
        tags: ['experiments'],
        summary: 'Draft an experiment from a hypothesis (AI-assisted, not saved)',
        description:
          'Asks Claude (Anthropic Messages API) for an experiment definition, validates it as POST ' +
          '/api/v1/experiments would (one retry with the problems), attaches the power calculator’s sample ' +
          'size for its primary metric, and returns it unsaved for review. 503 when ANTHROPIC_API_KEY is unset.',
        security: AUTHENTICATED,
        body: DesignRequestSchema,
        response: { 200: DesignResponseSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      if (!client) {
        throw new PipelineError(
          'FEATURE_NOT_CONFIGURED',
          'AI-assisted design is off: set ANTHROPIC_API_KEY (and optionally ANTHROPIC_MODEL) to enable it',
        );
      }
      const { hypothesis, page, flag } = request.body;
      const flagDefinition = flag === undefined ? undefined : await context.flags.get(flag);
      return draftExperiment(
        client,
        {
          hypothesis,
          ...(page === undefined ? {} : { page }),
          ...(flag === undefined
            ? {}
            : {
                flag: {
                  key: flag,
                  ...(flagDefinition?.definition.description
                    ? { description: flagDefinition.definition.description }
                    : {}),
                },
              }),
        },
        {
          validateTargeting: context.validateTargeting,
          keyExists: async (key) => (await context.experiments.get(key)) !== undefined,
        },
      );
    },
  );
}
