/**
 * The `dlq` commands (commander): `list` prints dead letters with their reasons,
 * `replay` sends each one to the sinks that did not take it (replay.ts): the main stream,
 * or the OpenSearch index directly for letters already counted. Built as a function of its
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
import type { EventIndexSinkHandle } from '../opensearch/event-index-sink.js';
import { createEventIndexSinkFromConfig } from '../opensearch/from-config.js';
import { createDeadLetterSink } from './dead-letter-sink.js';
import { originalBytes, type DeadLetterEnvelope } from './envelope.js';
import { hasReasonRule, readDeadLetters, type ReadDeadLetter } from './reader.js';
import { replayDeadLetters, type IndexReplayTarget, type ReplaySummary } from './replay.js';

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
  const reasons = envelope.reasons.map((r) => `[${r.index}] ${r.field}: ${r.rule} — ${r.message}`);
  if (envelope.takenBy.length > 0) reasons.push(`(already taken by: ${envelope.takenBy.join(', ')})`);
  return reasons.join('\n');
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

/** What a replay did, where: one line, then a line per thing that needs the operator's attention. */
function summaryLines(summary: ReplaySummary, streamName: string): string[] {
  const verb = summary.dryRun ? 'would replay' : 'replayed';
  const lines = [
    `read ${summary.read} dead letters${stopNote(summary.stoppedBy)}; ` +
      `${verb} ${summary.toMainStream} to ${streamName}, ` +
      `${summary.toIndex} to the OpenSearch index only (already counted); ` +
      `skipped ${summary.skippedTruncated} truncated, ${summary.skippedUndecodable} undecodable, ` +
      `${summary.skippedAlreadyCounted} already counted (indexing off), ` +
      `${summary.skippedAlreadyDelivered} already in every sink, ${summary.skippedRepeated} repeated (a record replayed once)`,
  ];
  if (!summary.dryRun && summary.toIndex > 0) {
    lines.push(
      `OpenSearch index: ${summary.indexed} indexed, ${summary.deadLetteredAgain} refused again or no longer valid ` +
        '(dead-lettered again)',
    );
  }
  if (summary.skippedAlreadyCounted > 0) {
    lines.push(
      `${summary.skippedAlreadyCounted} dead letters were already counted and OpenSearch indexing is off ` +
        `(OPENSEARCH_ENDPOINT not set): they were not replayed, and never go to ${streamName}, where they ` +
        'would be counted again. Set OPENSEARCH_ENDPOINT and replay again to index them.',
    );
  }
  return lines;
}

/**
 * Where `replay` sends letters the counters already took: the OpenSearch sink built from
 * config as the pipeline builds it (from-config.ts loads the OpenSearch client only when an
 * endpoint is set), or undefined when indexing is off.
 */
async function indexTargetFromConfig(
  deps: DlqProgramDeps,
): Promise<{ target: IndexReplayTarget; sink: EventIndexSinkHandle } | undefined> {
  const { config } = deps;
  const sink = await createEventIndexSinkFromConfig(config, deps.logger);
  if (!sink) return undefined;
  const deadLetters = createDeadLetterSink({
    kinesis: deps.kinesis,
    streamName: config.kinesis.dlqStreamName,
    sourceStreamName: config.kinesis.streamName,
    logger: deps.logger,
    ...(deps.retryPolicy ? { retryPolicy: deps.retryPolicy } : {}),
  });
  return { sink, target: { sink, deadLetters, limits: config.events } };
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
      'send each dead letter only to the sinks that did not take it: letters no sink took go back to ' +
        `${config.kinesis.streamName} (original bytes and partition key); letters already counted ` +
        '(e.g. index-rejected) go to the OpenSearch index only, never to the stream, and are skipped when ' +
        'OPENSEARCH_ENDPOINT is not set',
    )
    .option('--dry-run', 'show how many letters would go where, write nothing')
    .addOption(new Option('--limit <n>', 'at most this many letters').argParser(positiveInteger).default(10_000))
    .option('--reason <rule>', 'only letters with a reason of this rule')
    .addOption(maxSeconds())
    .action(async (options: { dryRun?: boolean; limit: number; reason?: string; maxSeconds: number }) => {
      const bar = new cliProgress.SingleBar(
        {
          stream: deps.stderr,
          format: 'replay [{bar}] {value}/{total} letters ({stream} to the stream, {index} to the index)',
        },
        cliProgress.Presets.shades_classic,
      );
      let started = false;
      let summary: ReplaySummary;
      const indexing = await indexTargetFromConfig(deps);
      try {
        summary = await replayDeadLetters({
          kinesis,
          dlqStreamName: config.kinesis.dlqStreamName,
          targetStreamName: config.kinesis.streamName,
          ...(indexing ? { index: indexing.target } : {}),
          limit: options.limit,
          dryRun: Boolean(options.dryRun),
          letterFilter: options.reason === undefined ? undefined : hasReasonRule(options.reason),
          maxDurationMs: options.maxSeconds * 1000,
          retryPolicy: deps.retryPolicy,
          logger: deps.logger,
          onProgress: ({ done, total, toMainStream, toIndex }) => {
            const payload = { stream: toMainStream, index: toIndex };
            if (!started) bar.start(total, done, payload);
            started = true;
            bar.update(done, payload);
          },
        });
      } finally {
        if (started) bar.stop();
        await indexing?.sink.stop();
      }
      for (const line of summaryLines(summary, config.kinesis.streamName)) write(line);
    });

  return program;
}
