/**
 * What Claude is told when it drafts an experiment: the system prompt (the answer's JSON
 * shape, the experiment create schema the definitions routes enforce, the rules JSON Schema
 * cannot say), the user's hypothesis, and — on the one retry — the validation errors of
 * its previous answer. Pure text building; the schema comes from the same TypeBox object
 * the routes validate with, so prompt and validation cannot drift.
 */
import { CreateExperimentSchema } from '../definitions/schemas.js';
import type { RuleViolation } from '../definitions/definition-rules.js';

/** The experiment create schema as the model sees it: targeting left out (the draft has none). */
function promptSchema(): string {
  const { targeting: _omitted, ...properties } = CreateExperimentSchema.properties;
  return JSON.stringify({ ...CreateExperimentSchema, properties });
}

/**
 * The system prompt: answer with one JSON object `{ experiment, power, rationale }`.
 *
 * @example designSystemPrompt().includes('"experiment"') // true
 */
export function designSystemPrompt(): string {
  return [
    'You design A/B experiments for an experimentation platform. From a hypothesis, draft one experiment',
    'definition that a person will review before saving it. Answer with ONE JSON object and nothing else:',
    '',
    '{',
    '  "experiment": { …an experiment create request, valid against the JSON Schema below… },',
    '  "power": {',
    '    "metricKey": "<the key of the primary metric, one of experiment.metrics>",',
    '    "baseline": <expected control value: a conversion rate in (0, 1) for a binomial metric, a per-user mean otherwise>,',
    '    "variance": <per-user variance; only for a mean metric, omit for binomial>,',
    '    "minimumDetectableEffect": <smallest relative change worth detecting, e.g. 0.05 for +5%>,',
    '    "dailyTraffic": <your estimate of users entering the experiment per day, optional>',
    '  },',
    '  "rationale": "<two or three sentences: why these variants and metrics, where the baseline comes from>"',
    '}',
    '',
    'Rules for "experiment":',
    '- key: short, lower-case, hyphenated, starting with a letter or digit (e.g. "checkout-trust-badges").',
    '- variants: 2 to 4; ids lower-case like "control", "treatment"; weights between 0 and 1 summing to exactly 1.',
    '- controlVariantId: the id of the control variant.',
    '- metrics: 1 to 5; the primary metric first; type "binomial" for a yes/no conversion, "mean" for a per-user',
    '  amount; lowerIsBetter true only when a decrease is an improvement (e.g. latency, cancellations).',
    '- Include segmentDimensions only from: country, device, browser, platform.',
    '- Do not include status, hashSeed, hashVersion or targeting. Give a variant a "url" only for split-URL tests',
    '  (an absolute path such as "/landing-b").',
    '',
    'JSON Schema of "experiment":',
    promptSchema(),
  ].join('\n');
}

export interface DesignRequest {
  hypothesis: string;
  /** The page the hypothesis concerns (a path or URL). */
  page?: string;
  /** The feature flag it concerns, with its description when the flag exists. */
  flag?: { key: string; description?: string };
}

/**
 * The first user message: the hypothesis and its context.
 *
 * @example designUserMessage({ hypothesis: 'Trust badges raise checkout conversion', page: '/checkout' })
 */
export function designUserMessage(request: DesignRequest): string {
  const lines = [`Hypothesis: ${request.hypothesis}`];
  if (request.page) lines.push(`Page: ${request.page}`);
  if (request.flag) {
    lines.push(`Feature flag: ${request.flag.key}${request.flag.description ? ` (${request.flag.description})` : ''}`);
  }
  lines.push('', 'Answer with the JSON object only.');
  return lines.join('\n');
}

/**
 * The retry message: the previous answer's problems, one per line, and the instruction to
 * answer again in full.
 *
 * @example correctionMessage([{ field: 'experiment.variants', rule: 'weightsSumToOne', message: '…' }])
 */
export function correctionMessage(errors: readonly RuleViolation[]): string {
  return [
    'Your answer is not valid. Problems (field: message (rule)):',
    ...errors.map((error) => `- ${error.field}: ${error.message} (${error.rule})`),
    '',
    'Answer again with the complete corrected JSON object only.',
  ].join('\n');
}
