/**
 * Builds the payload GrowthBook SDKs fetch from `GET {apiHost}/api/features/{clientKey}`:
 * `{ features, dateUpdated }`. Pure: definitions in, payload and the list of what was left
 * out (with the reason) out.
 *
 *   running experiment → feature `<key>`: defaultValue = the control's id, one experiment rule
 *     { key, variations: variant ids, weights (normalised, as common/assignment.ts does),
 *       coverage, hashAttribute: "id", hashVersion: 2, seed: hashSeed, condition?, meta, name }
 *   flag               → feature `<key>`: defaultValue; when enabled and rollout > 0 one
 *     force rule { condition?, force: value } plus, for 0 < rollout < 1,
 *     { hashAttribute: "id", seed: hashSeed, hashVersion: 2, range: [0, rollout] }
 *
 * Each mapping reproduces `assignVariant` / `evaluateFlag` exactly in the SDK: the same
 * FNV-1a v2 bucket of (seed, id), the same ranges (GrowthBook's `getBucketRanges` is ours),
 * the targeting rule translated exactly (targeting-to-growthbook-condition.ts). A flag's
 * rollout is a `range`, not `coverage`: SDKs include `n <= coverage` while we include
 * `n < rollout`, and with 4-decimal buckets `n = rollout` happens (0.2 for 1 user in 10,000).
 *
 * Left out, with a reason: experiments or flags whose targeting has no exact translation,
 * experiments with no traffic (weights summing to 0) or another hash version, and an
 * experiment whose key a flag already uses (a payload has one namespace of feature keys;
 * the flag keeps it). Draft and stopped experiments are not served: the SDK then answers
 * its fallback (`getFeatureValue(key, fallback)`); ours answers the control.
 *
 * @example
 *   const { payload, omitted } = buildGrowthBookPayload({ experiments, flags, dateUpdated: new Date() });
 *   // payload.features.checkout.rules[0].weights → [0.5, 0.5]
 */
import type { ExperimentDefinition, FlagDefinition } from '../../common/experiment-definition.js';
import type { TargetingRule } from '../../common/targeting-evaluation.js';
import {
  HASH_ATTRIBUTE,
  translateTargetingRule,
  type GrowthBookCondition,
  type UntranslatableReason,
} from './targeting-to-growthbook-condition.js';

/**
 * Version of this payload's format (what features and rules hold), documented in
 * query-api/README.md. Bump it when the mapping changes what an SDK would assign.
 */
export const SDK_PAYLOAD_FORMAT_VERSION = 1;

/** The only hash version served: what experiments and flags are saved with. */
const SERVED_HASH_VERSION = 2;

export interface GrowthBookExperimentRule {
  id: string;
  key: string;
  name: string;
  variations: string[];
  weights: number[];
  coverage: number;
  hashAttribute: string;
  hashVersion: number;
  seed: string;
  meta: { key: string; name?: string }[];
  condition?: GrowthBookCondition;
}

export interface GrowthBookForceRule {
  id: string;
  force: unknown;
  condition?: GrowthBookCondition;
  hashAttribute?: string;
  hashVersion?: number;
  seed?: string;
  range?: [number, number];
}

export interface GrowthBookFeature {
  defaultValue: unknown;
  rules?: (GrowthBookExperimentRule | GrowthBookForceRule)[];
}

export interface GrowthBookPayload {
  features: Record<string, GrowthBookFeature>;
  /** ISO 8601: the last change of any definition (SDKs use it to tell payloads apart). */
  dateUpdated: string;
}

export type OmissionReason = UntranslatableReason | 'no-traffic' | 'unsupported-hash-version' | 'key-taken-by-flag';

/** A definition left out of the payload, and why. */
export interface OmittedDefinition {
  type: 'experiment' | 'flag';
  key: string;
  reason: OmissionReason;
  /** Where in the definition (e.g. `targeting.and[1].attribute`), when it is one place. */
  path?: string;
  message: string;
}

export interface PayloadInput {
  /** Every experiment; only running ones are served. */
  experiments: readonly ExperimentDefinition[];
  flags: readonly FlagDefinition[];
  dateUpdated: Date;
}

export interface BuiltPayload {
  payload: GrowthBookPayload;
  omitted: OmittedDefinition[];
}

type Condition = { condition?: GrowthBookCondition };

function conditionOf(type: OmittedDefinition['type'], key: string, targeting: unknown): Condition | OmittedDefinition {
  if (targeting === undefined) return {};
  const translation = translateTargetingRule(targeting as TargetingRule);
  if (translation.ok) return { condition: translation.condition };
  return { type, key, reason: translation.reason, path: translation.path, message: translation.message };
}

const isOmission = (value: Condition | OmittedDefinition): value is OmittedDefinition => 'reason' in value;

/** The feature of a flag (always translatable but for its targeting). */
export function flagFeature(flag: FlagDefinition): GrowthBookFeature | OmittedDefinition {
  const condition = conditionOf('flag', flag.key, flag.targeting);
  if (isOmission(condition)) return condition;
  const defaultValue = flag.defaultValue ?? null;
  if (!flag.enabled || flag.rollout <= 0) return { defaultValue };
  const rule: GrowthBookForceRule = { id: `flag:${flag.key}`, ...condition, force: flag.value ?? null };
  if (flag.rollout < 1) {
    Object.assign(rule, {
      hashAttribute: HASH_ATTRIBUTE,
      hashVersion: SERVED_HASH_VERSION,
      seed: flag.hashSeed,
      range: [0, flag.rollout],
    });
  }
  return { defaultValue, rules: [rule] };
}

/** The feature of a running experiment. */
export function experimentFeature(experiment: ExperimentDefinition): GrowthBookFeature | OmittedDefinition {
  const omitted = (reason: OmissionReason, message: string): OmittedDefinition => ({
    type: 'experiment',
    key: experiment.key,
    reason,
    message,
  });
  if (experiment.hashVersion !== SERVED_HASH_VERSION)
    return omitted('unsupported-hash-version', `hashVersion ${String(experiment.hashVersion)} is not served`);
  const total = experiment.variants.reduce((sum, variant) => sum + variant.weight, 0);
  if (!(total > 0)) return omitted('no-traffic', 'the variants’ weights sum to 0: nobody is assigned');
  const condition = conditionOf('experiment', experiment.key, experiment.targeting);
  if (isOmission(condition)) return condition;
  return {
    defaultValue: experiment.controlVariantId,
    rules: [
      {
        id: `experiment:${experiment.key}`,
        key: experiment.key,
        name: experiment.name,
        variations: experiment.variants.map((variant) => variant.id),
        // The same division as experimentRanges (common/assignment.ts), so the ranges are equal to the last bit.
        weights: experiment.variants.map((variant) => variant.weight / total),
        coverage: experiment.coverage,
        hashAttribute: HASH_ATTRIBUTE,
        hashVersion: SERVED_HASH_VERSION,
        seed: experiment.hashSeed,
        ...condition,
        meta: experiment.variants.map((variant) => ({
          key: variant.id,
          ...(variant.name === undefined ? {} : { name: variant.name }),
        })),
      },
    ],
  };
}

/**
 * The payload and what was left out of it, each omission with its reason.
 *
 * @example
 *   buildGrowthBookPayload({ experiments: [], flags: [flag], dateUpdated }).payload.features[flag.key]
 */
export function buildGrowthBookPayload(input: PayloadInput): BuiltPayload {
  const features: Record<string, GrowthBookFeature> = {};
  const omitted: OmittedDefinition[] = [];
  for (const flag of input.flags) {
    const feature = flagFeature(flag);
    if (isOmittedFeature(feature)) omitted.push(feature);
    else features[flag.key] = feature;
  }
  for (const experiment of input.experiments) {
    if (experiment.status !== 'running') continue;
    if (Object.hasOwn(features, experiment.key)) {
      omitted.push({
        type: 'experiment',
        key: experiment.key,
        reason: 'key-taken-by-flag',
        message: `a flag is also named "${experiment.key}"; the payload has one feature per key and serves the flag`,
      });
      continue;
    }
    const feature = experimentFeature(experiment);
    if (isOmittedFeature(feature)) omitted.push(feature);
    else features[experiment.key] = feature;
  }
  return { payload: { features, dateUpdated: input.dateUpdated.toISOString() }, omitted };
}

const isOmittedFeature = (value: GrowthBookFeature | OmittedDefinition): value is OmittedDefinition =>
  'reason' in value;
