/**
 * Builds the split-URL Lambda@Edge bundle: one minified ESM file, `edge/dist/split-url/index.mjs`
 * (handler `index.handler`), with the configuration compiled in through esbuild `define`.
 *
 *   npm run build:edge                               # unconfigured bundle (passes everything through)
 *   npm run build:edge -- --config split-url.json    # { experimentKey, experimentationApiUrl, experimentationApiKey }
 *
 * The CDK stack may bundle `edge/split-url/viewer-request.ts` itself with the same `define`.
 */
import { readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { Command } from 'commander';
import { PipelineError } from '../common/errors.js';
import { parseSplitUrlConfig, type SplitUrlConfig } from './split-url/split-url-handler.js';

/** Viewer-request functions may be 1 MB; we hold ourselves to 50 KB so cold starts stay fast. */
export const SPLIT_URL_BUNDLE_BUDGET_BYTES = 50 * 1024;
export const SPLIT_URL_ENTRY = fileURLToPath(new URL('./split-url/viewer-request.ts', import.meta.url));
export const DEFAULT_OUT_DIR = fileURLToPath(new URL('./dist/split-url/', import.meta.url));

export interface SplitUrlBuildResult {
  file: string;
  bytes: number;
}

/**
 * Bundles the viewer-request handler. With `config` undefined the global stays undefined and
 * the bundle passes every request through (useful to measure size only).
 */
export async function buildSplitUrlBundle(
  options: { outDir?: string; config?: SplitUrlConfig } = {},
): Promise<SplitUrlBuildResult> {
  if (options.config !== undefined) {
    const checked = parseSplitUrlConfig(options.config);
    if (typeof checked === 'string') throw new PipelineError('CONFIG_INVALID', `split-url config: ${checked}`);
  }
  const outDir = options.outDir ?? DEFAULT_OUT_DIR;
  const file = `${outDir.replace(/\/+$/, '')}/index.mjs`;
  await build({
    entryPoints: [SPLIT_URL_ENTRY],
    outfile: file,
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    legalComments: 'none',
    logLevel: 'silent',
    define: options.config === undefined ? {} : { __SPLIT_URL_CONFIG__: JSON.stringify(options.config) },
  });
  return { file, bytes: (await stat(file)).size };
}

async function main(): Promise<void> {
  const program = new Command()
    .name('npm run build:edge --')
    .option('--config <file>', 'JSON file with experimentKey, experimentationApiUrl, experimentationApiKey')
    .option('--out-dir <dir>', 'output directory', DEFAULT_OUT_DIR)
    .parse(process.argv);
  const options = program.opts<{ config?: string; outDir: string }>();
  const config =
    options.config === undefined ? undefined : (JSON.parse(await readFile(options.config, 'utf8')) as SplitUrlConfig);
  const result = await buildSplitUrlBundle({ outDir: options.outDir, config });
  const kb = (result.bytes / 1024).toFixed(1);
  process.stdout.write(
    `wrote ${result.file} (${kb} KB of ${SPLIT_URL_BUNDLE_BUDGET_BYTES / 1024} KB budget)${config ? '' : ', unconfigured'}\n`,
  );
  if (result.bytes > SPLIT_URL_BUNDLE_BUDGET_BYTES) process.exitCode = 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(`build:edge failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
