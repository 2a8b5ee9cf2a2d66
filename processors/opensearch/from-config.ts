/**
 * The OpenSearch sink as the pipeline's entry points create it: from the validated
 * configuration, or not at all. Without `OPENSEARCH_ENDPOINT` indexing is off, and the
 * log says so once at start-up, so nobody hunts for documents that were never sent.
 */
import type { Config } from '../../common/config.js';
import type { Logger } from '../../common/logger.js';
import { createEventIndexSink, type EventIndexSinkHandle } from './event-index-sink.js';

/**
 * Returns the sink configured by `OPENSEARCH_ENDPOINT` and `OPENSEARCH_INDEX_PREFIX`,
 * or undefined (and an info log) when no endpoint is set. Call `start()` on the result
 * at start-up to install the index template, `stop()` at shutdown.
 *
 * @example
 *   const indexSink = createEventIndexSinkFromConfig(config, logger);
 *   await indexSink?.start();
 */
export function createEventIndexSinkFromConfig(
  config: Pick<Config, 'opensearch' | 'aws'>,
  logger: Logger,
): EventIndexSinkHandle | undefined {
  const { endpoint, indexPrefix } = config.opensearch;
  if (!endpoint) {
    logger.info({ component: 'opensearch-sink' }, 'OpenSearch indexing is off (OPENSEARCH_ENDPOINT not set)');
    return undefined;
  }
  logger.info(
    { component: 'opensearch-sink', endpoint: new URL(endpoint).origin, indexPrefix },
    'OpenSearch indexing is on',
  );
  return createEventIndexSink({ endpoint, indexPrefix, logger, region: config.aws.region });
}
