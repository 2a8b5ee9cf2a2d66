import { describe, expect, it } from 'vitest';
import { COUNTER_PARTITION_KEY, COUNTER_SORT_KEY } from '../common/counter-layout.js';
import { CHECKPOINT_PARTITION_KEY } from './dynamo-stack.js';
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
      AttributeDefinitions: [
        { AttributeName: COUNTER_PARTITION_KEY, AttributeType: 'S' },
        { AttributeName: COUNTER_SORT_KEY, AttributeType: 'S' },
      ],
      Replicas: [
        { Region: synthesized.config.region, PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } },
      ],
    });
    expect(COUNTER_PARTITION_KEY).toBe('experiment_id');
    expect(COUNTER_SORT_KEY).toBe('variant_metric');
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
    for (const table of tables) expect(table.DeletionPolicy).toBe('Delete');
  });
});
