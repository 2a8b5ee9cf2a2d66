/**
 * The OpenSearch sink as the pipeline's entry points create it: from the validated
 * configuration, or not at all. Without `OPENSEARCH_ENDPOINT` indexing is off, and the
 * log says so once at start-up, so nobody hunts for documents that were never sent.
 *
 * This module imports nothing of the sink at load time: the sink's module brings the
 * OpenSearch client and its AWS signer (about 550 modules and 3 MiB of heap, at every start),
 * so it is imported only when an endpoint is set.
 */
import type { Config } from '../../common/config.js';
import type { Logger } from '../../common/logger.js';
import type { EventIndexSinkHandle } from './event-index-sink.js';

/**
 * Resolves with the sink configured by `OPENSEARCH_ENDPOINT` and `OPENSEARCH_INDEX_PREFIX`,
 * or with undefined (and an info log) when no endpoint is set. Call `start()` on the result
 * at start-up to install the index template, `stop()` at shutdown.
 *
 * @example
 *   const indexSink = await createEventIndexSinkFromConfig(config, logger);
 *   await indexSink?.start();
 */
export async function createEventIndexSinkFromConfig(
  config: Pick<Config, 'opensearch' | 'aws'>,
  logger: Logger,
): Promise<EventIndexSinkHandle | undefined> {
  const { endpoint, indexPrefix } = config.opensearch;
  if (!endpoint) {
    logger.info({ component: 'opensearch-sink' }, 'OpenSearch indexing is off (OPENSEARCH_ENDPOINT not set)');
    return undefined;
  }
  logger.info(
    { component: 'opensearch-sink', endpoint: new URL(endpoint).origin, indexPrefix },
    'OpenSearch indexing is on',
  );
  const { createEventIndexSink } = await import('./event-index-sink.js');
  return createEventIndexSink({ endpoint, indexPrefix, logger, region: config.aws.region });
}
