/**
 * Test support: builds and synthesizes the whole platform once per test file (synth takes
 * seconds; every assertion of a file shares one assembly). Handlers that do not exist yet
 * are replaced by a stand-in from this folder and listed in `missingHandlers`, so one
 * test names them while the others still check everything else.
 */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { Stack } from 'aws-cdk-lib';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { REPOSITORY_ROOT } from '../bundled-function.js';
import { LAMBDA_ENTRIES } from '../lambda-stack.js';
import { buildPlatform, type Platform } from '../platform.js';
import { loadPlatformConfig, type PlatformConfig } from '../platform-config.js';
import { SPLIT_URL_ENTRY } from '../split-url-distribution.js';

/** Bundled in place of a handler that is not in the repository yet. */
export const STAND_IN_HANDLER = 'cdk/test-support/missing-handler.ts';
/** Account and region of the test environment (any valid literal values). */
export const TEST_ACCOUNT = '123456789012';
export const TEST_REGION = 'eu-west-1';

export interface SynthesizedPlatform {
  readonly app: App;
  readonly platform: Platform;
  readonly config: PlatformConfig;
  readonly outdir: string;
  /** Handler modules (repository-relative) that do not exist yet. */
  readonly missingHandlers: readonly string[];
  template(stack: Stack): Template;
  /** The text of a bundled Lambda asset's file, found through the function's S3 key. */
  bundledFile(stack: Stack, functionLogicalIdPrefix: string, fileName: string): string;
}

export interface SynthesizeOptions {
  /** Context values on top of the defaults (e.g. `{ stage: 'prod' }`). */
  readonly context?: Record<string, string>;
  /** Run cdk-nag and CloudFormation's schema validation (slow: one test file does). */
  readonly checks?: boolean;
  /**
   * Bundle the Lambda code with esbuild (default true). Tests that do not look at function
   * code skip it through CDK's `aws:cdk:bundling-stacks` context, which saves seconds.
   */
  readonly bundle?: boolean;
}

/** Builds the app in a temporary directory and synthesizes it (validations on if asked). */
export function synthesizePlatform(options: SynthesizeOptions = {}): SynthesizedPlatform {
  const outdir = mkdtempSync(path.join(tmpdir(), 'cdk-test-'));
  const context = {
    account: TEST_ACCOUNT,
    region: TEST_REGION,
    ...(options.bundle === false ? { 'aws:cdk:bundling-stacks': [] } : {}),
    ...options.context,
  };
  const app = new App({ outdir, context });
  const config = loadPlatformConfig((key) => app.node.tryGetContext(key), {});
  const exists = (entry: string) => existsSync(path.join(REPOSITORY_ROOT, entry));
  const missingHandlers = [...Object.values(LAMBDA_ENTRIES), SPLIT_URL_ENTRY].filter((entry) => !exists(entry));
  const orStandIn = (entry: string) => (exists(entry) ? entry : STAND_IN_HANDLER);
  const platform = buildPlatform(app, config, {
    nagChecks: options.checks ?? false,
    entries: {
      lambdas: {
        eventProcessor: orStandIn(LAMBDA_ENTRIES.eventProcessor),
        assignment: orStandIn(LAMBDA_ENTRIES.assignment),
        flagEvaluation: orStandIn(LAMBDA_ENTRIES.flagEvaluation),
      },
      splitUrl: orStandIn(SPLIT_URL_ENTRY),
    },
  });
  withBuiltinValidation(options.checks ?? false, () => app.synth());
  const templates = new Map<Stack, Template>();
  const template = (stack: Stack): Template => {
    const cached = templates.get(stack) ?? Template.fromStack(stack);
    templates.set(stack, cached);
    return cached;
  };
  return {
    app,
    platform,
    config,
    outdir,
    missingHandlers,
    template,
    bundledFile(stack, functionLogicalIdPrefix, fileName) {
      const functions = template(stack).findResources('AWS::Lambda::Function');
      const match = Object.entries(functions).find(([id]) => id.startsWith(functionLogicalIdPrefix));
      if (!match) throw new Error(`no function ${functionLogicalIdPrefix}* in ${stack.stackName}`);
      const code = (match[1] as { Properties: { Code: { S3Key: string } } }).Properties.Code;
      const assetHash = code.S3Key.replace(/\.zip$/, '');
      return readFileSync(path.join(outdir, `asset.${assetHash}`, fileName), 'utf8');
    },
  };
}

/**
 * aws-cdk-lib validates every template against CloudFormation's schemas at synth, in a
 * WASM engine that costs seconds to start; `CDK_VALIDATION=false` is its documented switch.
 */
function withBuiltinValidation(enabled: boolean, synth: () => void): void {
  const previous = process.env.CDK_VALIDATION;
  if (!enabled) process.env.CDK_VALIDATION = 'false';
  try {
    synth();
  } finally {
    if (previous === undefined) delete process.env.CDK_VALIDATION;
    else process.env.CDK_VALIDATION = previous;
  }
}
