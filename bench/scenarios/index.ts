/**
 * The registry of benchmark scenarios, one file each. Add a scenario here to make it a
 * sub-command of `npm run bench`.
 */
import type { BenchScenario } from '../scenario.js';
import { edgeScenario } from './edge.js';
import { ingestScenario } from './ingest.js';
import { processorsStateScenario } from './processors-state.js';

export const scenarios: BenchScenario[] = [ingestScenario, processorsStateScenario, edgeScenario];

/** What `npm run bench` runs with no arguments. */
export const DEFAULT_SCENARIO = 'ingest';
