/**
 * Lambda@Edge entry point of the split-URL function (CDK bundles this file's `handler`).
 * Lambda@Edge has no environment variables, so the configuration is compiled in: the build
 * replaces `__SPLIT_URL_CONFIG__` (esbuild `define`) with a JSON object
 * `{ experimentKey, experimentationApiUrl, experimentationApiKey, experimentationApiKeySecret? }`.
 * Deployed, the key is not in it: `experimentationApiKeySecret` names the Secrets Manager
 * secret the function reads at run time (edge-secret.ts, cached, re-read when refused).
 *
 * Attach the same function version to the `viewer-request` event (required) and to the
 * `viewer-response` event (recommended: it persists the cookies of first-time visitors who
 * were not redirected).
 */
import { createConsoleLog } from './edge-log.js';
import { createEdgeSecret } from './edge-secret.js';
import { createExperimentSource } from './experiment-source.js';
import {
  createSplitUrlHandler,
  parseSplitUrlConfig,
  stripInternalHeaders,
  type SplitUrlEvent,
  type SplitUrlResult,
} from './split-url-handler.js';

declare const __SPLIT_URL_CONFIG__: unknown;

const log = createConsoleLog();
const config = parseSplitUrlConfig(typeof __SPLIT_URL_CONFIG__ === 'undefined' ? undefined : __SPLIT_URL_CONFIG__);

/** Without a valid configuration nothing is assigned: every request and response passes untouched. */
function passThroughHandler(problem: string): (event: SplitUrlEvent) => Promise<SplitUrlResult> {
  let reported = false;
  return (event) => {
    if (!reported) {
      reported = true;
      log('error', `split-url function is not configured: ${problem}`);
    }
    const record = event.Records[0]?.cf;
    if (record !== undefined && 'response' in record) return Promise.resolve(record.response);
    // Even unconfigured, the origin must never see a viewer's own x-split-url-* headers.
    if (record !== undefined) return Promise.resolve(stripInternalHeaders(record.request));
    return Promise.resolve({ status: '400', statusDescription: 'Bad Request' });
  };
}

/** The Lambda@Edge handler. */
export const handler =
  typeof config === 'string'
    ? passThroughHandler(config)
    : createSplitUrlHandler(config, {
        log,
        source: createExperimentSource({
          apiUrl: config.experimentationApiUrl,
          apiKey: config.experimentationApiKeySecret
            ? createEdgeSecret(config.experimentationApiKeySecret)
            : config.experimentationApiKey,
          experimentKey: config.experimentKey,
          log,
        }),
      });
