import { describe, expect, it } from 'vitest';
import { loadPlatformConfig } from './platform-config.js';

const fromContext = (values: Record<string, unknown>) => (key: string) => values[key];

describe('loadPlatformConfig', () => {
  it('defaults to the documented development platform', () => {
    const config = loadPlatformConfig(fromContext({}), {});
    expect(config).toMatchObject({
      stage: 'dev',
      streams: { eventsStreamName: 'ExperimentEvents', deadLetterStreamName: 'ExperimentEvents-dlq', shardCount: 2 },
      tables: { countersTableName: 'ExperimentCounters', checkpointTableName: 'ExperimentCheckpoints' },
      database: {
        instanceType: 'r6g.large',
        readers: 1,
        backupRetentionDays: 7,
        cacheNodeType: 'cache.t3.medium',
        cacheReplicas: 0,
        applicationUser: 'experimentation_app',
      },
      services: { cpu: 2048, memoryMiB: 4096, minTasks: 2, maxTasks: 10 },
      openSearch: { dataNodes: 1, masterNodes: 0, dataNodeInstanceType: 't3.medium.search' },
      stateStore: { nodeType: 'db.t4g.small', replicas: 1 },
      staticSiteSource: 'query-api/ui/dist',
      retainData: false,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('uses the services’ own variables for names, so infrastructure and code agree', () => {
    const config = loadPlatformConfig(fromContext({}), {
      KINESIS_STREAM_NAME: 'Events-test',
      DYNAMODB_TABLE_NAME: 'Counters-test',
      OPENSEARCH_INDEX_PREFIX: 'events-test',
    });
    expect(config.streams.eventsStreamName).toBe('Events-test');
    expect(config.tables.countersTableName).toBe('Counters-test');
    expect(config.openSearch.indexPrefix).toBe('events-test');
  });

  it('lets context win over environment variables, which win over stage defaults', () => {
    const env = { KINESIS_SHARD_COUNT: '4', NAT_GATEWAYS: '2' };
    expect(loadPlatformConfig(fromContext({}), env).streams.shardCount).toBe(4);
    expect(loadPlatformConfig(fromContext({ shardCount: 8 }), env).streams.shardCount).toBe(8);
    expect(loadPlatformConfig(fromContext({}), env).network.natGateways).toBe(2);
    expect(loadPlatformConfig(fromContext({}), {}).network.natGateways).toBe(1);
  });

  it('sizes production for availability and keeps its data', () => {
    const config = loadPlatformConfig(fromContext({ stage: 'prod' }), {});
    expect(config).toMatchObject({
      network: { natGateways: 2 },
      openSearch: { dataNodes: 2, masterNodes: 3 },
      stateStore: { nodeType: 'db.r7g.xlarge', replicas: 1 },
      retainData: true,
    });
  });

  it('sizes the state store per stage, from context or STATE_NODE_TYPE, always with a replica', () => {
    expect(
      loadPlatformConfig(fromContext({ stage: 'prod' }), { STATE_NODE_TYPE: 'db.r7g.2xlarge' }).stateStore,
    ).toEqual({
      nodeType: 'db.r7g.2xlarge',
      replicas: 1,
    });
    expect(loadPlatformConfig(fromContext({ stateNodeType: 'db.r7g.large', stateReplicas: 2 }), {}).stateStore).toEqual(
      {
        nodeType: 'db.r7g.large',
        replicas: 2,
      },
    );
    expect(() => loadPlatformConfig(fromContext({ stateNodeType: 'cache.r7g.large' }), {})).toThrow(
      /stateNodeType \(STATE_NODE_TYPE\)=cache\.r7g\.large: expected a MemoryDB node type/,
    );
    expect(() => loadPlatformConfig(fromContext({ stateReplicas: 0 }), {})).toThrow(/stateReplicas=0/);
  });

  it('takes the optional integrations’ secrets as complete ARNs only, and a plain role name', () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:experimentation/slack-AbC123';
    expect(
      loadPlatformConfig(fromContext({}), { SLACK_BOT_TOKEN_SECRET_ARN: arn }).services.optionalSecretArns,
    ).toEqual({ slackBotToken: arn, sendgridApiKey: undefined, anthropicApiKey: undefined });
    expect(() =>
      loadPlatformConfig(fromContext({ anthropicApiKeySecretArn: 'arn:aws:secretsmanager:eu-west-1:1:secret:x' }), {}),
    ).toThrow(/anthropicApiKeySecretArn \(ANTHROPIC_API_KEY_SECRET_ARN\)=.*complete ARN/);
    expect(() => loadPlatformConfig(fromContext({ databaseApplicationUser: 'App-User' }), {})).toThrow(
      /databaseApplicationUser \(DATABASE_APPLICATION_USER\)=App-User/,
    );
  });

  it('rejects unusable values naming the setting', () => {
    expect(() => loadPlatformConfig(fromContext({ stage: 'staging' }), {})).toThrow(/stage .*dev or prod/);
    expect(() => loadPlatformConfig(fromContext({ shardCount: 'two' }), {})).toThrow(
      /shardCount \(KINESIS_SHARD_COUNT\)=two/,
    );
    expect(() => loadPlatformConfig(fromContext({ serviceMinTasks: 12 }), {})).toThrow(/serviceMinTasks=12/);
    expect(() =>
      loadPlatformConfig(fromContext({ processorMaxRecordAgeHours: 100, streamRetentionHours: 48 }), {}),
    ).toThrow(/processorMaxRecordAgeHours/);
    expect(() => loadPlatformConfig(fromContext({ natGateways: { count: 1 } }), {})).toThrow(/natGateways/);
  });
});
