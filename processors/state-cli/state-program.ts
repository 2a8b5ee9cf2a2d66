/**
 * The `npm run state` commands: look at the exactly-once state store and act on it when an
 * operator has decided to. Built over injected dependencies so tests drive it against
 * real dynalite and Redis without a process.
 *
 *   npm run state -- status                      which store, its epoch, the counters' epoch, the verdict
 *   npm run state -- accept-loss --yes           record the store's current epoch in the counters table
 *   npm run state -- forget <experimentId> --yes drop one experiment's per-user state
 *
 * Nothing here runs by itself: `accept-loss` is the last step of the state-loss runbook
 * (processors/README.md), taken only after deciding how to repair the counts.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Command } from 'commander';
import type { Config } from '../../common/config.js';
import { readRecordedEpoch, recordEpoch } from '../counters/state-epoch.js';
import type { UserStateStore } from '../state/types.js';

export interface StateProgramDeps {
  config: Config;
  dynamo: DynamoDBClient;
  /** Opened on first use, closed by the caller. */
  state: () => UserStateStore;
  stdout: NodeJS.WritableStream;
}

/** What `status` concludes from the two epochs. */
export type StateVerdict = 'ok' | 'not-recorded' | 'state-lost';

/** The verdict: the counters were written with `recorded`, the store now holds `current`. */
export function stateVerdict(recorded: string | undefined, current: string): StateVerdict {
  if (recorded === undefined) return 'not-recorded';
  return recorded === current ? 'ok' : 'state-lost';
}

const VERDICT_TEXT: Record<StateVerdict, string> = {
  ok: 'ok: the counters were written with this state store',
  'not-recorded': 'not recorded yet: the processors record the epoch with their first batch',
  'state-lost':
    'STATE_LOST: the counters were written with another copy of the state; the processors will not count. ' +
    'Follow processors/README.md "State loss" before running accept-loss.',
};

/**
 * Builds the program. `parseAsync(argv)` runs one command; a refused command sets
 * `process.exitCode`-style results through the returned promise (throws on misuse).
 *
 * @example
 *   await buildStateProgram({ config, dynamo, state: () => store, stdout: process.stdout }).parseAsync(process.argv);
 */
export function buildStateProgram(deps: StateProgramDeps): Command {
  const { config, dynamo, stdout } = deps;
  const table = config.dynamodb.countersTable;
  const say = (line: string) => void stdout.write(`${line}\n`);
  const program = new Command()
    .name('npm run state --')
    .description("Inspect the processors' exactly-once state store and act on a state loss.")
    .exitOverride();

  program
    .command('status')
    .description("the state store's epoch against the epoch the counters table was written with")
    .option('--json', 'one JSON object instead of text')
    .action(async (options: { json?: boolean }) => {
      const current = await deps.state().epoch();
      const recorded = await readRecordedEpoch(dynamo, table);
      const verdict = stateVerdict(recorded, current);
      const store = config.processors.state.kind ?? '(none chosen)';
      if (options.json) {
        say(
          JSON.stringify({
            store,
            countersTable: table,
            storeEpoch: current,
            recordedEpoch: recorded ?? null,
            verdict,
          }),
        );
      } else {
        say(`state store:     ${store}`);
        say(`counters table:  ${table}`);
        say(`store epoch:     ${current}`);
        say(`recorded epoch:  ${recorded ?? '(none)'}`);
        say(`verdict:         ${VERDICT_TEXT[verdict]}`);
      }
      if (verdict === 'state-lost') program.error('state lost', { exitCode: 3, code: 'state.lost' });
    });

  program
    .command('accept-loss')
    .description("record the store's current epoch in the counters table, so the processors count again")
    .option('--yes', 'really do it (without it, only says what it would do)')
    .action(async (options: { yes?: boolean }) => {
      const current = await deps.state().epoch();
      const recorded = await readRecordedEpoch(dynamo, table);
      if (stateVerdict(recorded, current) === 'ok') {
        say(`nothing to accept: ${table} already records epoch ${current}`);
        return;
      }
      say(`${table} records epoch ${recorded ?? '(none)'}; the state store holds ${current}.`);
      say(
        'Accepting means: counting resumes with this state. Users and eventIds the lost state knew are unknown ' +
          'to it, so returning users of running experiments count as new units and producer retries inside the ' +
          'de-dup window count again. Repair the counts first (runbook), or accept that for these experiments.',
      );
      if (!options.yes) {
        say('Nothing changed. Run again with --yes to record the new epoch.');
        program.error('not confirmed', { exitCode: 2, code: 'state.unconfirmed' });
      }
      await recordEpoch(dynamo, table, current);
      say(`recorded epoch ${current} in ${table}: restart the processors (or let the next batch retry).`);
    });

  program
    .command('forget')
    .description(
      "drop one experiment's per-user state (its results must be final: later events would count users anew)",
    )
    .argument('<experimentId>')
    .option('--yes', 'really do it')
    .action(async (experimentId: string, options: { yes?: boolean }) => {
      if (!options.yes) {
        say(`would drop every user's state of experiment ${experimentId}. Run again with --yes.`);
        program.error('not confirmed', { exitCode: 2, code: 'state.unconfirmed' });
      }
      const users = await deps.state().forgetExperiment(experimentId);
      say(`dropped the state of ${users} users of experiment ${experimentId}`);
    });
  return program;
}
