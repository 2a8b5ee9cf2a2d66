import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { synthesizePlatform } from './test-support/synthesize-platform.js';

const synthesized = synthesizePlatform({ bundle: false });
const template = synthesized.template(synthesized.platform.database);
const prod = synthesizePlatform({ bundle: false, context: { stage: 'prod' } });
const prodTemplate = prod.template(prod.platform.database);

type Resource = { Properties: Record<string, unknown>; DeletionPolicy?: string };

/** The single resource of a type in a template, as [logical id, resource]. */
function single(type: string, from = template): [string, Resource] {
  const entries = Object.entries(from.findResources(type)) as [string, Resource][];
  expect(entries, type).toHaveLength(1);
  return entries[0] as [string, Resource];
}

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

  it('runs the results cache as a single cache.t3.medium node by default, encrypted, with an AUTH token', () => {
    template.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
      ReplicationGroupId: 'experimentation-cache',
      CacheNodeType: 'cache.t3.medium',
      Engine: 'redis',
      NumNodeGroups: 1,
      ReplicasPerNodeGroup: 0,
      MultiAZEnabled: false,
      AutomaticFailoverEnabled: false,
      AtRestEncryptionEnabled: true,
      TransitEncryptionEnabled: true,
      SnapshotRetentionLimit: 7,
      AuthToken: Match.objectLike({
        'Fn::Join': Match.arrayWith([Match.arrayWith([Match.stringLikeRegexp('resolve:secretsmanager')])]),
      }),
    });
    template.resourceCountIs('AWS::ElastiCache::SubnetGroup', 1);
    template.hasResourceProperties('AWS::ElastiCache::ParameterGroup', { CacheParameterGroupFamily: 'redis7' });
  });

  it('adds replicas with Multi-AZ failover to the cache when cacheReplicas is set', () => {
    const replicated = synthesizePlatform({ bundle: false, context: { cacheReplicas: '1' } });
    replicated.template(replicated.platform.database).hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
      ReplicasPerNodeGroup: 1,
      MultiAZEnabled: true,
      AutomaticFailoverEnabled: true,
    });
  });

  it('snapshots Aurora on delete with deletion protection in production, and lets dev go', () => {
    const [, devCluster] = single('AWS::RDS::DBCluster');
    expect(devCluster.DeletionPolicy).toBe('Delete');
    expect(devCluster.Properties.DeletionProtection).toBe(false);
    const [, prodCluster] = single('AWS::RDS::DBCluster', prodTemplate);
    expect(prodCluster.DeletionPolicy).toBe('Snapshot');
    expect((prodCluster as { UpdateReplacePolicy?: string }).UpdateReplacePolicy).toBe('Snapshot');
    expect(prodCluster.Properties.DeletionProtection).toBe(true);
    expect(prodCluster.Properties.BackupRetentionPeriod).toBe(7);
  });

  it('keeps the processors’ state in a MemoryDB cluster of its own that never evicts, with TLS and a replica', () => {
    const [, cluster] = single('AWS::MemoryDB::Cluster');
    const [parametersId, parameters] = single('AWS::MemoryDB::ParameterGroup');
    expect(cluster.Properties.ParameterGroupName).toEqual({ Ref: parametersId });
    expect(parameters.Properties.Family).toBe('memorydb_redis7');
    expect(parameters.Properties.Parameters).toMatchObject({ 'maxmemory-policy': 'noeviction' });
    expect(cluster.Properties).toMatchObject({
      ClusterName: 'experimentation-processor-state',
      Engine: 'redis',
      TLSEnabled: true,
      NumShards: 1,
      NodeType: 'db.t4g.small',
      SnapshotRetentionLimit: 7,
    });
    // Multi-AZ: MemoryDB spreads a shard's nodes over the subnet group's zones; a replica is what it fails over to.
    expect(cluster.Properties.NumReplicasPerShard).toBeGreaterThanOrEqual(1);
    // The results cache keeps its own (evicting) parameter group; the state shares nothing with it.
    template.hasResourceProperties('AWS::ElastiCache::ParameterGroup', {
      Properties: { 'maxmemory-policy': 'volatile-lru' },
    });
  });

  it('places the state store in the private subnets behind the group that admits only the processors', () => {
    const [, cluster] = single('AWS::MemoryDB::Cluster');
    const [subnetsId, subnets] = single('AWS::MemoryDB::SubnetGroup');
    expect(cluster.Properties.SubnetGroupName).toEqual({ Ref: subnetsId });
    const subnetIds = subnets.Properties.SubnetIds as unknown[];
    expect(subnetIds).toHaveLength(2);
    for (const subnet of subnetIds) expect(JSON.stringify(subnet)).toMatch(/privateSubnet/);
    const groups = cluster.Properties.SecurityGroupIds as unknown[];
    expect(groups).toHaveLength(1);
    expect(JSON.stringify(groups[0])).toMatch(/ExportsOutputFnGetAttStateStoreSecurityGroup/);
  });

  it('lets only an ACL user with a generated password in, and never lets it wipe the state', () => {
    const [, cluster] = single('AWS::MemoryDB::Cluster');
    const [aclId, acl] = single('AWS::MemoryDB::ACL');
    const [userId, user] = single('AWS::MemoryDB::User');
    expect(cluster.Properties.ACLName).toEqual({ Ref: aclId });
    expect(acl.Properties.UserNames).toEqual([{ Ref: userId }]);
    expect(user.Properties.UserName).toBe('experimentation-processors');
    expect(user.Properties.AccessString).toMatch(/^on /);
    expect(user.Properties.AccessString).toMatch(/-flushall/);
    expect(user.Properties.AccessString).toMatch(/-flushdb/);
    const authentication = user.Properties.AuthenticationMode as { Type: string; Passwords: unknown[] };
    expect(authentication.Type).toBe('password');
    const secrets = template.findResources('AWS::SecretsManager::Secret', {
      Properties: { Name: 'experimentation/processor-state/password' },
    });
    const [secretId] = Object.keys(secrets);
    expect(JSON.stringify(authentication.Passwords)).toContain('resolve:secretsmanager');
    expect(JSON.stringify(authentication.Passwords)).toContain(`"Ref":"${secretId}"`);
  });

  it('takes instance sizes from context for development stacks', () => {
    const small = synthesizePlatform({
      bundle: false,
      context: {
        databaseInstanceType: 't4g.medium',
        cacheNodeType: 'cache.t4g.micro',
        databaseReaders: '0',
        stateNodeType: 'db.r7g.large',
        stateReplicas: '2',
      },
    });
    const smallTemplate = small.template(small.platform.database);
    smallTemplate.resourcePropertiesCountIs('AWS::RDS::DBInstance', { DBInstanceClass: 'db.t4g.medium' }, 1);
    smallTemplate.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', { CacheNodeType: 'cache.t4g.micro' });
    smallTemplate.hasResourceProperties('AWS::MemoryDB::Cluster', { NodeType: 'db.r7g.large', NumReplicasPerShard: 2 });
  });

  it('sizes the production state store for 5 M users and keeps it on stack deletion', () => {
    const [, cluster] = single('AWS::MemoryDB::Cluster', prodTemplate);
    expect(cluster.Properties.NodeType).toBe('db.r7g.xlarge');
    expect(cluster.DeletionPolicy).toBe('Retain');
    expect(single('AWS::MemoryDB::User', prodTemplate)[1].DeletionPolicy).toBe('Retain');
  });
});
