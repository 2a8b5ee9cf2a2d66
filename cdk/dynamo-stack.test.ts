import { describe, expect, it } from 'vitest';
import { Match } from 'aws-cdk-lib/assertions';
import {
  COUNTER_PARTITION_KEY,
  COUNTER_SORT_KEY,
  encodeCellKey,
  METRIC_INDEX,
  metricIndexAttributes,
} from '../common/counter-layout.js';
import { CHECKPOINT_PARTITION_KEY } from '../common/checkpoint-layout.js';
import { synthesizePlatform } from './test-support/synthesize-platform.js';

const synthesized = synthesizePlatform({ bundle: false });
const template = synthesized.template(synthesized.platform.dynamo);

describe('DynamoStack', () => {
  it('creates ExperimentCounters keyed as the processors write it, on demand, with PITR', () => {
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      TableName: 'ExperimentCounters',
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: COUNTER_PARTITION_KEY, KeyType: 'HASH' },
        { AttributeName: COUNTER_SORT_KEY, KeyType: 'RANGE' },
      ],
      AttributeDefinitions: Match.arrayWith([
        { AttributeName: COUNTER_PARTITION_KEY, AttributeType: 'S' },
        { AttributeName: COUNTER_SORT_KEY, AttributeType: 'S' },
      ]),
      Replicas: [
        { Region: synthesized.config.region, PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } },
      ],
    });
    expect(COUNTER_PARTITION_KEY).toBe('experiment_id');
    expect(COUNTER_SORT_KEY).toBe('variant_metric');
  });

  it('indexes the total cells by metric and experiment (metric-totals GSI, statistics projected)', () => {
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      TableName: 'ExperimentCounters',
      AttributeDefinitions: Match.arrayWith([{ AttributeName: 'metric_key', AttributeType: 'S' }]),
      GlobalSecondaryIndexes: [
        {
          IndexName: METRIC_INDEX.name,
          KeySchema: [
            { AttributeName: 'metric_key', KeyType: 'HASH' },
            { AttributeName: COUNTER_PARTITION_KEY, KeyType: 'RANGE' },
          ],
          Projection: {
            ProjectionType: 'INCLUDE',
            NonKeyAttributes: ['events', 'units', 'sum', 'sum_squares', 'last_event_at'],
          },
        },
      ],
    });
    // Sparse: only total cells carry the index key, so segment cells and the epoch item stay out.
    expect(metricIndexAttributes(encodeCellKey({ variantId: 'control', metricKey: 'checkout' }))).toEqual({
      metric_key: 'checkout',
    });
    expect(
      metricIndexAttributes(
        encodeCellKey({ variantId: 'control', metricKey: 'checkout', segment: { dimension: 'country', value: 'US' } }),
      ),
    ).toBeUndefined();
    expect(metricIndexAttributes('epoch')).toBeUndefined();
  });

  it('creates the checkpoint table with one item per shard', () => {
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      TableName: 'ExperimentCheckpoints',
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: CHECKPOINT_PARTITION_KEY, KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'shard_id', AttributeType: 'S' }],
    });
  });

  it('lets development stacks be destroyed but never silently drops production data', () => {
    const tables = Object.values(template.findResources('AWS::DynamoDB::GlobalTable'));
    expect(tables).toHaveLength(2);
    for (const table of tables) {
      expect(table.DeletionPolicy).toBe('Delete');
      expect(table.Properties.Replicas[0].DeletionProtectionEnabled).toBe(false);
    }
    const prod = synthesizePlatform({ bundle: false, context: { stage: 'prod' } });
    const prodTables = Object.values(prod.template(prod.platform.dynamo).findResources('AWS::DynamoDB::GlobalTable'));
    expect(prodTables).toHaveLength(2);
    for (const table of prodTables) {
      expect(table.DeletionPolicy).toBe('Retain');
      expect(table.Properties.Replicas[0]).toMatchObject({
        DeletionProtectionEnabled: true,
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      });
    }
  });
});
