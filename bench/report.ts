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
  environment: { node: string; cpus: number; cpuModel: string; memoryGiB: number };
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
  };
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
      `Node ${report.environment.node}, ${report.environment.cpus} × ${report.environment.cpuModel}, ${report.environment.memoryGiB} GiB.`,
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
