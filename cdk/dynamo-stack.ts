/**
 * DynamoStack: the `ExperimentCounters` table the processors write exactly once per
 * counter and micro-batch (keys from common/counter-layout.ts) and the checkpoint table of
 * the local consumer (processors/main.ts; keys from common/checkpoint-layout.ts; in AWS the
 * Lambda mapping keeps its own position).
 * The counters table has one sparse global secondary index, `metric-totals` (METRIC_INDEX):
 * every experiment's total cells of one metric key (GET /api/v1/metrics/{metricKey}/totals).
 */
import { RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type { Construct } from 'constructs';
import { CHECKPOINT_PARTITION_KEY } from '../common/checkpoint-layout.js';
import { COUNTER_PARTITION_KEY, COUNTER_SORT_KEY, METRIC_INDEX } from '../common/counter-layout.js';
import type { PlatformConfig } from './platform-config.js';

export interface DynamoStackProps extends StackProps {
  readonly config: PlatformConfig;
}

/** On-demand tables with point-in-time recovery; retained on destroy unless the stage allows otherwise. */
export class DynamoStack extends Stack {
  readonly countersTable: dynamodb.TableV2;
  readonly checkpointTable: dynamodb.TableV2;

  constructor(scope: Construct, id: string, props: DynamoStackProps) {
    super(scope, id, props);
    const { tables, retainData } = props.config;
    const common = {
      billing: dynamodb.Billing.onDemand(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      deletionProtection: retainData,
    };
    this.countersTable = new dynamodb.TableV2(this, 'CountersTable', {
      ...common,
      tableName: tables.countersTableName,
      partitionKey: { name: COUNTER_PARTITION_KEY, type: dynamodb.AttributeType.STRING },
      sortKey: { name: COUNTER_SORT_KEY, type: dynamodb.AttributeType.STRING },
      globalSecondaryIndexes: [
        {
          indexName: METRIC_INDEX.name,
          partitionKey: { name: METRIC_INDEX.partitionKey, type: dynamodb.AttributeType.STRING },
          sortKey: { name: METRIC_INDEX.sortKey, type: dynamodb.AttributeType.STRING },
          projectionType: dynamodb.ProjectionType.INCLUDE,
          nonKeyAttributes: [...METRIC_INDEX.projectedAttributes],
        },
      ],
    });
    this.checkpointTable = new dynamodb.TableV2(this, 'CheckpointTable', {
      ...common,
      tableName: tables.checkpointTableName,
      partitionKey: { name: CHECKPOINT_PARTITION_KEY, type: dynamodb.AttributeType.STRING },
    });
  }
}
