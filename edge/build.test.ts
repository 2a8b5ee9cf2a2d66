import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CloudFrontRequest, CloudFrontResultResponse } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomName } from '../local/test-support/test-config.js';
import { buildSplitUrlBundle, SPLIT_URL_BUNDLE_BUDGET_BYTES } from './build.js';
import { viewerRequestEvent } from './split-url/cloudfront-events.js';
import type { SplitUrlEvent, SplitUrlResult } from './split-url/split-url-handler.js';
import { startExperimentApi, type ExperimentApiStub } from './test-support/experiment-api-stub.js';

type BundledHandler = (event: SplitUrlEvent) => Promise<SplitUrlResult>;

describe('split-URL bundle (esbuild, minified)', () => {
  let api: ExperimentApiStub;
  let outDir: string;

  beforeAll(async () => {
    api = await startExperimentApi();
    outDir = await mkdtemp(join(tmpdir(), 'split-url-'));
  });
  afterAll(async () => {
    await api.close();
    await rm(outDir, { recursive: true, force: true });
  });

  it('stays within 50 KB, carries no heavy dependency, and runs with the bundled config', async () => {
    const key = randomName('bundle');
    api.experiments.set(key, {
      key,
      status: 'running',
      variants: [
        { id: 'control', weight: 0, url: '/home' },
        { id: 'new-home', weight: 1, url: '/home-new' },
      ],
      controlVariantId: 'control',
      coverage: 1,
      hashSeed: key,
      hashVersion: 2,
    });
    const config = { experimentKey: key, experimentationApiUrl: api.url, experimentationApiKey: api.apiKey };
    const { file, bytes } = await buildSplitUrlBundle({ outDir, config });
    expect(bytes).toBeLessThanOrEqual(SPLIT_URL_BUNDLE_BUDGET_BYTES);
    const source = await readFile(file, 'utf8');
    expect(source).not.toMatch(/@aws-sdk|typebox|pino|recheck/);
    expect(source).toContain(key); // the configuration is compiled in

    const { handler } = (await import(pathToFileURL(file).href)) as { handler: BundledHandler };
    const redirect = (await handler(
      viewerRequestEvent({ uri: '/home', querystring: 'a=1' }),
    )) as CloudFrontResultResponse;
    expect(redirect.status).toBe('302');
    expect(redirect.headers?.location?.[0]?.value).toBe('/home-new?a=1');
    expect(api.requests).toEqual([`/api/v1/experiments/${key}`]);
  });

  it('builds an unconfigured bundle that passes every request through', async () => {
    const dir = join(outDir, 'unconfigured');
    const { file } = await buildSplitUrlBundle({ outDir: dir });
    const { handler } = (await import(pathToFileURL(file).href)) as { handler: BundledHandler };
    const event = viewerRequestEvent({ uri: '/home' });
    const expected = structuredClone(event.Records[0]!.cf.request);
    expect((await handler(event)) as CloudFrontRequest).toEqual(expected);
  });

  it('refuses to build with an invalid configuration', async () => {
    await expect(
      buildSplitUrlBundle({
        outDir,
        config: { experimentKey: 'bad key', experimentationApiUrl: 'x', experimentationApiKey: '' },
      }),
    ).rejects.toThrow(/experimentKey/);
  });
});
