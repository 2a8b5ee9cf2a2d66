/**
 * Results and breakdowns of one experiment: loads the definition (PostgreSQL), reads
 * only the counter cells the answer needs (read-counters.ts), and hands both to the pure
 * assembly. Routes add caching and serialization on top.
 *
 *   results                 the total cells of the declared variants × ($exposure + metrics), by key
 *   breakdown of `a`        every total cell (the add-up check covers them all) + the cells of `a`
 *   breakdown of `a` by `b` every total cell + the pair cells of `a+b`
 *
 * `lastEventAt` is the latest over the cells read: for the results, over the declared
 * total cells (each event updates its total cell), so events of undeclared metrics or
 * variants do not move it.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EXPOSURE_METRIC, encodeCellKey } from '../../common/counter-layout.js';
import { PipelineError } from '../../common/errors.js';
import type { ExperimentDefinition } from '../../common/experiment-definition.js';
import type { StoredDefinition } from '../definitions/definition-store.js';
import { buildBreakdown, segmentDimensionOf, type Breakdown, type BreakdownRequest } from './segment-breakdown.js';
import { resolveAnalysisSettings, type AnalysisOptions, type AnalysisSettings } from './analysis-settings.js';
import { assembleVariants, type VariantsResult } from './assemble-results.js';
import { buildCellTable, type CellTable } from './cell-table.js';
import { correctGoalMetrics, type MultipleComparisonsSummary } from './goal-correction.js';
import { counterKeysOf } from './metric-samples.js';
import { readCounterCells, type CellRead } from './read-counters.js';

export interface ResultsHeader {
  experimentId: string;
  controlVariantId: string;
  computedAt: string;
  lastEventAt: string | null;
  alpha: number;
  sequential: boolean;
  /** Every statistics setting applied (the definition's `analysis` with defaults and query overrides). */
  analysis: AnalysisSettings;
  metrics: MetricDescription[];
}

/** A metric as the results header lists it: its type and what shapes its estimate. */
export interface MetricDescription {
  key: string;
  type: string;
  lowerIsBetter: boolean;
  guardrail: boolean;
  /** Ratio metrics: the event metric keys above and below the line. */
  numerator?: string;
  denominator?: string;
  /** Mean metrics with winsorization: the cap on each user's total. */
  cap?: number;
  /** CUPED variance reduction is reported (`vsControl.cuped`). */
  cuped?: boolean;
}

/** The header's description of one metric (optional fields only when the definition sets them). */
function describeMetric(metric: ExperimentDefinition['metrics'][number]): MetricDescription {
  return {
    key: metric.key,
    type: metric.type,
    lowerIsBetter: metric.lowerIsBetter,
    guardrail: metric.guardrail === true,
    ...(metric.type === 'ratio' && metric.numerator !== undefined ? { numerator: metric.numerator } : {}),
    ...(metric.type === 'ratio' && metric.denominator !== undefined ? { denominator: metric.denominator } : {}),
    ...(metric.type === 'mean' && metric.cap !== undefined ? { cap: metric.cap } : {}),
    ...(metric.type !== 'ratio' && metric.cuped === true ? { cuped: true } : {}),
  };
}

export type ExperimentResults = ResultsHeader & VariantsResult & { multipleComparisons: MultipleComparisonsSummary };
export type SegmentBreakdown = ResultsHeader & Breakdown & { dimension: string; by: string | null; correction: string };

export interface ResultsServiceDeps {
  dynamo: DynamoDBClient;
  countersTable: string;
  now?: () => Date;
}

/**
 * The sort keys of the total cells the results show: every declared variant × (`$exposure`
 * + each metric's counter keys: its own, or a ratio's numerator, denominator and ratio
 * cell), each once (BatchGetItem refuses repeated keys).
 */
export function resultsCellKeys(definition: ExperimentDefinition): string[] {
  const metricKeys = [EXPOSURE_METRIC, ...definition.metrics.flatMap(counterKeysOf)];
  const keys = definition.variants.flatMap((variant) =>
    metricKeys.map((metricKey) => encodeCellKey({ variantId: variant.id, metricKey })),
  );
  return [...new Set(keys)];
}

/** The counter cells of an experiment that `reads` select, read and grouped. */
export async function loadCellTable(
  deps: ResultsServiceDeps,
  experimentId: string,
  reads: readonly CellRead[],
): Promise<CellTable> {
  try {
    return buildCellTable(await readCounterCells(deps.dynamo, deps.countersTable, experimentId, reads));
  } catch (error) {
    throw new PipelineError('DEPENDENCY_UNAVAILABLE', 'the counters table (DynamoDB) could not be read', {
      cause: error,
    });
  }
}

function headerOf(
  definition: ExperimentDefinition,
  table: CellTable,
  options: AnalysisOptions,
  now: Date,
): ResultsHeader {
  const analysis = resolveAnalysisSettings(definition, options);
  return {
    experimentId: definition.key,
    controlVariantId: definition.controlVariantId,
    computedAt: now.toISOString(),
    lastEventAt: table.lastEventAt === undefined ? null : new Date(table.lastEventAt).toISOString(),
    alpha: analysis.alpha,
    sequential: analysis.sequential,
    analysis,
    metrics: definition.metrics.map(describeMetric),
  };
}

/** Whole-experiment results. */
export async function computeExperimentResults(
  deps: ResultsServiceDeps,
  stored: StoredDefinition<ExperimentDefinition>,
  options: AnalysisOptions,
): Promise<ExperimentResults> {
  const { definition } = stored;
  const table = await loadCellTable(deps, definition.key, [{ kind: 'keys', sortKeys: resultsCellKeys(definition) }]);
  const now = deps.now?.() ?? new Date();
  const header = headerOf(definition, table, options, now);
  const variants = assembleVariants(definition, table.totals, options);
  const multipleComparisons = correctGoalMetrics(definition, table.totals, variants.variants, header.analysis);
  return { ...header, ...variants, multipleComparisons };
}

/** Per-segment results of one dimension (or a pair). Throws VALIDATION_FAILED for dimensions the experiment does not declare. */
export async function computeSegmentBreakdown(
  deps: ResultsServiceDeps,
  stored: StoredDefinition<ExperimentDefinition>,
  request: BreakdownRequest,
): Promise<SegmentBreakdown> {
  const { definition } = stored;
  for (const [field, dimension] of [
    ['dimension', request.dimension],
    ['by', request.by],
  ] as const) {
    if (dimension !== undefined && !definition.segmentDimensions.includes(dimension)) {
      throw new PipelineError(
        'VALIDATION_FAILED',
        `${field}: "${dimension}" is not a segment dimension of experiment "${definition.key}" ` +
          `(declared: ${definition.segmentDimensions.join(', ') || 'none'})`,
        { details: [{ field, rule: 'declaredSegmentDimension', message: 'not declared in segmentDimensions' }] },
      );
    }
  }
  if (request.by === request.dimension) {
    throw new PipelineError('VALIDATION_FAILED', 'by: must differ from the path dimension', {
      details: [{ field: 'by', rule: 'differentDimension', message: 'must differ from the path dimension' }],
    });
  }
  const table = await loadCellTable(deps, definition.key, [
    { kind: 'allTotals' },
    { kind: 'dimension', dimension: segmentDimensionOf(request.dimension, request.by) },
  ]);
  const now = deps.now?.() ?? new Date();
  return {
    ...headerOf(definition, table, request.analysis, now),
    dimension: request.dimension,
    by: request.by ?? null,
    correction: request.correction,
    ...buildBreakdown(definition, table, request),
  };
}
