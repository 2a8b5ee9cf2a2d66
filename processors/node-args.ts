/**
 * The Node flags the launchers in this repository (`npm start`, the bench) give a processors process: an
 * old-space cap, so the garbage of large batches is collected instead of growing the process. Without one,
 * V8 sizes the heap from the machine (4 GiB here) and lets it grow long before it collects: the 714k Redis
 * drain with 100,000 user records in flight (50,000 per shard) peaked at 532 MiB without a cap, and at
 * 412–429 MiB under this one with 200,000 (bench/README.md, "Memory"). The processors fit their batch budget to whatever heap they get
 * (consumer/batch-budget.ts, `fitBudgetToHeap`): 256 MiB of old space holds the default budget.
 *
 * In a container, set the same in the task definition's NODE_OPTIONS (`--max-old-space-size=256` for a 512 MiB
 * task); a NODE_OPTIONS that already sets a cap is left to win.
 *
 * @example
 *   spawn(process.execPath, [...processorsNodeArgs(process.env), '--import', 'tsx', 'processors/main.ts']);
 */
export const PROCESSORS_OLD_SPACE_MIB = 256;

/** `--max-old-space-size=PROCESSORS_OLD_SPACE_MIB`, unless `env.NODE_OPTIONS` sets a cap of its own. */
export function processorsNodeArgs(env: NodeJS.ProcessEnv): string[] {
  if (/(^|\s)--max-old-space-size(=|\s|$)/.test(env.NODE_OPTIONS ?? '')) return [];
  return [`--max-old-space-size=${PROCESSORS_OLD_SPACE_MIB}`];
}
