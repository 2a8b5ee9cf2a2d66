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
};

export const CreateExperimentSchema = Type.Object(
  {
    key: { ...experiment.key, description: 'Experiment key: its id everywhere (events, counters, cookies).' },
    ...experimentEditable,
  },
  { additionalProperties: false },
);
export type CreateExperiment = Static<typeof CreateExperimentSchema>;

/** Every field optional, unknown fields rejected, at least one field present. */
function patchOf<T extends Record<string, TSchema>>(properties: T) {
  const optional = Object.fromEntries(
    Object.entries(properties).map(([name, schema]) => [name, Type.Optional(schema)]),
  );
  return Type.Object(optional as { [K in keyof T]: ReturnType<typeof Type.Optional<T[K]>> }, {
    additionalProperties: false,
    minProperties: 1,
  });
}

export const PatchExperimentSchema = patchOf(experimentEditable);
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

export const PatchFlagSchema = patchOf(flagEditable);
export type PatchFlag = Static<typeof PatchFlagSchema>;

export const KeyParams = Type.Object({ key: EventKey }, { additionalProperties: false });

export const ListQuerySchema = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 100, description: 'Page size.' }),
    after: Type.Optional({ ...EventKey, description: 'Return keys after this one (the previous page’s `nextAfter`).' }),
  },
  { additionalProperties: false },
);
