/**
 * The processors' exactly-once state store: an Amazon MemoryDB cluster of its own, apart
 * from the results cache. It holds eventId claims, each user's first-exposure segments,
 * running totals and memos, and the committed positions — state whose loss silently turns
 * returning users into new units and retried events into new counts. So:
 *
 * - durable: MemoryDB acknowledges a write once it is in its Multi-AZ transaction log, so a
 *   failover or node replacement never loses an acknowledged claim (ElastiCache replicates
 *   asynchronously and can);
 * - never evicting: `maxmemory-policy noeviction` in its own parameter group (a full node
 *   refuses writes, the processors retry; nothing disappears) — the processors check it at
 *   start-up through `INFO memory`;
 * - private: TLS only, a password-authenticated ACL user, the private subnets, and a
 *   security group (NetworkStack) that admits only the processors' group.
 *
 * MemoryDB always runs the Redis cluster protocol: clients connect as cluster clients, and a
 * script runs only if all its keys share a hash slot (else `CROSSSLOT`, even on one shard),
 * so the processors' keys need one common hash tag. One shard holds every slot on one
 * primary; the store scales vertically (node type, see cdk/README.md, "Sizing").
 *
 * @example
 *   const state = new ProcessorStateStore(this, 'ProcessorState', { config, vpc, securityGroup });
 *   stateRedisUrl(state.endpoint); // rediss://experimentation-processors:{{resolve:…}}@clustercfg….:6379
 */
import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as memorydb from 'aws-cdk-lib/aws-memorydb';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { REDIS_PORT } from './network-stack.js';
import type { PlatformConfig } from './platform-config.js';
import { resourceNames } from './resource-names.js';

/** Key of the ACL user's password inside its secret. */
export const STATE_PASSWORD_KEY = 'password';
/**
 * Engine settings of the state store. `noeviction` is the point of this store; a hash of
 * up to 256-byte values stays a compact listpack (processors/counters/README.md, "Cost":
 * users are packed into hashes keyed by userId, and a userId may be longer than the default 64 bytes).
 */
export const STATE_STORE_PARAMETERS = {
  'maxmemory-policy': 'noeviction',
  'hash-max-listpack-value': '256',
} as const;
/**
 * What the processors' user may do: every key and command except wiping the data set,
 * which is exactly the loss this store exists to prevent. (`INFO`, which the processors
 * read at start-up, stays allowed; `-@dangerous` would remove it.)
 */
export const STATE_USER_ACCESS = 'on ~* &* +@all -flushall -flushdb';

export interface ProcessorStateStoreProps {
  readonly config: PlatformConfig;
  readonly vpc: ec2.IVpc;
  /** Admits Redis only from the processors (NetworkStack `stateStore`). */
  readonly securityGroup: ec2.ISecurityGroup;
}

/** How the processors reach the store; the password stays a secret. */
export interface StateStoreEndpoint {
  /** The cluster endpoint (clients discover the nodes from it; MemoryDB always runs in cluster mode). */
  readonly host: string;
  readonly port: string;
  readonly userName: string;
  /** JSON secret with the user's password under STATE_PASSWORD_KEY. */
  readonly passwordSecret: secretsmanager.ISecret;
}

/** MemoryDB cluster (one shard, ≥ 1 replica in another AZ), its parameter and subnet groups, user and ACL. */
export class ProcessorStateStore extends Construct {
  readonly cluster: memorydb.CfnCluster;
  readonly endpoint: StateStoreEndpoint;

  constructor(scope: Construct, id: string, props: ProcessorStateStoreProps) {
    super(scope, id);
    const { config } = props;
    const names = resourceNames(config).stateStore;
    const passwordSecret = new secretsmanager.Secret(this, 'Password', {
      secretName: `${config.prefix}/processor-state/password`,
      description: 'Password of the event processors user of the MemoryDB state store',
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ username: names.user }),
        generateStringKey: STATE_PASSWORD_KEY,
        excludePunctuation: true, // embedded in STATE_REDIS_URL without escaping
        passwordLength: 64,
      },
    });
    Validations.of(passwordSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'A MemoryDB user holds two passwords at once: rotation adds the new one, redeploys the processors (their URL is resolved at deploy time), then drops the old one; a runbook step, not a rotation Lambda.',
    });
    const user = new memorydb.CfnUser(this, 'User', {
      userName: names.user,
      accessString: STATE_USER_ACCESS,
      authenticationMode: {
        Type: 'password',
        Passwords: [passwordSecret.secretValueFromJson(STATE_PASSWORD_KEY).unsafeUnwrap()],
      },
    });
    // The ACL names this user only (not the passwordless `default` user of MemoryDB's open-access ACL).
    const acl = new memorydb.CfnACL(this, 'Acl', { aclName: names.acl, userNames: [user.ref] });
    const parameterGroup = new memorydb.CfnParameterGroup(this, 'Parameters', {
      parameterGroupName: `${names.cluster}-params`,
      family: 'memorydb_redis7',
      description: 'Exactly-once processor state: never evict',
      parameters: STATE_STORE_PARAMETERS,
    });
    const subnetGroup = new memorydb.CfnSubnetGroup(this, 'Subnets', {
      subnetGroupName: `${names.cluster}-subnets`,
      description: 'Private subnets of the processor state store',
      subnetIds: props.vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }).subnetIds,
    });
    this.cluster = new memorydb.CfnCluster(this, 'Cluster', {
      clusterName: names.cluster,
      description: 'Exactly-once state of the event processors (claims, segments, totals, positions)',
      engine: 'redis',
      engineVersion: '7.1',
      nodeType: config.stateStore.nodeType,
      numShards: 1,
      numReplicasPerShard: config.stateStore.replicas,
      aclName: acl.ref,
      parameterGroupName: parameterGroup.ref,
      subnetGroupName: subnetGroup.ref,
      securityGroupIds: [props.securityGroup.securityGroupId],
      tlsEnabled: true,
      port: REDIS_PORT,
      autoMinorVersionUpgrade: true,
      snapshotRetentionLimit: config.database.backupRetentionDays,
      snapshotWindow: '04:00-05:00',
      maintenanceWindow: 'sun:05:30-sun:06:30',
    });
    if (config.retainData) {
      for (const resource of [this.cluster, acl, user, parameterGroup, subnetGroup]) {
        resource.applyRemovalPolicy(RemovalPolicy.RETAIN);
      }
      passwordSecret.applyRemovalPolicy(RemovalPolicy.RETAIN);
    }
    this.endpoint = {
      host: this.cluster.attrClusterEndpointAddress,
      port: String(REDIS_PORT),
      userName: names.user,
      passwordSecret,
    };
  }
}
