/**
 * The OpenSearch adapter of ad-hoc search: runs a built `_search` body over the event
 * indices (`<OPENSEARCH_INDEX_PREFIX>-*`). Against Amazon OpenSearch Service requests are
 * SigV4-signed with the task's credentials; other endpoints (local, tests) are plain HTTP.
 */
import { Client } from '@opensearch-project/opensearch';
import { AwsSigv4Signer } from '@opensearch-project/opensearch/aws';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import type { Config } from '../../common/config.js';
import { PipelineError } from '../../common/errors.js';

export interface EventSearch {
  /** Runs a search body; resolves with the raw response body. */
  search(body: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** Checks the cluster answers (readiness is not gated on it: search is optional). */
  close(): Promise<void>;
}

/** How long a search may run before the API answers 503. */
const SEARCH_TIMEOUT_MS = 10_000;

const isAwsEndpoint = (endpoint: string) => /\.(es|aoss)\.amazonaws\.com$/.test(new URL(endpoint).hostname);

/** Creates the search adapter, or undefined when OPENSEARCH_ENDPOINT is not set. */
export function createEventSearch(config: Pick<Config, 'opensearch' | 'aws'>): EventSearch | undefined {
  const { endpoint, indexPrefix } = config.opensearch;
  if (!endpoint) return undefined;
  const client = new Client({
    node: endpoint,
    requestTimeout: SEARCH_TIMEOUT_MS,
    maxRetries: 1,
    ...(isAwsEndpoint(endpoint)
      ? AwsSigv4Signer({
          region: config.aws.region,
          service: endpoint.includes('.aoss.') ? 'aoss' : 'es',
          getCredentials: () => defaultProvider()(),
        })
      : {}),
  });
  return {
    async search(body) {
      try {
        const response = await client.search({
          index: `${indexPrefix}-*`,
          body: body,
          ignore_unavailable: true,
          allow_no_indices: true,
        });
        return response.body;
      } catch (error) {
        throw new PipelineError('DEPENDENCY_UNAVAILABLE', 'the event search (OpenSearch) failed', { cause: error });
      }
    },
    close: () => client.close(),
  };
}
