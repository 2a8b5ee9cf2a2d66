import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderMarkdown, writeReport } from '../report.js';
import { drainCeilingNote, pipelineScenario } from './pipeline.js';

describe('pipeline bench (short run on real kinesalite/dynalite, collector and processors as child processes)', () => {
  it('catches an injected miscount with a clear diff, passes correct counters, and writes well-formed reports', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bench-'));
    const fractions: number[] = [];
    const report = await pipelineScenario.run({
      command: 'npm run bench -- pipeline --events 2000 --inject-miscount',
      progress: (fraction) => fractions.push(fraction),
      options: {
        events: '2000',
        rate: '0',
        shards: '2',
        kpl: true,
        duplicates: '0.05',
        malformed: '0.02',
        users: '300',
        experiments: '2',
        variants: '2',
        metrics: '2',
        segmentValues: '5',
        segmentDimensions: '3',
        concurrency: '4',
        baselineSeconds: '3',
        seed: '7',
        injectMiscount: true,
        resultsDir: dir,
      },
    });

    const failures = report.notes.filter((note) => note.startsWith('CORRECTNESS FAILURE'));
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatch(/phase A \(live\): 1 of \d+ cells differ/);
    expect(failures[0]).toMatch(/expected events=\d+ .*\n\s+actual\s+events=\d+/);
    expect(report.notes).toContainEqual(
      expect.stringMatching(
        /^phase B \(backlog, fresh processors\): all \d+ counter cells equal the ground truth exactly$/,
      ),
    );
    expect(report.rows.map((row) => row.name)).toEqual([
      'A. live: collector → processors → counters',
      'B. backlog: processors (micro-batch, exactly once)',
      'B. baseline: one UpdateItem ADD per event',
    ]);
    expect(report.ratios['baseline / processors DynamoDB writes per event']).toBeGreaterThan(1);

    // Whose CPU each phase took, and where a live batch's time went: what bounds the run, in its own notes.
    const live = report.notes.find((note) => note.startsWith('phase A (live): CPU per accepted event'));
    const livePerProcess =
      /collector ([\d.]+), processors ([\d.]+), kinesalite ([\d.]+), dynalite ([\d.]+), load generator and bench ([\d.]+); ([\d.]+) in all, so the \d+ cores are full at [\d,]+ events\/s$/.exec(
        live ?? '',
      );
    expect(livePerProcess, live).not.toBeNull();
    const [collector, processors, kinesalite, dynalite, bench, all] = (livePerProcess ?? []).slice(1).map(Number);
    for (const micros of [collector, processors, kinesalite, dynalite, bench]) expect(micros).toBeGreaterThan(0);
    expect(all).toBeCloseTo(collector! + processors! + kinesalite! + dynalite! + bench!, 0);
    expect(report.notes).toContainEqual(
      expect.stringMatching(
        /^phase A \(live\), where a batch's time goes \(p50 \/ p99 ms over \d+ batches\): .*stream_to_read [\d.]+ \/ [\d.]+, .*state [\d.]+ \/ [\d.]+, cell_writes [\d.]+ \/ [\d.]+/,
      ),
    );
    const split = report.notes
      .map((note) =>
        /^phase B \(backlog\): the processors' ([\d.]+) µs .* are ([\d.]+) on the main thread .* and ([\d.]+) on their other threads/.exec(
          note,
        ),
      )
      .find((match) => match !== null);
    expect(split, report.notes.join('\n')).toBeDefined();
    const [total, main, others] = (split ?? []).slice(1).map(Number);
    expect(main).toBeGreaterThan(0);
    expect(main! + others!).toBeCloseTo(total!, 0);
    // Where the drain's reader time went: the state and the cell writes named, within the readers' time.
    const readerTime = report.notes
      .map((note) =>
        /^phase B \(backlog\), where the readers' time went \(ms summed over \d+ batches of 2 shard readers\): (.*) of (\d+) reader-ms$/.exec(
          note,
        ),
      )
      .find((match) => match !== null);
    expect(readerTime, report.notes.join('\n')).toBeDefined();
    const stageTotals = new Map(
      [...(readerTime?.[1] ?? '').matchAll(/(\w+) (\d+) \(\d+%\)/g)].map(([, stage, ms]) => [stage, Number(ms)]),
    );
    expect([...stageTotals.keys()]).toEqual(expect.arrayContaining(['decode', 'state', 'cell_writes']));
    expect(stageTotals.get('state')).toBeGreaterThan(0);
    const stagesSum = [...stageTotals.values()].reduce((sum, ms) => sum + ms, 0);
    expect(stagesSum).toBeLessThanOrEqual(Number(readerTime?.[2]) + stageTotals.size); // each total is rounded
    // What the drain's CPU allows: the ceiling is the cores over the CPU per event in all, and the drain is within it.
    const ceiling = report.notes
      .map((note) =>
        /^phase B \(backlog\), what the drain's CPU allows: ([\d.]+) µs of CPU per event in all \(processors ([\d.]+), kinesalite and dynalite ([\d.]+)\): (\d+) cores drain at most ([\d,]+) events\/s, ([\d.]+)× the baseline; the drain reached ([\d,]+) \((\d+)%\)/.exec(
          note,
        ),
      )
      .find((match) => match !== null);
    expect(ceiling, report.notes.join('\n')).toBeDefined();
    const [inAll, ours, standIns, cores, most, , reached, share] = (ceiling ?? [])
      .slice(1)
      .map((text) => Number(text.replaceAll(',', '')));
    expect(inAll).toBeCloseTo(ours! + standIns!, 0);
    expect(most! / ((cores! / inAll!) * 1e6)).toBeCloseTo(1, 1);
    expect(reached).toBe(Math.round(Number(report.rows[1]?.metrics['events/s'])));
    expect(share).toBeLessThanOrEqual(100);
    expect(fractions.at(-1)).toBeGreaterThan(0.5);

    const files = await writeReport(report, dir);
    const json = JSON.parse(await readFile(files.json, 'utf8'));
    expect(json).toMatchObject({ scenario: 'pipeline', rows: expect.any(Array), targets: expect.any(Array) });
    expect(await readFile(files.markdown, 'utf8')).toBe(renderMarkdown(report));
    const svg = await readFile(join(dir, 'pipeline-throughput.svg'), 'utf8');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('<polyline');
  }, 240_000);
});

describe('pipeline bench with --dynamodb no-op (kinesalite real; DynamoDB an endpoint that keeps nothing)', () => {
  const options = {
    events: '1000',
    rate: '0',
    shards: '2',
    kpl: true,
    duplicates: '0',
    malformed: '0',
    users: '200',
    experiments: '1',
    variants: '2',
    metrics: '1',
    segmentValues: '3',
    segmentDimensions: '1',
    concurrency: '4',
    baselineSeconds: '2',
    seed: '11',
    dynamodb: 'no-op',
  };

  // Two timed phases, with kinesalite, the consumers and the load generator sharing two cores: about 25 s alone on
  // an idle machine, past the 30 s default beside other suites in fresh-clone CI. The same budget as the run above.
  it('runs both phases against the no-op, says the counters were not checked, and reports apart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bench-'));
    const report = await pipelineScenario.run({
      command: 'npm run bench -- pipeline --dynamodb no-op',
      progress: () => undefined,
      options: { ...options, resultsDir: dir },
    });

    expect(report.scenario).toBe('pipeline-no-op-dynamodb');
    // Its charts beside the default run's, not over them.
    expect(report.artifacts).toEqual(['pipeline-no-op-dynamodb-throughput.svg', 'pipeline-no-op-dynamodb-memory.svg']);
    for (const chart of report.artifacts ?? []) expect(await readFile(join(dir, chart), 'utf8')).toMatch(/^<svg/);
    expect(report.parameters.dynamodb).toBe('no-op');
    expect(report.notes.filter((note) => note.includes('counters NOT checked'))).toHaveLength(2);
    expect(report.notes.some((note) => note.includes('equal the ground truth'))).toBe(false);
    expect(report.notes.some((note) => note.startsWith('CORRECTNESS FAILURE'))).toBe(false);
    // Every unique event went through the processors, and their counter writes reached the no-op.
    expect(report.notes).toContainEqual(
      expect.stringMatching(/^phase A: 1000 events accepted .*processors counted 1000,/),
    );
    // The endpoint ran in dynalite's place, and its CPU is reported under its own name.
    expect(report.notes).toContainEqual(
      expect.stringMatching(/^phase A \(live\): CPU per accepted event, µs: .* no-op DynamoDB [\d.]+, load generator/),
    );
    const answered = report.notes.find((note) => note.startsWith('--dynamodb no-op: the endpoint answered'));
    expect(Number(/UpdateItem ([\d,]+)/.exec(answered ?? '')?.[1]?.replace(/,/g, ''))).toBeGreaterThan(0);
  }, 240_000);

  it('refuses an unknown store, and --inject-miscount with the no-op, naming the options', async () => {
    const run = (extra: Record<string, unknown>) =>
      pipelineScenario.run({ command: 'x', progress: () => undefined, options: { ...options, ...extra } });
    await expect(run({ dynamodb: 'redis' })).rejects.toThrow('--dynamodb must be dynalite or no-op (got redis)');
    await expect(run({ injectMiscount: true })).rejects.toThrow(/--inject-miscount needs --dynamodb dynalite/);
  });
});

describe('drainCeilingNote', () => {
  it('divides the cores by the CPU per event in all, and says what the 20× target needs', () => {
    expect(drainCeilingNote(28.3, 7.4, 39_485, 2_946, 2)).toBe(
      "phase B (backlog), what the drain's CPU allows: 35.7 µs of CPU per event in all (processors 28.3, kinesalite and dynalite 7.4): " +
        '2 cores drain at most 56,022 events/s, 19.0× the baseline; the drain reached 39,485 (70%); 20× needs at most 33.9 µs per event in all',
    );
  });
});
