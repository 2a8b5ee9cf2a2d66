/**
 * Turns Stryker's JSON report (bench/results/mutation-report.json, written by `npm run mutate`)
 * into bench/results/mutation.md: the mutation score per module, the survivors listed with
 * their place and replacement, so a reviewer sees which tests do not bite. Survivors judged
 * equivalent (no observable behaviour differs) are listed apart with the reason, from
 * bench/mutation-accepted.json; an acceptance that no longer matches a survivor is flagged.
 *
 *   score = killed (incl. timeouts) / (killed + survived + no coverage)   — per module
 */
import { readFile, writeFile } from 'node:fs/promises';
import { RESULTS_DIR } from './report.js';

/** Survivors accepted as equivalent: `mutant` is the survivor's line in mutation.md, without backticks and status. */
const ACCEPTED = new URL('./mutation-accepted.json', import.meta.url);
interface AcceptedSurvivor {
  mutant: string;
  reason: string;
}

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
 * Merges the latest Stryker report into the accumulated per-module results (only the
 * `mutated` modules of a scoped run: the report also carries older entries), writes
 * bench/results/mutation.md from them, and returns the table.
 */
export async function writeMutationSummary(mutated?: readonly string[]): Promise<string> {
  const latest = JSON.parse(await readFile(`${RESULTS_DIR}mutation-report.json`, 'utf8')) as Report;
  const previous = await readFile(ACCUMULATED, 'utf8').then(
    (text) => JSON.parse(text) as Report,
    () => ({ files: {} }),
  );
  const ran = mutated
    ? Object.entries(latest.files).filter(([file]) => mutated.includes(file))
    : Object.entries(latest.files);
  const report: Report = { files: { ...previous.files, ...Object.fromEntries(ran) } };
  await writeFile(ACCUMULATED, JSON.stringify(report));
  const accepted = new Map(
    (JSON.parse(await readFile(ACCEPTED, 'utf8')) as AcceptedSurvivor[]).map(({ mutant, reason }) => [mutant, reason]),
  );
  const matched = new Set<string>();
  const rows: string[] = [
    '| module | mutants | killed | survived | no coverage | accepted | score |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  const survivors: string[] = [];
  const acceptedSurvivors: string[] = [];
  for (const [file, { mutants }] of Object.entries(report.files).sort(([a], [b]) => a.localeCompare(b))) {
    const count = (status: string) => mutants.filter((mutant) => mutant.status === status).length;
    const score = mutationScore(mutants);
    let acceptedInFile = 0;
    for (const mutant of mutants.filter(
      (candidate) => candidate.status === 'Survived' || candidate.status === 'NoCoverage',
    )) {
      const key = survivorKey(file, mutant);
      const reason = accepted.get(key);
      if (reason === undefined) {
        survivors.push(`- ${survivorLine(file, mutant)} (${mutant.status})`);
      } else {
        matched.add(key);
        acceptedInFile += 1;
        acceptedSurvivors.push(`- ${survivorLine(file, mutant)} (${mutant.status}): ${reason}`);
      }
    }
    rows.push(
      `| \`${file}\` | ${mutants.length} | ${count('Killed') + count('Timeout')} | ${count('Survived')} | ${count('NoCoverage')} | ${acceptedInFile} | ${score === undefined ? '—' : `${score.toFixed(1)}%`} |`,
    );
  }
  const stale = [...accepted.keys()]
    .filter((key) => !matched.has(key) && Object.hasOwn(report.files, key.split(':')[0] ?? ''))
    .map((key) => `- \`${key}\``);
  const text = [
    '# Mutation testing (`npm run mutate`)',
    '',
    `Generated ${new Date().toISOString()}: each module's latest run (bench/results/mutation-modules.json). Score = killed / (killed + survived + no coverage); accepted survivors count against it.`,
    '',
    ...rows,
    '',
    '## Survivors',
    '',
    ...(survivors.length > 0 ? survivors : ['none']),
    '',
    '## Accepted survivors (no observable behaviour differs, or the code is unreachable; reasons in bench/mutation-accepted.json)',
    '',
    ...(acceptedSurvivors.length > 0 ? acceptedSurvivors : ['none']),
    '',
    ...(stale.length > 0
      ? [
          '## Stale acceptances (no longer match a survivor: re-check and update bench/mutation-accepted.json)',
          '',
          ...stale,
          '',
        ]
      : []),
  ].join('\n');
  await writeFile(`${RESULTS_DIR}mutation.md`, text);
  return rows.join('\n');
}

/** The survivor as bench/mutation-accepted.json names it: `file:line:column Mutator → replacement`. */
function survivorKey(file: string, mutant: Mutant): string {
  const replacement = shownReplacement(mutant);
  return `${file}:${place(mutant)} ${mutant.mutatorName}${replacement === undefined ? '' : ` → ${replacement}`}`;
}

/** The survivor as mutation.md lists it: the same, with place and replacement as code. */
function survivorLine(file: string, mutant: Mutant): string {
  const replacement = shownReplacement(mutant);
  return `\`${file}:${place(mutant)}\` ${mutant.mutatorName}${replacement === undefined ? '' : ` → \`${replacement}\``}`;
}

function place(mutant: Mutant): string {
  return `${mutant.location.start.line}:${mutant.location.start.column}`;
}

function shownReplacement(mutant: Mutant): string | undefined {
  return mutant.replacement ? mutant.replacement.replace(/\s+/g, ' ').slice(0, 80) : undefined;
}
