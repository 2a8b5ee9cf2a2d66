/**
 * Results and breakdowns of one experiment: loads the definition (PostgreSQL), reads
 * the counters (one DynamoDB Query), and hands both to the pure assembly. Routes add
 * caching and serialization on top.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PipelineError } from '../../common/errors.js';
import type { ExperimentDefinition } from '../../common/experiment-definition.js';
import type { StoredDefinition } from '../definitions/definition-store.js';
import { buildBreakdown, type Breakdown, type BreakdownRequest } from '../segments/segment-breakdown.js';
import { assembleVariants, type VariantsResult } from './assemble-results.js';
import { buildCellTable, type CellTable } from './cell-table.js';
import type { AnalysisOptions } from './compute-results.js';
import { readExperimentCells } from './read-counters.js';

export interface ResultsHeader {
  experimentId: string;
  controlVariantId: string;
  computedAt: string;
  lastEventAt: string | null;
  alpha: number;
  sequential: boolean;
  metrics: { key: string; type: string; lowerIsBetter: boolean }[];
}

export type ExperimentResults = ResultsHeader & VariantsResult;
export type SegmentBreakdown = ResultsHeader & Breakdown & { dimension: string; by: string | null; correction: string };

export interface ResultsServiceDeps {
  dynamo: DynamoDBClient;
  countersTable: string;
  now?: () => Date;
}

/** The counters of an experiment, read and grouped. */
export async function loadCellTable(deps: ResultsServiceDeps, experimentId: string): Promise<CellTable> {
  try {
    return buildCellTable(await readExperimentCells(deps.dynamo, deps.countersTable, experimentId));
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
  return {
    experimentId: definition.key,
    controlVariantId: definition.controlVariantId,
    computedAt: now.toISOString(),
    lastEventAt: table.lastEventAt === undefined ? null : new Date(table.lastEventAt).toISOString(),
    alpha: options.alpha,
    sequential: options.sequential,
    metrics: definition.metrics.map((m) => ({ key: m.key, type: m.type, lowerIsBetter: m.lowerIsBetter })),
  };
}

/** Whole-experiment results. */
export async function computeExperimentResults(
  deps: ResultsServiceDeps,
  stored: StoredDefinition<ExperimentDefinition>,
  options: AnalysisOptions,
): Promise<ExperimentResults> {
  const table = await loadCellTable(deps, stored.definition.key);
  const now = deps.now?.() ?? new Date();
  return {
    ...headerOf(stored.definition, table, options, now),
    ...assembleVariants(stored.definition, table.totals, options),
  };
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
  const table = await loadCellTable(deps, definition.key);
  const now = deps.now?.() ?? new Date();
  return {
    ...headerOf(definition, table, request.analysis, now),
    dimension: request.dimension,
    by: request.by ?? null,
    correction: request.correction,
    ...buildBreakdown(definition, table, request),
  };
}
