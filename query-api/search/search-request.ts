/**
 * The typed ad-hoc search request and its translation into an OpenSearch aggregation
 * (pure). Field names never come from raw input: filters and groupings name fields from
 * a fixed allow-list, plus `segments.<dimension>` for dimensions the experiment declares;
 * each maps to a document field in `DOCUMENT_FIELDS`.
 */
import Type, { type Static } from 'typebox';
import { EventKey, EventType } from '../../common/event-contract.js';
import { PipelineError } from '../../common/errors.js';

/** Fields of the indexed events (the stream event, keyword-mapped) a caller may filter and group by. */
export const DOCUMENT_FIELDS = {
  variantId: 'variantId',
  type: 'type',
  metric: 'metric',
} as const;
const SEGMENT_PREFIX = 'segments.';
export const TIMESTAMP_FIELD = 'timestamp';
export const USER_FIELD = 'userId';
export const VALUE_FIELD = 'value';

const FieldName = Type.String({
  pattern: `^(${Object.keys(DOCUMENT_FIELDS).join('|')}|segments\\.[A-Za-z0-9][A-Za-z0-9_.:-]{0,63})$`,
  description: '`variantId`, `type`, `metric`, or `segments.<dimension>` for a dimension the experiment declares.',
});

export const SearchRequestSchema = Type.Object(
  {
    experimentId: EventKey,
    from: Type.String({ format: 'date-time', description: 'Start of the time range (event time), inclusive.' }),
    to: Type.String({ format: 'date-time', description: 'End of the time range, exclusive.' }),
    eventType: Type.Optional({ ...EventType, description: 'Only impressions or only conversions.' }),
    filters: Type.Array(
      Type.Object(
        {
          field: FieldName,
          values: Type.Array(Type.String({ minLength: 1, maxLength: 128 }), {
            minItems: 1,
            maxItems: 50,
            description: 'The field must equal one of these.',
          }),
        },
        { additionalProperties: false },
      ),
      { maxItems: 10, default: [], description: 'All filters must match (AND); values within one filter are OR.' },
    ),
    groupBy: Type.Array(FieldName, { maxItems: 2, default: [], description: 'Up to two fields to group by.' }),
    metric: Type.Object(
      {
        op: Type.Enum(['count', 'uniqueUsers', 'sum', 'avg'], {
          description: '`count` events, approximate `uniqueUsers`, or `sum`/`avg` of the event value.',
        }),
        metricKey: Type.Optional({ ...EventKey, description: 'Restrict to conversions of this metric.' }),
      },
      { additionalProperties: false },
    ),
    size: Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'Buckets per grouping level.' }),
  },
  { additionalProperties: false },
);
export type SearchRequest = Static<typeof SearchRequestSchema>;

export const SearchResponseSchema = Type.Object({
  experimentId: EventKey,
  totalEvents: Type.Integer({ description: 'Events matching the filters.' }),
  value: Type.Union([Type.Number(), Type.Null()], { description: 'The metric over all matching events.' }),
  groups: Type.Array(
    Type.Object({
      keys: Type.Record(Type.String(), Type.String(), { description: 'Group field → value.' }),
      events: Type.Integer(),
      value: Type.Union([Type.Number(), Type.Null()], { description: 'The metric in this group.' }),
    }),
    { description: 'One row per group (nested groups flattened); empty without groupBy.' },
  ),
  tookMs: Type.Integer({ description: 'OpenSearch query time.' }),
});
export type SearchResponse = Static<typeof SearchResponseSchema>;

/** Resolves a requested field to its document field, or throws naming the field. */
export function documentFieldOf(field: string, declaredDimensions: readonly string[], where: string): string {
  if (field in DOCUMENT_FIELDS) return DOCUMENT_FIELDS[field as keyof typeof DOCUMENT_FIELDS];
  const dimension = field.startsWith(SEGMENT_PREFIX) ? field.slice(SEGMENT_PREFIX.length) : undefined;
  if (dimension !== undefined && declaredDimensions.includes(dimension)) return `${SEGMENT_PREFIX}${dimension}`;
  throw new PipelineError('VALIDATION_FAILED', `${where}: "${field}" is not a searchable field`, {
    details: [
      { field: where, rule: 'allowedField', message: `allowed: ${allowedFields(declaredDimensions).join(', ')}` },
    ],
  });
}

const allowedFields = (dimensions: readonly string[]) => [
  ...Object.keys(DOCUMENT_FIELDS),
  ...dimensions.map((dimension) => `${SEGMENT_PREFIX}${dimension}`),
];

const METRIC_AGGREGATIONS = {
  count: undefined,
  uniqueUsers: { cardinality: { field: USER_FIELD, precision_threshold: 40_000 } },
  sum: { sum: { field: VALUE_FIELD } },
  avg: { avg: { field: VALUE_FIELD } },
} as const;

/** Builds the OpenSearch `_search` body for a validated request. */
export function buildSearchBody(
  request: SearchRequest,
  declaredDimensions: readonly string[],
): Record<string, unknown> {
  const from = Date.parse(request.from);
  const to = Date.parse(request.to);
  if (!(to > from)) {
    throw new PipelineError('VALIDATION_FAILED', 'to: must be after from', {
      details: [{ field: 'to', rule: 'afterFrom', message: 'must be after from' }],
    });
  }
  const filter: unknown[] = [
    { term: { experimentId: request.experimentId } },
    { range: { [TIMESTAMP_FIELD]: { gte: from, lt: to, format: 'epoch_millis' } } },
  ];
  if (request.eventType) filter.push({ term: { [DOCUMENT_FIELDS.type]: request.eventType } });
  if (request.metric.metricKey) filter.push({ term: { [DOCUMENT_FIELDS.metric]: request.metric.metricKey } });
  request.filters.forEach((item, i) => {
    filter.push({ terms: { [documentFieldOf(item.field, declaredDimensions, `filters.${i}.field`)]: item.values } });
  });
  const valueAggregation = METRIC_AGGREGATIONS[request.metric.op];
  const leaf = valueAggregation ? { value: valueAggregation } : undefined;
  let aggs: Record<string, unknown> | undefined = leaf;
  // Innermost grouping first, so the outer `terms` wraps the inner one.
  for (let level = request.groupBy.length - 1; level >= 0; level--) {
    const field = documentFieldOf(request.groupBy[level]!, declaredDimensions, `groupBy.${level}`);
    aggs = { [`group${level}`]: { terms: { field, size: request.size }, ...(aggs ? { aggs } : {}) } };
  }
  return {
    size: 0,
    track_total_hits: true,
    query: { bool: { filter } },
    aggs: { ...(leaf ?? {}), ...(request.groupBy.length > 0 ? aggs : {}) },
  };
}

interface Bucket {
  key: string | number;
  key_as_string?: string;
  doc_count: number;
  value?: { value: number | null };
  [group: string]: unknown;
}

/** Flattens an OpenSearch aggregation response into the API's rows. */
export function readSearchResponse(
  request: SearchRequest,
  body: { took?: number; hits?: { total?: { value: number } | number }; aggregations?: Record<string, unknown> },
): SearchResponse {
  const total = typeof body.hits?.total === 'number' ? body.hits.total : (body.hits?.total?.value ?? 0);
  const aggregations = body.aggregations ?? {};
  const valueOf = (node: { value?: { value: number | null } }, events: number) =>
    request.metric.op === 'count' ? events : (node.value?.value ?? null);
  const groups: SearchResponse['groups'] = [];
  const walk = (node: Record<string, unknown>, level: number, keys: Record<string, string>) => {
    const buckets = (node[`group${level}`] as { buckets?: Bucket[] } | undefined)?.buckets ?? [];
    for (const bucket of buckets) {
      const nextKeys = { ...keys, [request.groupBy[level]!]: bucket.key_as_string ?? String(bucket.key) };
      if (level + 1 < request.groupBy.length) walk(bucket, level + 1, nextKeys);
      else groups.push({ keys: nextKeys, events: bucket.doc_count, value: valueOf(bucket, bucket.doc_count) });
    }
  };
  if (request.groupBy.length > 0) walk(aggregations, 0, {});
  return {
    experimentId: request.experimentId,
    totalEvents: total,
    value: valueOf(aggregations, total),
    groups,
    tookMs: body.took ?? 0,
  };
}
