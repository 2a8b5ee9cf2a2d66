/**
 * The shapes the pages read from the query API (documented at /docs; the server's schemas
 * are query-api/results/schemas.ts, common/experiment-definition.ts, audit/schemas.ts).
 * Only the fields the pages use are listed.
 */

export interface Variant {
  id: string;
  name?: string;
  weight: number;
  url?: string;
}

export interface MetricDefinition {
  key: string;
  type: 'binomial' | 'mean' | 'ratio';
  lowerIsBetter?: boolean;
  /** Ratio metrics: the event metric keys above and below the line. */
  numerator?: string;
  denominator?: string;
  /** Mean metrics: each user's total counts as min(total, cap). */
  cap?: number;
  /** Binomial and mean metrics: CUPED with the impression's `covariates[<key>]`. */
  cuped?: boolean;
  guardrail?: boolean;
}

export interface ExperimentDefinition {
  key: string;
  name: string;
  description?: string;
  status: 'draft' | 'running' | 'stopped';
  variants: Variant[];
  controlVariantId: string;
  coverage: number;
  hashSeed?: string;
  metrics: MetricDefinition[];
  segmentDimensions: string[];
  targeting?: unknown;
  [field: string]: unknown;
}

export interface Interval {
  estimate: number | null;
  ciLow: number | null;
  ciHigh: number | null;
}

export interface Comparison {
  absolute: Interval;
  relative: Interval;
  pValue: number | null;
  adjustedPValue?: number | null;
  chanceToWin: number | null;
  riskOfLoss: number | null;
  warnings: string[];
  /** CUPED metrics: the regression-adjusted comparison beside this (unadjusted) one. */
  cuped?: CupedComparison;
}

export interface CupedComparison {
  absolute: Interval;
  relative: Interval;
  pValue: number | null;
  chanceToWin: number | null;
  riskOfLoss: number | null;
  warnings: string[];
  theta: number | null;
  /** 1 − SE²(adjusted)/SE²(unadjusted). */
  varianceReduction: number | null;
}

export interface MetricResult {
  users: number;
  events: number;
  sum: number;
  sumSquares: number;
  /** Capped metrics: the capped mean; ratio metrics: Σ numerator / Σ denominator. */
  mean: number | null;
  capped?: { cap: number; uncappedSum: number; uncappedSumSquares: number; uncappedMean: number | null };
  ratio?: { numerator: string; denominator: string; numeratorSum: number; denominatorSum: number };
  vsControl: Comparison | null;
}

/** A metric as the results header lists it. */
export interface ResultsMetric {
  key: string;
  type: string;
  lowerIsBetter: boolean;
  numerator?: string;
  denominator?: string;
  cap?: number;
  cuped?: boolean;
}

export interface VariantResult {
  variantId: string;
  users: number;
  impressions: number;
  metrics: Record<string, MetricResult>;
}

export interface Srm {
  pValue: number | null;
  mismatch: boolean;
}

export interface ResultsResponse {
  experimentId: string;
  controlVariantId: string;
  computedAt: string;
  lastEventAt: string | null;
  alpha: number;
  sequential: boolean;
  metrics: ResultsMetric[];
  srm: Srm;
  variants: VariantResult[];
}

/** What the verdict needs of a results answer: GET …/results, or a summary's `results`. */
export interface VerdictResults {
  alpha: number;
  controlVariantId: string;
  srm: Srm;
  metrics: { key: string; lowerIsBetter: boolean }[];
  variants: {
    variantId: string;
    metrics: Record<string, { vsControl: Pick<Comparison, 'pValue' | 'absolute' | 'relative'> | null } | undefined>;
  }[];
}

/** One row of GET /api/v1/experiment-summaries (query-api/routes/summary-routes.ts). */
export interface ExperimentSummary {
  key: string;
  name: string;
  status: string;
  variants: string[];
  primaryMetric: string | null;
  startedAt: string | null;
  results: (VerdictResults & { users: number }) | null;
  resultsError: string | null;
}

export interface SegmentResult {
  value: string;
  values: Record<string, string>;
  users: number;
  srm: Srm;
  variants: VariantResult[];
}

export interface SegmentsResponse extends Omit<ResultsResponse, 'srm' | 'variants'> {
  dimension: string;
  by: string | null;
  correction: string;
  cellsAddUp: boolean;
  discrepancies: { variantId: string; metricKey: string; field: string; total: number; sumOfSegments: number }[];
  segments: SegmentResult[];
}

export interface HistoryPoint {
  at: string;
  variants: {
    variantId: string;
    users: number;
    mean: number | null;
    /** Null for the control. */
    lift: { relative: number | null; interval: [number | null, number | null] } | null;
    pValue: number | null;
    chanceToWin: number | null;
  }[];
}

export interface HistoryResponse {
  experimentId: string;
  metric: string;
  points: HistoryPoint[];
}

export interface AuditEvent {
  position: number;
  time: string;
  actor: { type: string; id: string; username: string | null };
  action: string;
  change: Record<string, unknown>;
}

/** A problem the server named: `field` is a dotted path into the request body. */
export interface FieldProblem {
  field: string;
  rule: string;
  message: string;
}

/** How the pages sign in (GET /ui/config.json; query-api/ui/ui-config.ts). */
export interface UiConfig {
  auth: {
    mode: 'open' | 'api-key' | 'cognito';
    apiKeys: boolean;
    cognito: { domain: string; clientId: string; scopes: string[] } | null;
  };
}
