/**
 * A command run in a process group of its own, so that stopping it stops everything it
 * started. `npm run mutate` runs Stryker this way: a Stryker run stopped with Ctrl-C or a
 * SIGTERM to the wrapper otherwise left its test workers running, and the kinesalite and dynalite
 * their set-up had started, keeping both cores busy (a CI run beside them timed out twice).
 *
 * @example
 *   const run = runInOwnGroup('npx', ['stryker', 'run']);
 *   process.once('SIGINT', () => run.stop('SIGINT'));
 *   const code = await run.exited;
 */
import { spawn } from 'node:child_process';

export interface GroupRun {
  /** The command's exit code (1 when it ended by a signal). */
  readonly exited: Promise<number>;
  /** Sends `signal` to the whole group, then SIGKILL to what is left after `graceMs`. */
  stop(signal?: NodeJS.Signals, graceMs?: number): void;
}

export function runInOwnGroup(command: string, args: readonly string[]): GroupRun {
  const child = spawn(command, args, { stdio: 'inherit', detached: true });
  const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
  const signalGroup = (signal: NodeJS.Signals): void => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // the group is gone already
    }
  };
  return {
    exited,
    stop(signal = 'SIGTERM', graceMs = 5000) {
      signalGroup(signal);
      // The leader may exit first while a member ignores the signal: the rest goes after the grace period.
      setTimeout(() => signalGroup('SIGKILL'), graceMs).unref();
    },
  };
}
