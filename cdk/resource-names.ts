/**
 * Physical names shared between stacks that must not reference each other. The
 * MonitoringStack is deployed before the stacks it watches (they log into its log groups),
 * so it finds their metrics by these names instead of by CloudFormation references.
 */
import type { PlatformConfig } from './platform-config.js';

/** Names of the platform's log groups, functions and queues. */
export interface ResourceNames {
  readonly logGroups: { readonly api: string; readonly services: string; readonly errors: string };
  readonly functions: { readonly eventProcessor: string; readonly assignment: string; readonly flagEvaluation: string };
  readonly processorFailureQueue: string;
  /** The processors' MemoryDB state store: its cluster (the metrics' `ClusterName`), user and ACL. */
  readonly stateStore: { readonly cluster: string; readonly user: string; readonly acl: string };
  readonly cluster: string;
  /** Aurora cluster identifier (the metrics' `DBClusterIdentifier`). */
  readonly databaseCluster: string;
  /** ElastiCache replication group of the results cache; its first node is `<id>-001` (`CacheClusterId`). */
  readonly cache: string;
  readonly services: { readonly queryApi: string; readonly collector: string };
}

/** Derives every shared physical name from the configured prefix. */
export function resourceNames(config: Pick<PlatformConfig, 'prefix'>): ResourceNames {
  const { prefix } = config;
  return {
    logGroups: {
      api: `/${prefix}-platform/api`,
      services: `/${prefix}-platform/services`,
      errors: `/${prefix}-platform/errors`,
    },
    functions: {
      eventProcessor: `${prefix}-event-processor`,
      assignment: `${prefix}-assignment`,
      flagEvaluation: `${prefix}-flag-evaluation`,
    },
    processorFailureQueue: `${prefix}-event-processor-failures`,
    stateStore: {
      cluster: `${prefix}-processor-state`,
      user: `${prefix}-processors`,
      acl: `${prefix}-processors`,
    },
    cluster: `${prefix}-services`,
    databaseCluster: `${prefix}-metadata`,
    cache: `${prefix}-cache`,
    services: { queryApi: `${prefix}-query-api`, collector: `${prefix}-collector` },
  };
}
