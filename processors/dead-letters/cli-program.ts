/**
 * The `dlq` commands (commander): `list` prints dead letters with their reasons,
 * `replay` re-sends their original bytes to the main stream. Built as a function of its
 * dependencies so tests drive it against kinesalite with captured output; cli.ts is the
 * thin entry point that wires real config, client and process streams.
 */
import type { Writable } from 'node:stream';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import cliProgress from 'cli-progress';
import Table from 'cli-table3';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Config } from '../../common/config.js';
import type { Logger } from '../../common/logger.js';
import type { RetryPolicy } from '../../common/retry.js';
import { originalBytes, type DeadLetterEnvelope } from './envelope.js';
import { hasReasonRule, readDeadLetters, type ReadDeadLetter } from './reader.js';
import { replayDeadLetters, type ReplaySummary } from './replay.js';

export interface DlqProgramDeps {
  config: Config;
  kinesis: KinesisClient;
  logger: Logger;
  /** Tables, summaries and `--json` lines. */
  stdout: Writable;
  /** The progress bar and errors. */
  stderr: Writable;
  retryPolicy?: RetryPolicy;
}

const PREVIEW_CHARS = 60;

function positiveInteger(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new InvalidArgumentError('expected a positive integer');
  return value;
}

const isControlCharacter = (char: string): boolean => {
  const code = char.charCodeAt(0);
  return code < 0x20 || code === 0x7f;
};

/** A one-line, printable view of the original bytes, so a table row stays a row. */
function preview(envelope: DeadLetterEnvelope): string {
  const text = Array.from(originalBytes(envelope).toString('utf8'), (char) =>
    isControlCharacter(char) ? '·' : char,
  ).join('');
  const cut = text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS)}…` : text;
  return `${cut}\n(${envelope.dataBytes} B${envelope.truncated ? ', TRUNCATED: not replayable' : ''})`;
}

function reasonLines(envelope: DeadLetterEnvelope): string {
  return envelope.reasons.map((r) => `[${r.index}] ${r.field}: ${r.rule} — ${r.message}`).join('\n');
}

function letterTable(letters: readonly ReadDeadLetter[]): string {
  const table = new Table({
    head: ['dead-lettered at', 'source (shard / sequence / sub)', 'partition key', 'reasons', 'original'],
    colWidths: [26, 34, 18, 60, 66],
    wordWrap: true,
  });
  for (const letter of letters) {
    if (!letter.decoding.ok) {
      table.push([
        '?',
        `${letter.dlqShardId} / ${letter.dlqSequenceNumber}`,
        '?',
        `not a dead letter: ${letter.decoding.error}`,
        '',
      ]);
      continue;
    }
    const e = letter.decoding.envelope;
    table.push([
      e.deadLetteredAt,
      `${e.sourceStream}\n${e.shardId}\n${e.sequenceNumber} / ${e.subSequenceNumber}`,
      e.partitionKey,
      reasonLines(e),
      preview(e),
    ]);
  }
  return table.toString();
}

const stopNote = (stoppedBy: string): string =>
  stoppedBy === 'limit'
    ? ' (limit reached: there may be more)'
    : stoppedBy === 'time'
      ? ' (time bound reached: there may be more)'
      : '';

function summaryLine(summary: ReplaySummary): string {
  const verb = summary.dryRun ? 'would replay' : 'replayed';
  return (
    `read ${summary.read} dead letters${stopNote(summary.stoppedBy)}; ${verb} ${summary.replayed}; ` +
    `skipped ${summary.skippedTruncated} truncated, ${summary.skippedUndecodable} undecodable`
  );
}

/**
 * Builds the `dlq` program. Parse with `program.parseAsync(argv)`.
 *
 * @example
 *   await buildDlqProgram({ config, kinesis, logger, stdout: process.stdout, stderr: process.stderr })
 *     .parseAsync(['list', '--limit', '20'], { from: 'user' });
 */
export function buildDlqProgram(deps: DlqProgramDeps): Command {
  const { config, kinesis } = deps;
  const write = (line: string) => deps.stdout.write(`${line}\n`);
  const program = new Command('dlq')
    .description(
      `Dead letters of ${config.kinesis.streamName}, on stream ${config.kinesis.dlqStreamName} (KINESIS_DLQ_STREAM_NAME).`,
    )
    .configureOutput({ writeOut: (text) => deps.stdout.write(text), writeErr: (text) => deps.stderr.write(text) })
    .exitOverride();

  const maxSeconds = () =>
    new Option('--max-seconds <n>', 'stop reading after this many seconds').argParser(positiveInteger).default(60);

  program
    .command('list')
    .description('print dead letters with their reasons, oldest first per shard')
    .addOption(new Option('--limit <n>', 'at most this many letters').argParser(positiveInteger).default(100))
    .option('--reason <rule>', 'only letters with a reason of this rule (e.g. json, required, unsupported-version)')
    .option('--json', 'one JSON envelope per line instead of a table')
    .addOption(maxSeconds())
    .action(async (options: { limit: number; reason?: string; json?: boolean; maxSeconds: number }) => {
      const { letters, stoppedBy } = await readDeadLetters({
        kinesis,
        streamName: config.kinesis.dlqStreamName,
        limit: options.limit,
        letterFilter: options.reason === undefined ? undefined : hasReasonRule(options.reason),
        maxDurationMs: options.maxSeconds * 1000,
        retryPolicy: deps.retryPolicy,
      });
      if (options.json) {
        for (const letter of letters) write(JSON.stringify(letter.decoding.ok ? letter.decoding.envelope : letter));
        return;
      }
      if (letters.length > 0) write(letterTable(letters));
      write(`${letters.length} dead letters${stopNote(stoppedBy)}`);
    });

  program
    .command('replay')
    .description(
      `re-send the original bytes of dead letters to ${config.kinesis.streamName} with their original partition keys ` +
        '(safe to repeat: counters de-duplicate by eventId within the de-dup window)',
    )
    .option('--dry-run', 'count what would be replayed, write nothing')
    .addOption(new Option('--limit <n>', 'at most this many letters').argParser(positiveInteger).default(10_000))
    .option('--reason <rule>', 'only letters with a reason of this rule')
    .addOption(maxSeconds())
    .action(async (options: { dryRun?: boolean; limit: number; reason?: string; maxSeconds: number }) => {
      const bar = new cliProgress.SingleBar(
        { stream: deps.stderr, format: 'replay [{bar}] {value}/{total} letters' },
        cliProgress.Presets.shades_classic,
      );
      let started = false;
      let summary: ReplaySummary;
      try {
        summary = await replayDeadLetters({
          kinesis,
          dlqStreamName: config.kinesis.dlqStreamName,
          targetStreamName: config.kinesis.streamName,
          limit: options.limit,
          dryRun: Boolean(options.dryRun),
          letterFilter: options.reason === undefined ? undefined : hasReasonRule(options.reason),
          maxDurationMs: options.maxSeconds * 1000,
          retryPolicy: deps.retryPolicy,
          logger: deps.logger,
          onProgress: (done, total) => {
            if (!started) bar.start(total, done);
            started = true;
            bar.update(done);
          },
        });
      } finally {
        if (started) bar.stop();
      }
      write(summaryLine(summary));
    });

  return program;
}
