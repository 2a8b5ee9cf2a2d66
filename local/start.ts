/**
 * `npm start`: the whole pipeline on one machine, on embedded defaults.
 *
 *   kinesalite + dynalite (child processes)  ← streams and tables created if missing
 *   embedded PostgreSQL (PGlite over the pg wire) when DATABASE_URL is unset
 *   collector (ingest/server.ts)  ─▶ Kinesis ─▶ processors (processors/main.ts) ─▶ DynamoDB counters
 *   query API (query-api/server.ts) ◀─ counters + PostgreSQL
 *   monitor: results snapshots and alerts every minute — inside the query API on the embedded
 *     database (MONITOR_IN_PROCESS), else its own process (query-api/monitor/cli.ts watch)
 *
 * Each service runs in its own process, so two cores are used. Data lives in
 * `.local-data/` (or `--data-dir <path>`) and survives restarts, crashes included: the
 * streams, counters, checkpoints and experiments, and the processors' exactly-once state
 * (eventId claims, first-exposure segments, per-user totals) in the embedded state store
 * `<data-dir>/state` — unless STATE_REDIS_URL or REDIS_URL is set, then it lives in Redis.
 * `npm start -- --fresh` wipes the data first, `--in-memory` keeps nothing. Ctrl-C stops
 * everything. Set AWS_ENDPOINT_URL_KINESIS / AWS_ENDPOINT_URL_DYNAMODB / DATABASE_URL /
 * REDIS_URL to use services you run yourself instead of the embedded ones; INGEST_PORT,
 * QUERY_API_PORT and PROCESSORS_METRICS_PORT move the listeners (kinesalite, dynalite and
 * PGlite take free loopback ports). The query API's audit signing key is AUDIT_HMAC_SECRET
 * or one generated once into `<data-dir>/audit-hmac-secret` (local/audit-secret.ts). The
 * processors read experiment definitions (counter plans) from the local query API, with a key
 * made for the run when the API checks keys (local/processor-definitions-env.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Command } from 'commander';
import { loadConfig } from '../common/config.js';
import { localAuditSecret } from './audit-secret.js';
import { embeddedDatabaseEnv, startEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres.js';
import { processorsNodeArgs } from '../processors/node-args.js';
import { processorDefinitionsEnv } from './processor-definitions-env.js';
import { provisionPipeline } from './provision.js';
import { startStandIn, type StandIn } from './stand-ins.js';

const DEFAULT_DATA_DIR = new URL('../.local-data/', import.meta.url).pathname;
/** What `npm start` keeps under the data dir; `--fresh` removes exactly these (never the dir a user named). */
const DATA_SUBDIRS = { kinesis: 'kinesis', dynamodb: 'dynamodb', postgres: 'postgres', state: 'state' } as const;
const ROOT = new URL('../', import.meta.url).pathname;
const READY_TIMEOUT_MS = 60_000;

interface Service {
  name: string;
  child: ChildProcess;
}

const say = (line: string): void => void process.stdout.write(`${line}\n`);

/** The address to reach a listener bound to `host` from this machine (a wildcard bind: loopback). */
const reachable = (host: string): string => (host === '0.0.0.0' ? '127.0.0.1' : host);

function startService(
  name: string,
  script: string,
  env: NodeJS.ProcessEnv,
  options: { args?: string[]; nodeArgs?: string[] } = {},
): Service {
  const child = spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), '--import', 'tsx', script, ...(options.args ?? [])],
    {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const label = `[${name}]`.padEnd(13);
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => say(`${label} ${line}`));
  }
  return { name, child };
}

async function waitForHealth(name: string, url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode} during start-up`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${name} did not answer ${url} within ${READY_TIMEOUT_MS / 1000} s`);
}

async function stopService(service: Service): Promise<void> {
  const { child } = service;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(killer);
}

/**
 * The processors' exactly-once state store for this run, as the variables config reads:
 * without a Redis URL, the embedded store in `<data-dir>/state` (in-process with
 * `--in-memory`); with STATE_REDIS_URL or REDIS_URL, nothing is set, so config chooses
 * Redis. Variables the user set themselves win.
 *
 * @example processorStateEnv(process.env, { persist: true, dataDir: '/tmp/d' }) // → embedded in /tmp/d/state
 */
function processorStateEnv(env: NodeJS.ProcessEnv, run: { persist: boolean; dataDir: string }): NodeJS.ProcessEnv {
  const redis = env.STATE_REDIS_URL || env.REDIS_URL;
  const store = env.PROCESSOR_STATE_STORE || (redis ? undefined : run.persist ? 'embedded' : 'in-process');
  if (!store) return {};
  if (store !== 'embedded') return { PROCESSOR_STATE_STORE: store };
  return {
    PROCESSOR_STATE_STORE: store,
    PROCESSOR_STATE_DIR: env.PROCESSOR_STATE_DIR || join(run.dataDir, DATA_SUBDIRS.state),
  };
}

/** The banner's line for the processors' state store. */
function describeStateStore(env: NodeJS.ProcessEnv): string {
  const store = env.PROCESSOR_STATE_STORE || 'redis';
  if (store === 'embedded') return `embedded, ${env.PROCESSOR_STATE_DIR ?? ''}`;
  if (store === 'redis') return `redis (${env.STATE_REDIS_URL ? 'STATE_REDIS_URL' : 'REDIS_URL'})`;
  return `${store} (lost when the processors stop)`;
}

async function main(): Promise<void> {
  const options = new Command()
    .name('npm start --')
    .description('Runs the whole pipeline locally on embedded defaults.')
    .option(
      '--data-dir <path>',
      'where streams, counters, checkpoints, experiments and processor state live',
      DEFAULT_DATA_DIR,
    )
    .option('--fresh', 'wipe the data dir first (streams, counters, checkpoints, experiments, processor state)')
    .option('--in-memory', 'keep nothing on disk')
    .parse()
    .opts<{ dataDir: string; fresh?: boolean; inMemory?: boolean }>();

  // Validate the environment before starting anything: a bad value names its variable.
  const base = loadConfig(process.env);
  const dataDir = resolve(options.dataDir);
  const dataPath = (name: keyof typeof DATA_SUBDIRS): string => join(dataDir, DATA_SUBDIRS[name]);
  if (options.fresh) {
    await Promise.all(
      Object.values(DATA_SUBDIRS).map((name) => rm(join(dataDir, name), { recursive: true, force: true })),
    );
  }
  const persist = !options.inMemory;
  if (persist) await mkdir(dataDir, { recursive: true });

  const standIns: StandIn[] = [];
  const services: Service[] = [];
  let postgres: EmbeddedPostgres | undefined;
  let stopping = false;

  const shutdown = async (exitCode: number): Promise<never> => {
    if (!stopping) {
      stopping = true;
      say('\nstopping: services first (they finish and checkpoint), then the stand-ins…');
      await Promise.all([...services].reverse().map(stopService));
      await postgres?.stop();
      await Promise.all(standIns.map((standIn) => standIn.stop()));
      say('stopped.');
    }
    process.exit(exitCode);
  };
  process.once('SIGINT', () => void shutdown(0));
  process.once('SIGTERM', () => void shutdown(0));

  try {
    const env: NodeJS.ProcessEnv = {
      // The collector writes the compact record format unless told otherwise (ingest/README.md).
      INGEST_RECORD_FORMAT: 'compact',
      ...process.env,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    if (!base.aws.kinesisEndpoint) {
      const kinesalite = await startStandIn('kinesalite', persist ? { dataPath: dataPath('kinesis') } : {});
      standIns.push(kinesalite);
      env.AWS_ENDPOINT_URL_KINESIS = kinesalite.endpoint;
    }
    if (!base.aws.dynamodbEndpoint) {
      const dynalite = await startStandIn('dynalite', persist ? { dataPath: dataPath('dynamodb') } : {});
      standIns.push(dynalite);
      env.AWS_ENDPOINT_URL_DYNAMODB = dynalite.endpoint;
    }
    if (!base.database.url) {
      postgres = await startEmbeddedPostgres(persist ? { dataDir: dataPath('postgres') } : {});
      Object.assign(env, embeddedDatabaseEnv(postgres.url, env));
    }
    const audit = await localAuditSecret(env, { persist, dataDir });
    env.AUDIT_HMAC_SECRET = audit.secret;
    const config = loadConfig(env);
    await provisionPipeline(config);

    services.push(startService('collector', 'ingest/server.ts', env));
    const stateEnv = processorStateEnv(env, { persist, dataDir });
    // The processors read counter plans (ratio, capped, CUPED sums) from the local query API;
    // until it is up they wait (retriable), never counting without a plan.
    const definitions = processorDefinitionsEnv(
      env,
      `http://${reachable(config.queryApi.host)}:${config.queryApi.port}`,
      () => randomBytes(24).toString('hex'),
    );
    services.push(
      startService(
        'processors',
        'processors/main.ts',
        { ...env, ...stateEnv, ...definitions.processors },
        { nodeArgs: processorsNodeArgs(env) },
      ),
    );
    const processorsMetricsUrl = `http://${reachable(config.processors.metricsHost)}:${config.processors.metricsPort}/metrics`;
    const monitorEnv: NodeJS.ProcessEnv = {
      PROCESSORS_METRICS_URLS: env.PROCESSORS_METRICS_URLS || processorsMetricsUrl,
    };
    // On the embedded database the monitor runs inside the query API, on its pool of one: PGlite
    // serves every connection from one session, which a second process must not share
    // (query-api/monitor/monitor-in-process.ts). On PostgreSQL it is its own process, below.
    const monitorInProcess = postgres !== undefined;
    const queryApiEnv = {
      ...(monitorInProcess ? { ...env, ...monitorEnv, MONITOR_IN_PROCESS: 'true' } : env),
      ...definitions.queryApi,
    };
    services.push(startService('query-api', 'query-api/server.ts', queryApiEnv));
    for (const service of services) {
      service.child.once('exit', (code, signal) => {
        if (stopping) return;
        say(`${service.name} exited unexpectedly (code ${code}, signal ${signal}); stopping everything.`);
        void shutdown(1);
      });
    }
    const collectorUrl = `http://${reachable(config.ingest.host)}:${config.ingest.port}`;
    const queryUrl = `http://${reachable(config.queryApi.host)}:${config.queryApi.port}`;
    await waitForHealth('collector', `${collectorUrl}/health`, (services[0] as Service).child);
    await waitForHealth('query-api', `${queryUrl}/health`, (services[2] as Service).child);
    // With PostgreSQL: the monitor (snapshots, alerts) every MONITOR_INTERVAL seconds as its own
    // process, once the query API has migrated (query-api/monitor/README.md).
    if (!monitorInProcess) {
      const monitorService = startService(
        'monitor',
        'query-api/monitor/cli.ts',
        { ...env, ...monitorEnv },
        { args: ['watch'] },
      );
      services.push(monitorService);
      monitorService.child.once('exit', (code, signal) => {
        if (stopping) return;
        say(`monitor exited unexpectedly (code ${code}, signal ${signal}); stopping everything.`);
        void shutdown(1);
      });
    }

    say(
      [
        '',
        'The pipeline is running.',
        `  collector   ${collectorUrl}   POST /api/v1/events · docs ${collectorUrl}/docs · ${collectorUrl}/metrics`,
        `  results UI  ${queryUrl}/ui/   experiments, results, segments (open it in a browser)`,
        `  query API   ${queryUrl}   ${queryUrl}/docs`,
        `  processors  ${processorsMetricsUrl} · definitions from ${definitions.processors.PROCESSOR_DEFINITIONS_API_URL}${definitions.generatedKey ? ' (key made for this run)' : ''}`,
        `  monitor     ${monitorInProcess ? 'in the query API' : 'own process'}, every ${config.monitor.runIntervalMs / 1000} s: snapshots, alerts (Slack ${config.monitor.slack.botToken ? 'on' : 'off'}, email ${config.monitor.sendgrid.apiKey && config.monitor.sendgrid.from ? 'on' : 'off'}); history ${queryUrl}/api/v1/experiments/<key>/results/history`,
        `  kinesis     ${env.AWS_ENDPOINT_URL_KINESIS}   stream ${config.kinesis.streamName} (${config.kinesis.shardCount} shards, ${config.ingest.recordFormat} records), dead letters ${config.kinesis.dlqStreamName}`,
        `  dynamodb    ${env.AWS_ENDPOINT_URL_DYNAMODB}   tables ${config.dynamodb.countersTable}, ${config.dynamodb.checkpointTable}`,
        `  postgres    ${postgres ? 'embedded (PGlite)' : 'DATABASE_URL'}`,
        `  opensearch  ${config.opensearch.endpoint ?? 'off (set OPENSEARCH_ENDPOINT to index raw events)'}`,
        `  state       ${describeStateStore({ ...env, ...stateEnv })}`,
        `  audit key   ${audit.source}`,
        `  data        ${persist ? dataDir : 'in memory'}`,
        '',
        'Try:',
        `  curl -X POST ${collectorUrl}/api/v1/events -H 'content-type: application/json' \\`,
        `    -d '[{"type":"impression","experimentId":"checkout","variantId":"control","userId":"u-1"}]'`,
        '',
        'Ctrl-C stops everything.',
      ].join('\n'),
    );
  } catch (error) {
    say(`start-up failed: ${error instanceof Error ? error.message : String(error)}`);
    await shutdown(1);
  }
}

// The launcher targets local stand-ins; the SDK's Node-version notice is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
main().catch((error: unknown) => {
  process.stderr.write(`npm start failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
