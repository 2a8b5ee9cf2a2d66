/**
 * `npm run bench -- counter-writes`: what one counter write costs through each client of the
 * cell writer (processors/counters/dynamo-cell-writer.ts), side by side in one run, against a
 * private dynalite:
 *
 *   SDK client    @aws-sdk/client-dynamodb as the processors built it before (keep-alive agent,
 *                 `cacheMiddleware`): the reference
 *   JSON client   common/dynamo-item-client.ts (DynamoDB's JSON protocol, `aws4` signing), what
 *                 the processors use now
 *
 * Each round writes `--cells` new counter cells of `--contributions` records each through
 * `writeCellDeltas` (the same inputs for both clients, `--concurrency` requests in flight) and
 * counts this process's CPU (`process.cpuUsage`), dynalite's CPU (/proc/<pid>/stat) and the wall
 * time per request. The clients alternate for `--rounds` rounds; the table keeps each client's
 * median round. Every cell is read back afterwards and compared with what was written.
 */
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { createDynamoClient, createDynamoItemClient } from '../../common/aws-clients.js';
import { COUNTER_PARTITION_KEY, COUNTER_SORT_KEY } from '../../common/counter-layout.js';
import { sdkItemClient, type DynamoItemClient } from '../../common/dynamo-item-client.js';
import { ensureCountersTable } from '../../local/provision.js';
import { startStandIn } from '../../local/stand-ins.js';
import { writeCellDeltas } from '../../processors/counters/merged-cell-writes.js';
import { contributionCell, oneEventContribution } from '../../processors/counters/test-support/contribution-cells.js';
import { benchEnvironment, type BenchReport, type BenchRow } from '../report.js';
import type { BenchScenario } from '../scenario.js';
import { cpuSecondsOf } from '../support/child-service.js';

const SHARD = 'shardId-000000000000';

interface RoundResult {
  clientCpuUs: number;
  dynaliteCpuUs: number;
  wallUs: number;
  requests: number;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
};

export const counterWritesScenario: BenchScenario = {
  name: 'counter-writes',
  description: 'CPU per counter write: the AWS SDK client against the JSON client, against a private dynalite',
  options: [
    { flags: '--cells <n>', description: 'cells written per round (one UpdateItem each)', defaultValue: '3000' },
    { flags: '--contributions <n>', description: 'records per cell', defaultValue: '5' },
    { flags: '--concurrency <n>', description: 'requests in flight (PROCESSOR_WRITE_CONCURRENCY)', defaultValue: '16' },
    { flags: '--rounds <n>', description: 'rounds per client, alternating', defaultValue: '5' },
  ],
  async run({ options, progress, command }) {
    const cellCount = Number(options.cells);
    const contributions = Number(options.contributions);
    const concurrency = Number(options.concurrency);
    const rounds = Number(options.rounds);
    const started = Date.now();
    const dynalite = await startStandIn('dynalite');
    const config = { aws: { region: 'us-east-1', dynamodbEndpoint: dynalite.endpoint } };
    const dynamo = createDynamoClient(config, { maxSockets: concurrency * 2, cacheMiddleware: true });
    const clients: { name: string; items: DynamoItemClient }[] = [
      { name: 'SDK client (@aws-sdk/client-dynamodb, cacheMiddleware)', items: sdkItemClient(dynamo) },
      {
        name: 'JSON client (common/dynamo-item-client.ts)',
        items: createDynamoItemClient(config, dynamo, { maxSockets: concurrency * 2 }),
      },
    ];
    const tableName = 'bench-counter-writes';
    const results = new Map<string, RoundResult[]>(clients.map((client) => [client.name, []]));
    const written: { experimentId: string; sortKey: string }[] = [];
    try {
      await ensureCountersTable(dynamo, tableName, { metricIndex: false });
      // A warm-up round per client (sockets, JIT), not measured.
      for (let round = -1; round < rounds; round++) {
        for (const [index, client] of clients.entries()) {
          const experimentId = `bench-${round + 1}-${index}`;
          const cells = Array.from({ length: cellCount }, (_, cell) =>
            contributionCell({
              experimentId,
              sortKey: `control#m${cell % 10}#segment=${cell}`,
              contributions: Array.from({ length: contributions }, (__, record) => oneEventContribution(record + 1)),
            }),
          );
          const cpuBefore = process.cpuUsage();
          const dynaliteBefore = cpuSecondsOf(dynalite.process.pid) ?? 0;
          const wallBefore = performance.now();
          const { requests } = await writeCellDeltas(
            { dynamo, items: client.items, tableName, writeConcurrency: concurrency },
            SHARD,
            cells,
          );
          const wallUs = (performance.now() - wallBefore) * 1000;
          const cpu = process.cpuUsage(cpuBefore);
          const dynaliteUs = ((cpuSecondsOf(dynalite.process.pid) ?? 0) - dynaliteBefore) * 1e6;
          if (round >= 0) {
            results.get(client.name)?.push({
              clientCpuUs: (cpu.user + cpu.system) / requests,
              dynaliteCpuUs: dynaliteUs / requests,
              wallUs: wallUs / requests,
              requests,
            });
            written.push({ experimentId, sortKey: `control#m0#segment=0` });
          }
          progress((round + 1 + (index + 1) / clients.length) / (rounds + 1), client.name);
        }
      }
      // What was written is what the cells hold: `contributions` events in each.
      for (const { experimentId, sortKey } of written) {
        const { Item } = await dynamo.send(
          new GetItemCommand({
            TableName: tableName,
            Key: { [COUNTER_PARTITION_KEY]: { S: experimentId }, [COUNTER_SORT_KEY]: { S: sortKey } },
            ConsistentRead: true,
          }),
        );
        if (Item?.events?.N !== String(contributions)) {
          throw new Error(`cell ${experimentId}/${sortKey} holds ${Item?.events?.N} events, not ${contributions}`);
        }
      }
    } finally {
      for (const client of clients) client.items.close();
      dynamo.destroy();
      await dynalite.stop();
    }
    const rows: BenchRow[] = clients.map(({ name }) => {
      const runs = results.get(name) ?? [];
      return {
        name,
        metrics: {
          'client CPU µs/request': median(runs.map((run) => run.clientCpuUs)),
          'dynalite CPU µs/request': median(runs.map((run) => run.dynaliteCpuUs)),
          'wall µs/request': median(runs.map((run) => run.wallUs)),
          'requests per round': runs[0]?.requests ?? 0,
        },
      };
    });
    const [sdk, json] = rows.map((row) => row.metrics);
    const ratios = {
      'SDK / JSON client, client CPU per request':
        Number(sdk?.['client CPU µs/request']) / Number(json?.['client CPU µs/request']),
      'SDK / JSON client, wall time per request': Number(sdk?.['wall µs/request']) / Number(json?.['wall µs/request']),
    };
    return {
      scenario: 'counter-writes',
      title: 'Counter writes: CPU per UpdateItem through the AWS SDK and through the JSON client',
      command,
      startedAt: new Date(started).toISOString(),
      durationMs: Date.now() - started,
      environment: benchEnvironment(),
      parameters: { cells: cellCount, contributions, concurrency, rounds },
      rows,
      ratios,
      targets: [],
      notes: [
        `each round: ${cellCount} new cells of ${contributions} records through writeCellDeltas, ${concurrency} requests in flight; clients alternate, medians of ${rounds} rounds after one warm-up round each`,
        'client CPU is this process (the writer, the client, Node HTTP); dynalite runs in its own process and is counted apart',
        `every cell read back holds its ${contributions} events`,
      ],
    } satisfies BenchReport;
  },
};
