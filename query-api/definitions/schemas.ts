/**
 * Request schemas for creating and patching experiments and flags, derived from the
 * shared definitions in common/experiment-definition.ts so the stored shape, the edge's
 * shape and the API docs never drift. Fields with defaults are optional on create.
 */
import Type, { type Static, type TSchema } from 'typebox';
import { EventKey } from '../../common/event-contract.js';
import { ExperimentDefinitionSchema, FlagDefinitionSchema } from '../../common/experiment-definition.js';

const experiment = ExperimentDefinitionSchema.properties;
const flag = FlagDefinitionSchema.properties;

const experimentEditable = {
  name: experiment.name,
  description: experiment.description,
  status: Type.Optional({ ...experiment.status, description: 'Defaults to `draft`.' }),
  variants: experiment.variants,
  controlVariantId: experiment.controlVariantId,
  coverage: Type.Optional({ ...experiment.coverage, description: 'Share of eligible users included; defaults to 1.' }),
  hashSeed: Type.Optional({ ...experiment.hashSeed, description: 'Hash seed; defaults to the key.' }),
  hashVersion: Type.Optional({ ...experiment.hashVersion, description: 'Bucketing hash version; only 2.' }),
  metrics: Type.Optional({ ...experiment.metrics, description: 'Metrics analysed in results; defaults to none.' }),
  segmentDimensions: Type.Optional({
    ...experiment.segmentDimensions,
    description: 'Segment dimensions offered for breakdowns; defaults to none.',
  }),
  targeting: experiment.targeting,
  owners: experiment.owners,
  slackChannel: experiment.slackChannel,
  analysis: experiment.analysis,
};

export const CreateExperimentSchema = Type.Object(
  {
    key: { ...experiment.key, description: 'Experiment key: its id everywhere (events, counters, cookies).' },
    ...experimentEditable,
  },
  { additionalProperties: false },
);
export type CreateExperiment = Static<typeof CreateExperimentSchema>;

/**
 * A removable field of a patch: `null` to remove the stored value, or its schema. `null` comes
 * first: the validator coerces types and tries the alternatives in order, and would read a
 * `null` as `""` for a string field.
 */
const removableOf = <S extends TSchema>(schema: S) =>
  Type.Union([Type.Null({ description: '`null` removes the stored value.' }), schema]);

/**
 * Every field optional, unknown fields rejected, at least one field present. The `removable`
 * fields (optional in the definition) also take `null`, which removes the stored value
 * (applyExperimentPatch / applyFlagPatch); leaving a field out keeps it.
 *
 * @example patchOf({ targeting }, ['targeting']) // accepts { targeting: null }: the rule is removed
 */
function patchOf<T extends Record<string, TSchema>, R extends keyof T & string = never>(
  properties: T,
  removable: readonly R[] = [],
) {
  const optional = Object.fromEntries(
    Object.entries(properties).map(([name, schema]) => [
      name,
      Type.Optional((removable as readonly string[]).includes(name) ? removableOf(schema) : schema),
    ]),
  );
  return Type.Object(
    optional as {
      [K in keyof T]: K extends R
        ? ReturnType<typeof Type.Optional<ReturnType<typeof removableOf<T[K]>>>>
        : ReturnType<typeof Type.Optional<T[K]>>;
    },
    { additionalProperties: false, minProperties: 1 },
  );
}

/** Fields of an experiment a PATCH removes with `null`: every optional field without a default. */
export const REMOVABLE_EXPERIMENT_FIELDS = ['description', 'targeting', 'owners', 'slackChannel', 'analysis'] as const;
/** Fields of a flag a PATCH removes with `null`. */
export const REMOVABLE_FLAG_FIELDS = ['description', 'targeting'] as const;

export const PatchExperimentSchema = patchOf(experimentEditable, REMOVABLE_EXPERIMENT_FIELDS);
export type PatchExperiment = Static<typeof PatchExperimentSchema>;

const flagEditable = {
  description: flag.description,
  enabled: Type.Optional({ ...flag.enabled, description: 'Defaults to false.' }),
  defaultValue: flag.defaultValue,
  value: flag.value,
  rollout: Type.Optional({ ...flag.rollout, description: 'Share of targeted users served `value`; defaults to 1.' }),
  hashSeed: Type.Optional({ ...flag.hashSeed, description: 'Hash seed; defaults to the key.' }),
  targeting: flag.targeting,
};

export const CreateFlagSchema = Type.Object(
  { key: { ...flag.key, description: 'Flag key.' }, ...flagEditable },
  { additionalProperties: false },
);
export type CreateFlag = Static<typeof CreateFlagSchema>;

export const PatchFlagSchema = patchOf(flagEditable, REMOVABLE_FLAG_FIELDS);
export type PatchFlag = Static<typeof PatchFlagSchema>;

export const KeyParams = Type.Object({ key: EventKey }, { additionalProperties: false });

export const ListQuerySchema = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 100, description: 'Page size.' }),
    after: Type.Optional({ ...EventKey, description: 'Return keys after this one (the previous page’s `nextAfter`).' }),
  },
  { additionalProperties: false },
);
