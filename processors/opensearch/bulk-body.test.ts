import { describe, expect, it } from 'vitest';
import { buildBulkBody, dailyIndexName, toBulkAction } from './bulk-body.js';
import { classifyBulkItems, type BulkResponseBody } from './bulk-items.js';
import { awsSigningService, regionOfEndpoint } from './opensearch-client.js';
import { fixtureEvents, FIXTURE_INDEX_PREFIX, validEvent } from './test-support/fixture-events.js';
import { loadFixture } from './test-support/recorded-opensearch.js';

const actions = () => fixtureEvents().map((event) => toBulkAction(event, FIXTURE_INDEX_PREFIX));

describe('bulk body', () => {
  it('names daily indices by the event timestamp in UTC', () => {
    expect(dailyIndexName('p', Date.parse('2026-11-23T23:59:59.999Z'))).toBe('p-2026.11.23');
    expect(dailyIndexName('p', Date.parse('2026-11-24T00:00:00.000Z'))).toBe('p-2026.11.24');
    expect(dailyIndexName('p', Date.parse('2027-01-01T00:30:00+01:00'))).toBe('p-2026.12.31');
  });

  it('builds index operations with _id = eventId and the event as the document', () => {
    const body = buildBulkBody(actions());
    const lines = body.trimEnd().split('\n');
    expect(lines).toHaveLength(8);
    expect(JSON.parse(lines[0]!)).toEqual({
      index: { _index: 'experimentation-events-2026.11.23', _id: '0f8c1a52-6a3e-4c0b-9d2e-1f4b5c6d7e01' },
    });
    expect(JSON.parse(lines[1]!)).toEqual(fixtureEvents()[0]!.event);
    expect(body.endsWith('\n')).toBe(true);
  });
});

describe('bulk item classification (recorded OpenSearch responses)', () => {
  const classify = (fixture: string, subset = actions()) =>
    classifyBulkItems(loadFixture(fixture).body as BulkResponseBody, subset);

  it('counts created and updated items as indexed', () => {
    const result = classify('bulk-success');
    expect(result.indexed).toHaveLength(4);
    expect(result.retry).toEqual([]);
    expect(result.rejected).toEqual([]);
  });

  it('retries 429 and 5xx items', () => {
    expect(classify('bulk-429-items').retry.map((f) => [f.action.id.slice(-2), f.status])).toEqual([
      ['01', 429],
      ['03', 429],
    ]);
    expect(classify('bulk-partial-failure').retry.map((f) => [f.action.id.slice(-2), f.status])).toEqual([['02', 503]]);
  });

  it('rejects mapping errors for good, with the reason', () => {
    const result = classify('bulk-mapping-errors');
    expect(result.indexed.map((a) => a.id.slice(-2))).toEqual(['01']);
    expect(result.rejected.map((f) => f.reason.split(':')[0])).toEqual([
      'mapper_parsing_exception',
      'illegal_argument_exception',
      'document_parsing_exception',
    ]);
    expect(result.rejected[0]?.reason).toContain('Value [19.99] has a decimal part');
  });

  it('refuses a response that does not answer every operation', () => {
    expect(() => classify('bulk-success', actions().slice(0, 2))).toThrow(/answered 4 items for 2 operations/);
  });

  it('treats an item-level block on a read-only index as transient', () => {
    const body: BulkResponseBody = {
      errors: true,
      items: [
        {
          index: {
            status: 403,
            error: {
              type: 'cluster_block_exception',
              reason: 'index [x] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark];',
            },
          },
        },
      ],
    };
    const one = [toBulkAction(validEvent('0f8c1a52-6a3e-4c0b-9d2e-1f4b5c6d7e09', '2026-11-24T01:00:00Z'), 'p')];
    expect(classifyBulkItems(body, one).retry).toHaveLength(1);
  });
});

describe('OpenSearch endpoint signing', () => {
  it('signs AWS-managed domains and collections, and nothing else', () => {
    expect(awsSigningService('https://search-exp-abc123.eu-west-1.es.amazonaws.com')).toBe('es');
    expect(awsSigningService('https://abc123.us-east-1.aoss.amazonaws.com')).toBe('aoss');
    expect(awsSigningService('http://127.0.0.1:9200')).toBeUndefined();
    expect(awsSigningService('https://es.amazonaws.com.example.org')).toBeUndefined();
    expect(regionOfEndpoint('https://search-exp-abc123.eu-west-1.es.amazonaws.com')).toBe('eu-west-1');
    expect(regionOfEndpoint('http://127.0.0.1:9200')).toBeUndefined();
  });
});
