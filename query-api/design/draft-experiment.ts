/**
 * AI-assisted experiment design, end to end: hypothesis → Claude (Messages API) → the JSON
 * object in its answer → validation as the definitions routes validate → on failure ONE
 * retry that sends the problems back in the same conversation → the power calculator's
 * sample size for the draft's primary metric. Nothing is saved: the draft is returned for
 * a person to review (and POST to /api/v1/experiments).
 *
 *   hypothesis ─▶ createMessage ─▶ extractJsonObject ─▶ validateDraftAnswer ─ ok ─▶ planSampleSize ─▶ result
 *                     ▲                                        │ problems (first time only)
 *                     └──────── correctionMessage ◀────────────┘
 *
 * Still invalid after the retry: `MODEL_OUTPUT_INVALID` (422) listing the problems. The
 * client's failures (`UPSTREAM_FAILED`, 502) pass through.
 *
 * @example
 *   const result = await draftExperiment(client, { hypothesis: 'A shorter signup form raises signups' }, { validateTargeting });
 *   result.draft.variants // [{ id: 'control', weight: 0.5 }, { id: 'short-form', weight: 0.5 }]
 */
import { isPipelineError, PipelineError } from '../../common/errors.js';
import type { RuleViolation, TargetingValidator } from '../definitions/definition-rules.js';
import type { CreateExperiment } from '../definitions/schemas.js';
import { planSampleSize, type PowerPlan } from '../stats/power-plan.js';
import type { ChatMessage, MessagesClient } from './anthropic-client.js';
import { correctionMessage, designSystemPrompt, designUserMessage, type DesignRequest } from './design-prompt.js';
import { validateDraftAnswer, type DraftPower } from './draft-validation.js';
import { extractJsonObject } from './extract-json.js';

/** Model calls per request: the first answer and one corrected answer. */
export const MAX_DESIGN_ATTEMPTS = 2;
/** Problems listed to the model and in a 422 (an answer can break hundreds of rules). */
export const MAX_LISTED_PROBLEMS = 20;

export interface DesignResult {
  draft: CreateExperiment;
  validation: {
    valid: true;
    /** 1, or 2 when the first answer had to be corrected. */
    attempts: number;
    /** The first answer's problems that the retry fixed (empty when it was valid at once). */
    correctedErrors: RuleViolation[];
    /** Things a reviewer should know before saving (e.g. the key is taken). */
    warnings: string[];
  };
  power: {
    /** The model's estimates; replace them with your own data before trusting the numbers. */
    assumptions: DraftPower & { source: 'model-estimate' };
    plan: PowerPlan;
  };
  model: string;
  rationale: string | null;
}

export interface DraftDeps {
  validateTargeting: TargetingValidator;
  /** Whether an experiment key is already taken (a warning, not an error). */
  keyExists?: (key: string) => Promise<boolean>;
}

/** The problems of one answer text: unparseable JSON is one problem on the whole answer. */
function problemsOf(text: string, deps: DraftDeps) {
  const extracted = extractJsonObject(text);
  if (!extracted.ok) {
    return {
      ok: false as const,
      errors: [
        { field: '(answer)', rule: extracted.problem, message: `${extracted.message}; answer with one JSON object` },
      ],
    };
  }
  const checked = validateDraftAnswer(extracted.value, deps.validateTargeting);
  if (!checked.ok) return checked;
  try {
    return { ...checked, plan: planSampleSize(checked.powerInput) };
  } catch (error) {
    // Only an undetectably small effect gets here (every input rule was checked above).
    if (!(isPipelineError(error) && error.code === 'VALIDATION_FAILED')) throw error;
    const details = Array.isArray(error.details) ? (error.details as RuleViolation[]) : [];
    return {
      ok: false as const,
      errors: details.map((violation) => ({ ...violation, field: `power.${violation.field}` })),
    };
  }
}

/** Runs the design conversation (see the module comment). */
export async function draftExperiment(
  client: MessagesClient,
  request: DesignRequest,
  deps: DraftDeps,
): Promise<DesignResult> {
  const system = designSystemPrompt();
  const messages: ChatMessage[] = [{ role: 'user', content: designUserMessage(request) }];
  let correctedErrors: RuleViolation[] = [];
  for (let attempt = 1; ; attempt++) {
    const reply = await client.createMessage({ system, messages });
    const checked = problemsOf(reply.text, deps);
    if (checked.ok) {
      const warnings: string[] = [];
      if (deps.keyExists && (await deps.keyExists(checked.draft.key))) {
        warnings.push(`an experiment with key "${checked.draft.key}" already exists: change the key before saving`);
      }
      return {
        draft: checked.draft,
        validation: { valid: true, attempts: attempt, correctedErrors, warnings },
        power: {
          assumptions: { ...checked.powerAssumptions, source: 'model-estimate' },
          plan: checked.plan,
        },
        model: reply.model,
        rationale: checked.rationale,
      };
    }
    const errors = checked.errors.slice(0, MAX_LISTED_PROBLEMS);
    if (attempt >= MAX_DESIGN_ATTEMPTS) {
      throw new PipelineError(
        'MODEL_OUTPUT_INVALID',
        `the model's draft is still invalid after ${attempt} attempts: ` +
          errors.map((error) => `${error.field}: ${error.message} (${error.rule})`).join('; '),
        { details: { attempts: attempt, errors, unlisted: checked.errors.length - errors.length } },
      );
    }
    correctedErrors = errors;
    messages.push(
      // The API refuses empty text blocks: an empty answer is sent back as a placeholder.
      { role: 'assistant', content: reply.text.trim() === '' ? '(no answer)' : reply.text },
      { role: 'user', content: correctionMessage(errors) },
    );
  }
}
