/**
 * A benchmark scenario: one file in `bench/scenarios/`, registered in `bench/run.ts`.
 * `run` measures the thing and its baseline side by side and returns a report; the
 * runner prints it and writes the results files.
 */
import type { BenchReport } from './report.js';

export interface ScenarioOption {
  flags: string;
  description: string;
  defaultValue?: string;
}

export interface ScenarioContext {
  /** Options parsed from the command line (strings as given, defaults applied). */
  options: Record<string, string | boolean | undefined>;
  /** Reports progress (drives the progress bar). `fraction` in [0, 1]. */
  progress: (fraction: number, label?: string) => void;
  /** The command line that reproduces this run. */
  command: string;
}

export interface BenchScenario {
  name: string;
  description: string;
  options?: ScenarioOption[];
  run(context: ScenarioContext): Promise<BenchReport>;
}
