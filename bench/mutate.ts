/**
 * `npm run mutate [-- <stryker run options>]`: Stryker over the modules in stryker.config.mjs
 * (incremental: only mutants whose code or tests changed are run again), then the per-module
 * summary in bench/results/mutation.md. Example: `npm run mutate -- --mutate common/hashing.ts`.
 */
import { spawn } from 'node:child_process';
import { writeMutationSummary } from './mutation-summary.js';

const code = await new Promise<number>((resolve) => {
  const child = spawn('npx', ['stryker', 'run', ...process.argv.slice(2)], { stdio: 'inherit' });
  child.once('exit', (exitCode) => resolve(exitCode ?? 1));
});
if (code !== 0) {
  process.stderr.write(`stryker exited with ${code}\n`);
  process.exit(code);
}
process.stdout.write(`${await writeMutationSummary()}\n\nwritten: bench/results/mutation.md\n`);
