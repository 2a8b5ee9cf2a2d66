/**
 * The registry of benchmark scenarios, one file each. Add a scenario here to make it a
 * sub-command of `npm run bench`.
 */
import type { BenchScenario } from '../scenario.js';
import { counterWritesScenario } from './counter-writes.js';
import { edgeScenario } from './edge.js';
import { flushIntervalScenario } from './flush-interval.js';
import { ingestScenario } from './ingest.js';
import { pipelineScenario } from './pipeline.js';
import { pipelineCoreScenario } from './pipeline-core.js';
import { processorsStateScenario } from './processors-state.js';
import { queryApiScenario } from './query-api.js';
import { recordFormatScenario } from './record-format.js';
import { uiScenario } from './ui.js';

export const scenarios: BenchScenario[] = [
  pipelineScenario,
  ingestScenario,
  processorsStateScenario,
  edgeScenario,
  pipelineCoreScenario,
  queryApiScenario,
  flushIntervalScenario,
  recordFormatScenario,
  counterWritesScenario,
  uiScenario,
];

/** What `npm run bench` runs with no arguments. */
export const DEFAULT_SCENARIO = 'pipeline';
