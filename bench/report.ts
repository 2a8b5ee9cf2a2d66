/**
 * One report format for every benchmark scenario: a table of measured rows, the ratios
 * against a baseline measured in the same run, targets with pass/miss, and notes.
 * `writeReport` regenerates `bench/results/<scenario>.json` and `.md`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import Table from 'cli-table3';

export interface BenchRow {
  /** What was measured, e.g. `collector (KPL off)` or `baseline: bare Fastify route`. */
  name: string;
  /** Metric name → value. Numbers are printed with sensible precision. */
  metrics: Record<string, number | string>;
}

export interface BenchTarget {
  description: string;
  /** Measured value shown next to the target. */
  measured: string;
  met: boolean;
}

export interface BenchReport {
  scenario: string;
  title: string;
  /** The exact command that reproduces this report. */
  command: string;
  startedAt: string;
  durationMs: number;
  environment: {
    node: string;
    cpus: number;
    cpuModel: string;
    memoryGiB: number;
    /**
     * The host's speed when the report was made: µs of CPU for one `JSON.parse` of a 280-byte
     * event (`hostSpeedProbe`). Hosts of the same model here differ by 1.5×, so absolute figures of
     * two reports compare only next to it. Absent from reports made before it existed.
     */
    jsonParseMicros?: number;
  };
  parameters: Record<string, unknown>;
  rows: BenchRow[];
  ratios: Record<string, number>;
  targets: BenchTarget[];
  notes: string[];
  /** Extra files written beside the report (SVG charts). */
  artifacts?: string[];
}

export const RESULTS_DIR = new URL('./results/', import.meta.url).pathname;

export function benchEnvironment(): BenchReport['environment'] {
  const cpuList = cpus();
  return {
    node: process.version,
    cpus: cpuList.length,
    cpuModel: cpuList[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    jsonParseMicros: hostSpeedProbe(),
  };
}

/** A stream event as the bench's workload makes them (280 bytes of JSON): what the host-speed probe parses. */
const PROBE_EVENT = JSON.stringify({
  eventId: '0190c4b2-7d3e-7a4f-9b21-5e8d4c3a2f10',
  type: 'conversion',
  experimentId: 'exp-2',
  variantId: 'variant-1',
  userId: 'user-000123',
  metric: 'purchase',
  value: 42.5,
  segments: { country: 'country-7', device: 'mobile' },
  timestamp: 1_767_225_600_000,
  receivedAt: 1_767_225_600_125,
});

/**
 * µs of CPU per `JSON.parse` of PROBE_EVENT, the best of three passes of 50,000 (about 0.3 s): the
 * host's speed beside a report's absolute figures, measured the same way on every host.
 *
 * It parses a string already in memory, so it reads lower than `pipeline-core`'s `JSON.parse` baseline,
 * which also turns each record's bytes into a string.
 *
 * @example hostSpeedProbe() // 0.99 on the host of the night of 2026-11-27
 */
export function hostSpeedProbe(passes = 3, parses = 50_000): number {
  let best = Number.POSITIVE_INFINITY;
  let checksum = 0; // keeps the parses from being optimised away
  for (let pass = 0; pass < passes; pass++) {
    const before = process.cpuUsage();
    for (let i = 0; i < parses; i++) checksum += (JSON.parse(PROBE_EVENT) as { value: number }).value;
    const used = process.cpuUsage(before);
    best = Math.min(best, (used.user + used.system) / parses);
  }
  if (!(checksum > 0)) throw new Error('host-speed probe: the parses did not run');
  return Math.round(best * 100) / 100;
}

const formatValue = (value: number | string): string => {
  if (typeof value === 'string') return value;
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  return Math.abs(value) >= 100 ? value.toFixed(0) : Math.abs(value) >= 1 ? value.toFixed(2) : value.toPrecision(3);
};

/** Renders the measured rows as a terminal table. */
export function renderTable(report: BenchReport): string {
  const columns = [...new Set(report.rows.flatMap((row) => Object.keys(row.metrics)))];
  const table = new Table({ head: ['', ...columns] });
  for (const row of report.rows) table.push([row.name, ...columns.map((c) => formatValue(row.metrics[c] ?? '—'))]);
  return table.toString();
}

/** Renders the whole report as Markdown (the published results file). */
export function renderMarkdown(report: BenchReport): string {
  const columns = [...new Set(report.rows.flatMap((row) => Object.keys(row.metrics)))];
  const lines = [
    `# ${report.title}`,
    '',
    `Reproduce with \`${report.command}\`. Run ${report.startedAt}, ${(report.durationMs / 1000).toFixed(1)} s, ` +
      `Node ${report.environment.node}, ${report.environment.cpus} × ${report.environment.cpuModel}, ${report.environment.memoryGiB} GiB` +
      (report.environment.jsonParseMicros === undefined
        ? '.'
        : `; host speed: one \`JSON.parse\` of a 280-byte event takes ${report.environment.jsonParseMicros.toFixed(2)} µs here (compare absolute figures of two reports next to it).`),
    '',
    `| | ${columns.join(' | ')} |`,
    `|---|${columns.map(() => '---:').join('|')}|`,
    ...report.rows.map(
      (row) => `| ${row.name} | ${columns.map((c) => formatValue(row.metrics[c] ?? '—')).join(' | ')} |`,
    ),
  ];
  if (Object.keys(report.ratios).length > 0) {
    lines.push(
      '',
      '## Ratios (same run)',
      '',
      ...Object.entries(report.ratios).map(([k, v]) => `- ${k}: **${formatValue(v)}**`),
    );
  }
  if (report.targets.length > 0) {
    lines.push('', '## Targets', '', '| target | measured | met |', '|---|---|---|');
    lines.push(...report.targets.map((t) => `| ${t.description} | ${t.measured} | ${t.met ? 'yes' : '**no**'} |`));
  }
  if (Object.keys(report.parameters).length > 0) {
    lines.push('', '## Parameters', '', '```json', JSON.stringify(report.parameters, null, 2), '```');
  }
  if (report.notes.length > 0) lines.push('', '## Notes', '', ...report.notes.map((n) => `- ${n}`));
  for (const artifact of report.artifacts ?? []) lines.push('', `![${artifact}](${artifact})`);
  return `${lines.join('\n')}\n`;
}

/** Writes `<scenario>.json` and `<scenario>.md` into `dir` (default `bench/results/`). */
export async function writeReport(
  report: BenchReport,
  dir: string = RESULTS_DIR,
): Promise<{ json: string; markdown: string }> {
  await mkdir(dir, { recursive: true });
  const json = join(dir, `${report.scenario}.json`);
  const markdown = join(dir, `${report.scenario}.md`);
  await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(markdown, renderMarkdown(report));
  return { json, markdown };
}
