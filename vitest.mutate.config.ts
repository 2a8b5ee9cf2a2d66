import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * The tests `npm run mutate` runs against each mutant: the ones that exercise the mutated
 * cores (stryker.config.mjs), without the slow end-to-end suites (process kills, benches,
 * CDK synthesis), which would make one mutant take minutes on two cores. The base config's
 * set-up (kinesalite/dynalite, timeouts, workers) is kept; only `include` is replaced.
 */
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: [
      'common/**/*.test.ts',
      'processors/state/**/*.test.ts',
      'processors/counters/**/*.test.ts',
      'processors/pipeline.test.ts',
      'processors/decode/**/*.test.ts',
      'processors/commit/commit-step.test.ts',
      'processors/commit/isolate-record.test.ts',
      'processors/commit/corrupt-state.test.ts',
      'processors/dead-letters/replay.test.ts',
      'processors/consumer/batch-budget.test.ts',
      'processors/consumer/shard-reader.test.ts',
      'processors/consumer/local-consumer.test.ts',
      'query-api/stats/**/*.test.ts',
      'ingest/put-records*.test.ts',
      'ingest/collector.test.ts',
      'ingest/collect-events*.test.ts',
      'ingest/parse-body.test.ts',
      'ingest/kpl-aggregation.test.ts',
    ],
  },
});
