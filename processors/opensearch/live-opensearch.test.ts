/**
 * Against a real cluster: runs only when OPENSEARCH_URL is set (e.g.
 * `OPENSEARCH_URL=http://127.0.0.1:9200 npx vitest run processors/opensearch`), since no
 * OpenSearch server can run in this environment. Uses a random index prefix and removes
 * its indices and template afterwards.
 */
import { describe, expect, it } from 'vitest';
import { createSilentLogger } from '../../common/logger.js';
import { randomName } from '../../local/test-support/test-config.js';
import { createEventIndexSink } from './event-index-sink.js';
import { indexTemplateName } from './index-template.js';
import { createOpenSearchClient } from './opensearch-client.js';
import { validEvent } from './test-support/fixture-events.js';

const url = process.env.OPENSEARCH_URL ?? '';

describe('live OpenSearch (runs when OPENSEARCH_URL is set)', () => {
  it.runIf(Boolean(process.env.OPENSEARCH_URL))(
    'indexes into daily indices with explicit mappings, overwrites on replay and rejects mapping errors',
    async () => {
      const prefix = randomName('live-events');
      const admin = createOpenSearchClient({ endpoint: url, region: process.env.AWS_REGION ?? 'us-east-1' });
      const sink = createEventIndexSink({ endpoint: url, indexPrefix: prefix, logger: createSilentLogger() });
      const events = [
        validEvent('7d0e4a10-0000-4000-8000-000000000001', '2026-11-23T23:59:59.999Z', 0),
        validEvent('7d0e4a10-0000-4000-8000-000000000002', '2026-11-24T00:00:00.000Z', 1),
        validEvent('7d0e4a10-0000-4000-8000-000000000003', '2026-11-24T12:00:00.000Z', 2),
      ];
      try {
        await sink.start();
        expect(await sink.index(events)).toEqual({ indexed: 3, rejected: [] });
        expect(await sink.index(events)).toEqual({ indexed: 3, rejected: [] }); // a replay
        await admin.indices.refresh({ index: `${prefix}-*` });
        const count = await admin.count({ index: `${prefix}-*` });
        expect(count.body.count).toBe(3);
        const day = await admin.count({ index: `${prefix}-2026.11.24` });
        expect(day.body.count).toBe(2);
        const stored = await admin.get({ index: `${prefix}-2026.11.23`, id: events[0]!.event.eventId });
        expect(stored.body._source).toEqual(events[0]!.event);

        const mapping = await admin.indices.getMapping({ index: `${prefix}-2026.11.24` });
        const properties = (
          mapping.body as Record<string, { mappings: { properties: Record<string, Record<string, unknown>> } }>
        )[`${prefix}-2026.11.24`]!.mappings.properties;
        expect(properties.eventId).toMatchObject({ type: 'keyword' });
        expect(properties.value).toMatchObject({ type: 'double' });
        expect(properties.timestamp).toMatchObject({ type: 'date' });
        expect(properties.segments).toMatchObject({ properties: { country: { type: 'keyword' } } });

        // An index created by hand with a conflicting mapping makes the cluster refuse the document.
        await admin.indices.create({
          index: `${prefix}-2026.11.25`,
          body: { mappings: { properties: { experimentId: { type: 'long' } } } },
        });
        const conflicting = validEvent('7d0e4a10-0000-4000-8000-000000000004', '2026-11-25T06:00:00.000Z', 3);
        const result = await sink.index([conflicting]);
        expect(result.indexed).toBe(0);
        expect(result.rejected).toHaveLength(1);
        expect(result.rejected[0]?.reason).toContain('mapper_parsing_exception');
      } finally {
        await sink.stop();
        await admin.indices.delete({ index: `${prefix}-*` }).catch(() => undefined);
        await admin.indices.deleteIndexTemplate({ name: indexTemplateName(prefix) }).catch(() => undefined);
        await admin.close();
      }
    },
    120_000,
  );
});
