/**
 * Assignment of users to experiment variants and evaluation of feature flags: the one pure
 * core behind the edge split-URL function, the Assignment and Flag Evaluation Lambdas and
 * the SDK-facing APIs, so a user lands in the same variant everywhere.
 *
 * Type-only imports from the definitions keep this module free of TypeBox at run time (the
 * edge bundle imports it).
 */
import type { ExperimentDefinition, FlagDefinition } from './experiment-definition.js';
import { bucketRanges, chooseVariant, hashToBucket, inRange, type BucketRange } from './hashing.js';
import { evaluateTargetingRule, type TargetingRule, type UserAttributes } from './targeting-evaluation.js';

/** Why a user got what they got; stable strings, safe to log and to return to SDKs. */
export type AssignmentReason =
  'assigned' | 'not-running' | 'missing-user-id' | 'not-targeted' | 'outside-coverage' | 'unsupported-hash-version';

export interface Assignment {
  /** The variant to show. Users not in the experiment get the control variant. */
  variantId: string;
  /** True only when the user was bucketed into a variant (and should be counted). */
  inExperiment: boolean;
  reason: AssignmentReason;
  /** The user's bucket in [0, 1) when one was computed. */
  bucket?: number;
}

/** The fields assignment reads; the edge passes a lightly checked copy of the definition. */
export type AssignableExperiment = Pick<
  ExperimentDefinition,
  'status' | 'variants' | 'controlVariantId' | 'coverage' | 'hashSeed'
> & { hashVersion: number; targeting?: unknown };

/**
 * Variant weights are relative (the definition says so); GrowthBook's ranges expect weights
 * summing to 1, so they are normalised first. Ranges for the same weights and a higher
 * coverage only grow, which is what keeps assigned users in place when traffic is added.
 */
export function experimentRanges(experiment: AssignableExperiment): BucketRange[] {
  const total = experiment.variants.reduce((sum, variant) => sum + variant.weight, 0);
  if (!(total > 0)) return experiment.variants.map(() => [0, 0] as const);
  const weights = experiment.variants.map((variant) => variant.weight / total);
  return bucketRanges(experiment.variants.length, experiment.coverage, weights);
}

/** True when `variantId` names a current variant (cookies naming removed variants are ignored). */
export function isCurrentVariant(experiment: Pick<ExperimentDefinition, 'variants'>, variantId: string): boolean {
  return experiment.variants.some((variant) => variant.id === variantId);
}

/**
 * Assigns `userId` to a variant: running status, then targeting, then the v2 hash of
 * (hashSeed, userId) against the weight × coverage ranges.
 *
 * @example
 *   assignVariant(experiment, 'u-123', { country: 'US' })
 *   // { variantId: 'treatment', inExperiment: true, reason: 'assigned', bucket: 0.6172 }
 */
export function assignVariant(
  experiment: AssignableExperiment,
  userId: string,
  attributes: UserAttributes = {},
  ranges: readonly BucketRange[] = experimentRanges(experiment),
): Assignment {
  const control = experiment.controlVariantId;
  if (experiment.status !== 'running') return { variantId: control, inExperiment: false, reason: 'not-running' };
  if (userId.length === 0) return { variantId: control, inExperiment: false, reason: 'missing-user-id' };
  if (experiment.targeting !== undefined && !evaluateTargetingRule(experiment.targeting as TargetingRule, attributes)) {
    return { variantId: control, inExperiment: false, reason: 'not-targeted' };
  }
  const bucket = hashToBucket(experiment.hashSeed, userId, experiment.hashVersion);
  if (bucket === null) return { variantId: control, inExperiment: false, reason: 'unsupported-hash-version' };
  const index = chooseVariant(bucket, ranges);
  const variant = experiment.variants[index];
  if (variant === undefined) return { variantId: control, inExperiment: false, reason: 'outside-coverage', bucket };
  return { variantId: variant.id, inExperiment: true, reason: 'assigned', bucket };
}

export type FlagReason = 'disabled' | 'not-targeted' | 'missing-user-id' | 'outside-rollout' | 'in-rollout';

export interface FlagEvaluation {
  value: unknown;
  reason: FlagReason;
}

/** Flags hash with the same v2 scheme as experiments, seeded by the flag's own seed. */
const FLAG_HASH_VERSION = 2;

/**
 * Evaluates a feature flag: off → default; not targeted → default; then the user is in the
 * rollout when their bucket is in [0, rollout). Raising the rollout only adds users.
 *
 * @example
 *   evaluateFlag({ key: 'new-nav', enabled: true, defaultValue: false, value: true, rollout: 0.2, hashSeed: 'new-nav' }, 'u-1')
 *   // { value: true, reason: 'in-rollout' } for about 20 % of users
 */
export function evaluateFlag(flag: FlagDefinition, userId: string, attributes: UserAttributes = {}): FlagEvaluation {
  if (!flag.enabled) return { value: flag.defaultValue, reason: 'disabled' };
  if (flag.targeting !== undefined && !evaluateTargetingRule(flag.targeting, attributes)) {
    return { value: flag.defaultValue, reason: 'not-targeted' };
  }
  if (flag.rollout >= 1) return { value: flag.value, reason: 'in-rollout' };
  if (flag.rollout <= 0) return { value: flag.defaultValue, reason: 'outside-rollout' };
  if (userId.length === 0) return { value: flag.defaultValue, reason: 'missing-user-id' };
  const bucket = hashToBucket(flag.hashSeed, userId, FLAG_HASH_VERSION) ?? 1;
  return inRange(bucket, [0, flag.rollout])
    ? { value: flag.value, reason: 'in-rollout' }
    : { value: flag.defaultValue, reason: 'outside-rollout' };
}
