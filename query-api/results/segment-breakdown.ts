/**
 * Pure segment breakdown: the per-variant results of each value of one dimension (or of
 * a pair of dimensions, from the pair cells the processors write), the top values by
 * exposed users and everything else summed into "(other)", a multiple-comparison
 * correction across values × variants × metrics, and a check that the cells add up
 * to the totals.
 */
import {
  OTHER_SEGMENT_VALUE,
  encodePairSegment,
  parsePairSegment,
  type SegmentValue,
} from '../../common/counter-layout.js';
import type { ExperimentDefinition } from '../../common/experiment-definition.js';
import { assembleVariants, applyCorrection, type VariantsResult } from './assemble-results.js';
import {
  exposedUsers,
  mergeVariantCells,
  segmentDiscrepancies,
  type CellDiscrepancy,
  type CellTable,
  type VariantCells,
} from './cell-table.js';
import type { AnalysisOptions, Correction } from './compute-results.js';

export interface BreakdownRequest {
  dimension: string;
  /** Second dimension: values are pairs. */
  by?: string;
  /** Values shown individually; the rest go to "(other)". */
  limit: number;
  correction: Correction;
  analysis: AnalysisOptions;
}

export interface SegmentResult extends VariantsResult {
  /** The segment value as stored (`a+b` for pairs, see common/counter-layout.ts). */
  value: string;
  /** Dimension → value; "(other)" for the remainder bucket. */
  values: Record<string, string>;
  /** Exposed users in this segment, all variants. */
  users: number;
}

export interface Breakdown {
  /** The counter dimension read (`a+b`, names sorted, for pairs). */
  segmentDimension: string;
  segments: SegmentResult[];
  /** True when the segment cells add up to the totals (see `discrepancies`). */
  cellsAddUp: boolean;
  discrepancies: CellDiscrepancy[];
}

const MAX_DISCREPANCIES_REPORTED = 20;

/** The stored dimension of a breakdown request: the dimension itself, or the pair's. */
export function segmentDimensionOf(dimension: string, by?: string): string {
  if (!by) return dimension;
  return encodePairSegment({ dimension, value: '' }, { dimension: by, value: '' }).dimension;
}

function valuesOf(segment: SegmentValue, isPair: boolean): Record<string, string> {
  if (!isPair) return { [segment.dimension]: segment.value };
  const parts = parsePairSegment(segment);
  if (!parts) return { [segment.dimension]: segment.value };
  return Object.fromEntries(parts.map((part) => [part.dimension, part.value]));
}

/** Builds the breakdown of `request.dimension` (× `request.by`) from an experiment's cells. */
export function buildBreakdown(
  definition: ExperimentDefinition,
  table: CellTable,
  request: BreakdownRequest,
): Breakdown {
  const segmentDimension = segmentDimensionOf(request.dimension, request.by);
  const isPair = request.by !== undefined;
  const stored = table.segments.get(segmentDimension) ?? new Map<string, VariantCells>();
  const ranked = [...stored.entries()]
    .map(([value, cells]) => ({ value, cells, users: exposedUsers(cells) }))
    .sort((a, b) => b.users - a.users || (a.value < b.value ? -1 : 1));
  const isOther = (value: string) =>
    isPair
      ? Object.values(valuesOf({ dimension: segmentDimension, value }, true)).includes(OTHER_SEGMENT_VALUE)
      : value === OTHER_SEGMENT_VALUE;
  const shown = ranked.filter((entry) => !isOther(entry.value)).slice(0, request.limit);
  const shownValues = new Set(shown.map((entry) => entry.value));
  const rest = ranked.filter((entry) => !shownValues.has(entry.value));

  const segments: SegmentResult[] = shown.map((entry) => ({
    value: entry.value,
    values: valuesOf({ dimension: segmentDimension, value: entry.value }, isPair),
    users: entry.users,
    ...assembleVariants(definition, entry.cells, request.analysis),
  }));
  if (rest.length > 0) {
    const cells = mergeVariantCells(rest.map((entry) => entry.cells));
    const dimensions = isPair ? segmentDimension.split('+') : [segmentDimension];
    segments.push({
      value: OTHER_SEGMENT_VALUE,
      values: Object.fromEntries(dimensions.map((dimension) => [dimension, OTHER_SEGMENT_VALUE])),
      users: exposedUsers(cells),
      ...assembleVariants(definition, cells, request.analysis),
    });
  }
  applyCorrection(segments, request.correction);
  const discrepancies = segmentDiscrepancies(
    table.totals,
    ranked.map((entry) => entry.cells),
  );
  return {
    segmentDimension,
    segments,
    cellsAddUp: discrepancies.length === 0,
    discrepancies: discrepancies.slice(0, MAX_DISCREPANCIES_REPORTED),
  };
}
