import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { synthesizePlatform } from './test-support/synthesize-platform.js';

const synthesized = synthesizePlatform({ bundle: false });
const template = synthesized.template(synthesized.platform.database);

describe('DatabaseStack', () => {
  it('runs Aurora PostgreSQL with a writer and one reader on db.r6g.large', () => {
    template.hasResourceProperties('AWS::RDS::DBCluster', {
      Engine: 'aurora-postgresql',
      StorageEncrypted: true,
      EnableIAMDatabaseAuthentication: true,
      BackupRetentionPeriod: 7,
      EnableCloudwatchLogsExports: ['postgresql'],
    });
    const instances = Object.values(template.findResources('AWS::RDS::DBInstance'));
    expect(instances).toHaveLength(2);
    for (const instance of instances) expect(instance.Properties.DBInstanceClass).toBe('db.r6g.large');
    template.hasResourceProperties('AWS::RDS::DBClusterParameterGroup', {
      Parameters: Match.objectLike({ 'rds.force_ssl': '1' }),
    });
    template.resourceCountIs('AWS::RDS::DBSubnetGroup', 1);
  });

  it('keeps the credentials in Secrets Manager, rotated monthly', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: Match.objectLike({ GenerateStringKey: 'password' }),
    });
    template.hasResourceProperties('AWS::SecretsManager::RotationSchedule', {
      RotationRules: { ScheduleExpression: 'rate(30 days)' },
    });
    const [cluster] = Object.values(template.findResources('AWS::RDS::DBCluster'));
    expect(JSON.stringify(cluster?.Properties.MasterUserPassword)).toContain('resolve:secretsmanager');
  });

  it('runs Redis on cache.t3.medium, multi-AZ, encrypted, with an AUTH token from Secrets Manager', () => {
    template.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
      CacheNodeType: 'cache.t3.medium',
      Engine: 'redis',
      MultiAZEnabled: true,
      AutomaticFailoverEnabled: true,
      AtRestEncryptionEnabled: true,
      TransitEncryptionEnabled: true,
      ReplicasPerNodeGroup: 1,
      SnapshotRetentionLimit: 7,
      AuthToken: Match.objectLike({
        'Fn::Join': Match.arrayWith([Match.arrayWith([Match.stringLikeRegexp('resolve:secretsmanager')])]),
      }),
    });
    template.resourceCountIs('AWS::ElastiCache::SubnetGroup', 1);
    template.hasResourceProperties('AWS::ElastiCache::ParameterGroup', { CacheParameterGroupFamily: 'redis7' });
  });

  it('takes instance sizes from context for development stacks', () => {
    const small = synthesizePlatform({
      bundle: false,
      context: { databaseInstanceType: 't4g.medium', cacheNodeType: 'cache.t4g.micro', databaseReaders: '0' },
    });
    const smallTemplate = small.template(small.platform.database);
    smallTemplate.resourcePropertiesCountIs('AWS::RDS::DBInstance', { DBInstanceClass: 'db.t4g.medium' }, 1);
    smallTemplate.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', { CacheNodeType: 'cache.t4g.micro' });
  });
});
