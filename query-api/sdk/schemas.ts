/**
 * Request and response schemas of the SDK routes (sdk-routes.ts): SDK connections, the
 * GrowthBook payload and its report. One source for validation, serialization and /docs.
 */
import Type, { type Static } from 'typebox';

const Label = (description: string) =>
  Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9][A-Za-z0-9 _.:-]*$', description });

export const CreateSdkConnectionSchema = Type.Object(
  {
    environment: Label('Environment label, e.g. `production`; every environment is served the same definitions.'),
    name: Type.Optional(Label('What uses the key, e.g. `web-storefront`; defaults to the environment.')),
  },
  { additionalProperties: false },
);
export type CreateSdkConnection = Static<typeof CreateSdkConnectionSchema>;

export const SdkConnectionIdParams = Type.Object(
  { id: Type.String({ format: 'uuid', description: 'The connection id (`id` of the create answer).' }) },
  { additionalProperties: false },
);
export type SdkConnectionId = Static<typeof SdkConnectionIdParams>;

export const ClientKeyParams = Type.Object(
  {
    clientKey: Type.String({
      minLength: 1,
      maxLength: 200,
      description: 'The connection’s client key, `sdk-` and 16–64 url-safe characters.',
    }),
  },
  { additionalProperties: false },
);
export type ClientKey = Static<typeof ClientKeyParams>;

export const SdkConnectionSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    environment: Type.String(),
    clientKey: Type.String({ description: 'Public identifier: put it in web pages and apps (`clientKey`).' }),
    featuresPath: Type.String({ description: 'Where SDKs fetch the payload, relative to the API host.' }),
    createdAt: Type.String({ format: 'date-time' }),
    rotatedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { additionalProperties: false },
);

export const SdkConnectionListSchema = Type.Object({ items: Type.Array(SdkConnectionSchema) });

const OmittedSchema = Type.Object({
  type: Type.Enum(['experiment', 'flag']),
  key: Type.String(),
  reason: Type.String({
    description:
      '`dotted-attribute`, `reserved-attribute`, `hash-attribute`, `empty-combinator`, `unknown-rule` (targeting ' +
      'without an exact GrowthBook condition), `no-traffic`, `unsupported-hash-version`, `key-taken-by-flag`.',
  }),
  path: Type.Optional(Type.String()),
  message: Type.String(),
});

export const PayloadReportSchema = Type.Object({
  connectionId: Type.String(),
  clientKey: Type.String(),
  environment: Type.String(),
  formatVersion: Type.Integer({ description: 'Version of the payload format (query-api/README.md).' }),
  dateUpdated: Type.String({ format: 'date-time' }),
  features: Type.Array(
    Type.Object({ key: Type.String(), kind: Type.Enum(['experiment', 'flag']), rules: Type.Integer() }),
  ),
  omitted: Type.Array(OmittedSchema),
});

/** The payload, documented loosely: its exact format is GrowthBook's (query-api/README.md). */
export const GrowthBookPayloadSchema = Type.Object(
  {
    features: Type.Record(Type.String(), Type.Unknown()),
    dateUpdated: Type.String({ format: 'date-time' }),
  },
  { description: 'GrowthBook SDK payload `{ features, dateUpdated }`' },
);
