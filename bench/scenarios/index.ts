/**
 * The registry of benchmark scenarios, one file each. Add a scenario here to make it a
 * sub-command of `npm run bench`.
 */
import type { BenchScenario } from '../scenario.js';
import { ingestScenario } from './ingest.js';

export const scenarios: BenchScenario[] = [ingestScenario];

/** What `npm run bench` runs with no arguments. */
export const DEFAULT_SCENARIO = 'ingest';
