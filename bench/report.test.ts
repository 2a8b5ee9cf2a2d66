import { describe, expect, it } from 'vitest';
import { benchEnvironment, hostSpeedProbe, renderMarkdown, type BenchReport } from './report.js';

const report = (environment: BenchReport['environment']): BenchReport => ({
  scenario: 'example',
  title: 'Example',
  command: 'npm run bench -- example',
  startedAt: '2026-11-27T22:00:00.000Z',
  durationMs: 1_000,
  environment,
  parameters: {},
  rows: [{ name: 'row', metrics: { 'events/s': 1_000 } }],
  ratios: {},
  targets: [],
  notes: [],
});

describe('bench report: the host speed beside the figures', () => {
  it('measures one JSON.parse of the probe event in µs of CPU: positive, finite, and what the environment carries', () => {
    const micros = hostSpeedProbe(1, 5_000);
    expect(Number.isFinite(micros)).toBe(true);
    expect(micros).toBeGreaterThan(0);
    expect(micros).toBeLessThan(1_000); // µs, not ns or ms
    expect(benchEnvironment().jsonParseMicros).toBeGreaterThan(0);
  });

  it('prints the host speed in the reproduce line, and leaves it out of reports made before it existed', () => {
    const base = { node: 'v20.20.2', cpus: 2, cpuModel: 'AMD EPYC', memoryGiB: 24 };
    expect(renderMarkdown(report({ ...base, jsonParseMicros: 1.789 }))).toContain(
      '2 × AMD EPYC, 24 GiB; host speed: one `JSON.parse` of a 280-byte event takes 1.79 µs here',
    );
    expect(renderMarkdown(report(base))).toContain('2 × AMD EPYC, 24 GiB.\n');
    expect(renderMarkdown(report(base))).not.toContain('host speed');
  });
});
