/**
 * Serves the GrowthBook SDK payload of a client key from the results cache tier
 * (query-api/cache: Redis shared by every task, else in-process), so traffic does not reach
 * PostgreSQL: per client key and refresh interval (default 10 s) one task reads the
 * definitions once (the cache's single flight and Redis lock), every other request is a
 * cache hit. A change to an experiment or flag, and a rotated or deleted key, is seen within
 * one interval.
 *
 *   request ──▶ cache key ["sdk-payload", clientKey, ⌊now / interval⌋]
 *                  └─ miss: connection by key (404 when none) → running experiments, flags,
 *                           last change time (PostgreSQL) → buildGrowthBookPayload → body + ETag
 *
 * Definitions left out of the payload are logged (`warn`, once per process and reason) and
 * listed by `report()` (GET /api/v1/sdk-connections/{id}/payload-report).
 *
 * @example
 *   const service = createSdkPayloadService({ database, connections, cache, logger, now });
 *   const { body, etag } = await service.payload('sdk-…');
 */
import { createHash } from 'node:crypto';
import { PipelineError } from '../../common/errors.js';
import type { ExperimentDefinition, FlagDefinition } from '../../common/experiment-definition.js';
import type { Logger } from '../../common/logger.js';
import type { ResultsCache } from '../cache/results-cache.js';
import type { Database } from '../db/database.js';
import { databaseError } from '../definitions/definition-store.js';
import { buildGrowthBookPayload, type BuiltPayload, type OmittedDefinition } from './growthbook-payload.js';
import type { SdkConnectionStore } from './sdk-connection-store.js';

/** How long a built payload is served before definitions are read again. */
export const SDK_PAYLOAD_REFRESH_SECONDS = 10;

export interface ServedPayload {
  /** The JSON body, `{ features, dateUpdated }`. */
  body: string;
  /** Strong entity tag of the body (`"…"`). */
  etag: string;
  /** True when the body came from the cache. */
  hit: boolean;
}

export interface SdkPayloadService {
  /** The payload of a client key; NOT_FOUND when no connection has it. */
  payload(clientKey: string): Promise<ServedPayload>;
  /** The payload as built now (uncached) and what it leaves out, with the reasons. */
  report(): Promise<BuiltPayload>;
}

export interface SdkPayloadServiceOptions {
  database: Database;
  connections: SdkConnectionStore;
  cache: ResultsCache;
  logger: Logger;
  now: () => Date;
  refreshSeconds?: number;
}

/** A strong ETag of a body: its SHA-256, base64url, first 27 characters (160 bits). */
export function payloadEtag(body: string): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
}

async function loadDefinitions(database: Database, now: Date): Promise<BuiltPayload> {
  try {
    const [experiments, flags, updated] = await Promise.all([
      database.reader.query<{ definition: ExperimentDefinition }>(
        `SELECT definition FROM experiments WHERE definition->>'status' = 'running' ORDER BY key`,
      ),
      database.reader.query<{ definition: FlagDefinition }>('SELECT definition FROM flags ORDER BY key'),
      // Every change writes its audit event in its own transaction: deletions move this time too.
      database.reader.query<{ date_updated: Date | null }>(
        `SELECT greatest(
           (SELECT max(updated_at) FROM experiments),
           (SELECT max(updated_at) FROM flags),
           (SELECT max(occurred_at) FROM audit_events WHERE resource_type IN ('experiment', 'flag'))
         ) AS date_updated`,
      ),
    ]);
    return buildGrowthBookPayload({
      experiments: experiments.rows.map((row) => row.definition),
      flags: flags.rows.map((row) => row.definition),
      dateUpdated: updated.rows[0]?.date_updated ?? now,
    });
  } catch (error) {
    throw databaseError(error);
  }
}

const MAX_REMEMBERED_OMISSIONS = 1_000;

/** Creates the service. */
export function createSdkPayloadService(options: SdkPayloadServiceOptions): SdkPayloadService {
  const intervalMs = (options.refreshSeconds ?? SDK_PAYLOAD_REFRESH_SECONDS) * 1000;
  const logged = new Set<string>();
  const logOmissions = (omitted: readonly OmittedDefinition[]) => {
    for (const omission of omitted) {
      const signature = JSON.stringify([omission.type, omission.key, omission.reason, omission.message]);
      if (logged.has(signature)) continue;
      if (logged.size >= MAX_REMEMBERED_OMISSIONS) logged.clear();
      logged.add(signature);
      options.logger.warn(
        { sdkPayload: { type: omission.type, key: omission.key, reason: omission.reason, path: omission.path } },
        `${omission.type} "${omission.key}" left out of the GrowthBook SDK payload (${omission.reason}): ${omission.message}`,
      );
    }
  };
  const build = async (): Promise<BuiltPayload> => {
    const built = await loadDefinitions(options.database, options.now());
    logOmissions(built.omitted);
    return built;
  };
  return {
    async payload(clientKey) {
      const bucket = Math.floor(options.now().getTime() / intervalMs);
      const { value, hit } = await options.cache.getOrCompute(
        JSON.stringify(['sdk-payload', clientKey, bucket]),
        async () => {
          const connection = await options.connections.byClientKey(clientKey);
          if (!connection) throw new PipelineError('NOT_FOUND', `no SDK connection has the client key "${clientKey}"`);
          const body = JSON.stringify((await build()).payload);
          return `${payloadEtag(body)}\n${body}`;
        },
      );
      const newline = value.indexOf('\n');
      return { etag: value.slice(0, newline), body: value.slice(newline + 1), hit };
    },
    report: build,
  };
}
