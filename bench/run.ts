/**
 * `npm run bench [scenario] [options]`: runs a benchmark scenario, shows a progress bar,
 * prints the summary table, and regenerates `bench/results/<scenario>.{json,md}`.
 * `npm run bench -- --help` lists the scenarios; `npm run bench -- <scenario> --help`
 * explains each option.
 */
import { Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { renderTable, writeReport } from './report.js';
import type { BenchScenario } from './scenario.js';
import { scenarios, DEFAULT_SCENARIO } from './scenarios/index.js';

// The SDK's notice that Node 20 support ends (printed once per process) is not a bench result.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

async function runScenario(
  scenario: BenchScenario,
  options: Record<string, string | boolean | undefined>,
  argv: string[],
) {
  const interactive = process.stderr.isTTY === true;
  const bar = new SingleBar(
    {
      format: `${scenario.name} [{bar}] {percentage}% | {label}`,
      stream: process.stderr,
      noTTYOutput: !interactive,
      notTTYSchedule: 5000,
    },
    Presets.shades_classic,
  );
  bar.start(100, 0, { label: 'starting' });
  const command = ['npm run bench --', ...argv].join(' ').trim();
  try {
    const report = await scenario.run({
      options,
      command,
      progress: (fraction, label) =>
        bar.update(Math.round(Math.min(1, Math.max(0, fraction)) * 100), { label: label ?? '' }),
    });
    bar.update(100, { label: 'done' });
    bar.stop();
    const files = await writeReport(report);
    process.stdout.write(`\n${report.title}\n${renderTable(report)}\n`);
    for (const [name, value] of Object.entries(report.ratios))
      process.stdout.write(`ratio ${name}: ${value.toFixed(2)}\n`);
    for (const target of report.targets) {
      process.stdout.write(`target ${target.met ? 'MET ' : 'MISS'} ${target.description}: ${target.measured}\n`);
    }
    for (const note of report.notes) process.stdout.write(`note: ${note}\n`);
    process.stdout.write(`\nwrote ${files.json}\n      ${files.markdown}\n`);
    return report;
  } catch (error) {
    bar.stop();
    throw error;
  }
}

const program = new Command()
  .name('npm run bench --')
  .description(`Benchmarks against local stand-ins. With no scenario, runs "${DEFAULT_SCENARIO}".`)
  .showHelpAfterError();

for (const scenario of scenarios) {
  const command = program
    .command(scenario.name, { isDefault: scenario.name === DEFAULT_SCENARIO })
    .description(scenario.description);
  for (const option of scenario.options ?? []) command.option(option.flags, option.description, option.defaultValue);
  command.action(async (options: Record<string, string | boolean | undefined>) => {
    const report = await runScenario(scenario, options, process.argv.slice(2));
    // A scenario that found wrong numbers fails the run whatever the speed.
    if (report.notes.some((note) => note.startsWith('CORRECTNESS FAILURE'))) process.exitCode = 1;
  });
}

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
