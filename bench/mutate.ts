/**
 * `npm run mutate [-- <stryker run options>]`: Stryker over the modules in stryker.config.mjs
 * (incremental: only mutants whose code or tests changed are run again), then the per-module
 * summary in bench/results/mutation.md. Example: `npm run mutate -- --mutate common/hashing.ts`.
 * A scoped run keeps the incremental results of the modules it did not run, and updates the
 * summary of the modules it ran only (Stryker's report also lists every module of the
 * incremental file, possibly older than a run that finished meanwhile).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { writeMutationSummary } from './mutation-summary.js';
import { runInOwnGroup } from './support/process-group.js';
import { RESULTS_DIR } from './report.js';

const INCREMENTAL = `${RESULTS_DIR}mutation-incremental.json`;
type Incremental = { files?: Record<string, unknown>; testFiles?: Record<string, unknown> };
const readIncremental = (): Promise<Incremental | undefined> =>
  readFile(INCREMENTAL, 'utf8').then(
    (text) => JSON.parse(text) as Incremental,
    () => undefined,
  );

const before = await readIncremental();
// Stryker in a process group of its own: stopping this run stops its test workers and the stand-ins they started.
const run = runInOwnGroup('npx', ['stryker', 'run', ...process.argv.slice(2)]);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => run.stop(signal));
const code = await run.exited;
if (code !== 0) {
  process.stderr.write(`stryker exited with ${code}\n`);
  process.exit(code);
}
const after = await readIncremental();
if (before?.files && after) {
  // Stryker writes only the modules of this run: keep the others' results for the next one.
  after.files = { ...before.files, ...after.files };
  after.testFiles = { ...before.testFiles, ...after.testFiles };
  await writeFile(INCREMENTAL, JSON.stringify(after));
}
/** The modules a scoped run mutated (`--mutate a.ts,b.ts` or `--mutate=a.ts`); undefined for a full run. */
function scopedModules(args: readonly string[]): string[] | undefined {
  const index = args.findIndex((arg) => arg === '--mutate' || arg.startsWith('--mutate='));
  if (index < 0) return undefined;
  const value = args[index]!.startsWith('--mutate=') ? args[index]!.slice('--mutate='.length) : args[index + 1];
  return value
    ?.split(',')
    .map((file) => file.trim())
    .filter((file) => file.length > 0);
}

process.stdout.write(
  `${await writeMutationSummary(scopedModules(process.argv.slice(2)))}\n\nwritten: bench/results/mutation.md\n`,
);
