/**
 * The index template for raw events, installed at start-up so every daily index gets
 * explicit mappings instead of guessed ones (a first `value` of 1 would otherwise map
 * as `long` and refuse 19.99 for the rest of the day).
 */
import type { Client } from '@opensearch-project/opensearch';
import { PipelineError } from '../../common/errors.js';

const keyword = { type: 'keyword' } as const;
const date = { type: 'date', format: 'epoch_millis||strict_date_optional_time' } as const;

/**
 * The `_index_template` body for `${prefix}-*`: keyword ids, date timestamps, double
 * value, and `segments` as an object whose values are all keywords. Top-level fields
 * the contract does not know are kept in `_source` but not indexed (`dynamic: false`),
 * so a newer producer cannot explode the mapping. No index settings: shard counts and
 * refresh intervals are the cluster operator's call, and Serverless refuses them.
 */
export function eventIndexTemplate(indexPrefix: string): Record<string, unknown> {
  return {
    index_patterns: [`${indexPrefix}-*`],
    priority: 100,
    template: {
      mappings: {
        dynamic: false,
        properties: {
          version: { type: 'short' },
          eventId: keyword,
          type: keyword,
          experimentId: keyword,
          variantId: keyword,
          userId: keyword,
          metric: keyword,
          value: { type: 'double' },
          timestamp: date,
          receivedAt: date,
          segments: {
            type: 'object',
            dynamic: true,
          },
        },
        dynamic_templates: [{ segments_as_keywords: { path_match: 'segments.*', mapping: keyword } }],
      },
    },
    _meta: { description: 'Raw experiment events, one index per UTC day (processors/opensearch)' },
  };
}

/** The template's name for a prefix. */
export const indexTemplateName = (indexPrefix: string): string => `${indexPrefix}-template`;

/**
 * Installs (or replaces) the template. Idempotent: safe on every start-up.
 *
 * @example
 *   await ensureIndexTemplate(client, 'experimentation-events');
 */
export async function ensureIndexTemplate(client: Client, indexPrefix: string): Promise<void> {
  try {
    await client.indices.putIndexTemplate({
      name: indexTemplateName(indexPrefix),
      body: eventIndexTemplate(indexPrefix),
    });
  } catch (error) {
    throw new PipelineError(
      'DEPENDENCY_UNAVAILABLE',
      `could not install the OpenSearch index template: ${String(error)}`,
      {
        cause: error,
      },
    );
  }
}
