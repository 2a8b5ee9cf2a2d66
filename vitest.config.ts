import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{common,ingest,processors,query-api,edge,cdk,bench,local}/**/*.test.ts'],
    globalSetup: ['./local/test-support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: integration tests share kinesalite/dynalite processes; keep file parallelism modest.
    maxWorkers: 2,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
