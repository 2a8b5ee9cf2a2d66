/**
 * Turns Stryker's JSON report (bench/results/mutation-report.json, written by `npm run mutate`)
 * into bench/results/mutation.md: the mutation score per module, the survivors listed with
 * their place and replacement, so a reviewer sees which tests do not bite.
 *
 *   score = killed (incl. timeouts) / (killed + survived + no coverage)   — per module
 */
import { readFile, writeFile } from 'node:fs/promises';
import { RESULTS_DIR } from './report.js';

interface Mutant {
  mutatorName: string;
  replacement?: string;
  status: string;
  location: { start: { line: number; column: number } };
}
interface Report {
  files: Record<string, { mutants: Mutant[] }>;
}

const KILLED = new Set(['Killed', 'Timeout']);
const COUNTED = new Set(['Killed', 'Timeout', 'Survived', 'NoCoverage']);

/** Score of one module's mutants, in percent (undefined when none counts). */
export function mutationScore(mutants: readonly Mutant[]): number | undefined {
  const counted = mutants.filter((mutant) => COUNTED.has(mutant.status));
  if (counted.length === 0) return undefined;
  return (100 * counted.filter((mutant) => KILLED.has(mutant.status)).length) / counted.length;
}

/** The accumulated results: each module's latest run (a run scoped with `--mutate` replaces only its modules). */
const ACCUMULATED = `${RESULTS_DIR}mutation-modules.json`;

/**
 * Merges the latest Stryker report into the accumulated per-module results, writes
 * bench/results/mutation.md from them, and returns the table.
 */
export async function writeMutationSummary(): Promise<string> {
  const latest = JSON.parse(await readFile(`${RESULTS_DIR}mutation-report.json`, 'utf8')) as Report;
  const previous = await readFile(ACCUMULATED, 'utf8').then(
    (text) => JSON.parse(text) as Report,
    () => ({ files: {} }),
  );
  const report: Report = { files: { ...previous.files, ...latest.files } };
  await writeFile(ACCUMULATED, JSON.stringify(report));
  const rows: string[] = [
    '| module | mutants | killed | survived | no coverage | score |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  const survivors: string[] = [];
  for (const [file, { mutants }] of Object.entries(report.files).sort(([a], [b]) => a.localeCompare(b))) {
    const count = (status: string) => mutants.filter((mutant) => mutant.status === status).length;
    const score = mutationScore(mutants);
    rows.push(
      `| \`${file}\` | ${mutants.length} | ${count('Killed') + count('Timeout')} | ${count('Survived')} | ${count('NoCoverage')} | ${score === undefined ? '—' : `${score.toFixed(1)}%`} |`,
    );
    for (const mutant of mutants.filter(
      (candidate) => candidate.status === 'Survived' || candidate.status === 'NoCoverage',
    )) {
      const { line, column } = mutant.location.start;
      survivors.push(
        `- \`${file}:${line}:${column}\` ${mutant.mutatorName}${mutant.replacement ? ` → \`${mutant.replacement.replace(/\s+/g, ' ').slice(0, 80)}\`` : ''} (${mutant.status})`,
      );
    }
  }
  const text = [
    '# Mutation testing (`npm run mutate`)',
    '',
    `Generated ${new Date().toISOString()}: each module's latest run (bench/results/mutation-modules.json). Score = killed / (killed + survived + no coverage).`,
    '',
    ...rows,
    '',
    '## Survivors',
    '',
    ...(survivors.length > 0 ? survivors : ['none']),
    '',
  ].join('\n');
  await writeFile(`${RESULTS_DIR}mutation.md`, text);
  return rows.join('\n');
}
