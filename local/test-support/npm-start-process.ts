/**
 * `npm start` as a test drives it: the real entry (`node --import tsx local/start.ts`)
 * spawned as the leader of its own process group, so a test can SIGKILL the whole group —
 * launcher, kinesalite, dynalite, PGlite, collector, processors, query API — the way a
 * crash, the OOM killer or `kill -9 -<pgid>` does. Linux only (reads /proc, runs `ss`).
 *
 * @example
 *   const run = await startNpmStart({ dataDir, env });
 *   await fetch(`${run.endpoints.collector}/api/v1/events`, …);
 *   await run.killGroup(); // SIGKILL to every process of the group, waits until all are gone
 */
import { execFile, spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { CONFIG_VARIABLES } from '../../common/config.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const OUTPUT_KEPT_CHARS = 30_000;
const runningGroups = new Set<number>();

// A test that throws or a worker that exits must not leave a pipeline running.
process.once('exit', () => {
  for (const pgid of runningGroups) killGroupNow(pgid);
});

/** What the banner of `npm start` says, once every service answers. */
export interface NpmStartEndpoints {
  collector: string;
  queryApi: string;
  processorsMetrics: string;
  kinesis: string;
  dynamodb: string;
}

export interface NpmStartOptions {
  /** Passed as `--data-dir`. */
  dataDir: string;
  /** The whole environment of the launcher (see {@link npmStartEnv}). */
  env: NodeJS.ProcessEnv;
  /** Extra arguments (`--fresh`, `--in-memory`). */
  args?: readonly string[];
  /** How long the banner may take. */
  readyTimeoutMs?: number;
}

/** One running `npm start`: the leader of process group `pid`. */
export interface NpmStartRun {
  readonly pid: number;
  readonly endpoints: NpmStartEndpoints;
  /** The last lines the launcher printed (its own and every service's, prefixed). */
  output(): string;
  /** SIGKILL to the whole group; resolves when no live process is left in it. */
  killGroup(): Promise<void>;
  /** Ctrl-C (SIGINT to the launcher); SIGKILL to the group if it is not gone in `timeoutMs`. Resolves to the exit code. */
  stop(timeoutMs?: number): Promise<number | null>;
}

/**
 * The environment `npm start` gets in a test: this process's environment without any
 * variable the pipeline reads (so vitest's or the machine's settings never leak in) and
 * without vitest's own markers, plus `overrides`.
 *
 * @example npmStartEnv({ INGEST_PORT: '18081', LOG_LEVEL: 'warn' })
 */
export function npmStartEnv(overrides: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  const pipelineVariables = new Set([...CONFIG_VARIABLES, 'PROCESSOR_STATE_STORE', 'PROCESSOR_STATE_DIR']);
  for (const name of Object.keys(env)) {
    if (pipelineVariables.has(name) || name.startsWith('VITEST') || name === 'NODE_ENV' || name === 'NODE_OPTIONS')
      delete env[name];
  }
  return { ...env, ...overrides };
}

function killGroupNow(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Live (not zombie) processes whose process group is `pgid`, from /proc. */
export async function liveGroupMembers(pgid: number): Promise<number[]> {
  const members: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = await readFile(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // pid (comm) state ppid pgrp …; comm may contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') members.push(Number(entry));
  }
  return members;
}

/**
 * Every TCP/UDP socket listening in process group `pgid`, as `address:port` (from `ss`).
 *
 * @example expect((await listeningAddresses(run.pid)).filter((a) => !a.startsWith('127.0.0.1:'))).toEqual([]);
 */
export async function listeningAddresses(pgid: number): Promise<string[]> {
  const members = new Set(await liveGroupMembers(pgid));
  const { stdout } = await promisify(execFile)('ss', ['-H', '-l', '-t', '-u', '-n', '-p']);
  const addresses: string[] = [];
  for (const line of stdout.split('\n')) {
    const pids = [...line.matchAll(/pid=(\d+)/g)].map((match) => Number(match[1]));
    if (!pids.some((pid) => members.has(pid))) continue;
    const local = line.trim().split(/\s+/)[4];
    if (local) addresses.push(local);
  }
  return addresses;
}

function bannerEndpoints(output: string): NpmStartEndpoints | undefined {
  if (!output.includes('The pipeline is running.')) return undefined;
  const url = (label: string): string => {
    const match = new RegExp(`^ {2}${label} +(http://\\S+)`, 'm').exec(output);
    if (!match?.[1]) throw new Error(`npm start banner has no ${label} URL:\n${output}`);
    return match[1];
  };
  return {
    collector: url('collector'),
    queryApi: url('query API'),
    processorsMetrics: url('processors'),
    kinesis: url('kinesis'),
    dynamodb: url('dynamodb'),
  };
}

const until = async (check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
};

/**
 * Starts `npm start` (`node --import tsx local/start.ts --data-dir …`) as its own
 * process group and resolves once its banner lists every endpoint. On a failed start the
 * group is killed and the error carries the output.
 *
 * @example const run = await startNpmStart({ dataDir: '/tmp/x', env: npmStartEnv({ LOG_LEVEL: 'warn' }) });
 */
export async function startNpmStart(options: NpmStartOptions): Promise<NpmStartRun> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'local/start.ts', '--data-dir', options.dataDir, ...(options.args ?? [])],
    { cwd: ROOT, env: options.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const pid = child.pid;
  if (pid === undefined) throw new Error('npm start did not spawn');
  runningGroups.add(pid);
  let output = '';
  const append = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-OUTPUT_KEPT_CHARS);
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      exitCode = code;
      resolve(code);
    }),
  );

  const groupGone = async (timeoutMs: number): Promise<void> => {
    await until(() => exitCode !== undefined, timeoutMs, `npm start (pid ${pid}) to exit`);
    await until(async () => (await liveGroupMembers(pid)).length === 0, timeoutMs, `process group ${pid} to be gone`);
    runningGroups.delete(pid);
  };
  const killGroup = async (): Promise<void> => {
    killGroupNow(pid);
    await groupGone(10_000);
  };

  let endpoints: NpmStartEndpoints | undefined;
  try {
    await until(
      () => {
        if (exitCode !== undefined) throw new Error(`npm start exited with code ${exitCode} before it was ready`);
        endpoints = bannerEndpoints(output);
        return endpoints !== undefined;
      },
      options.readyTimeoutMs ?? 60_000,
      'the npm start banner',
    );
  } catch (error) {
    await killGroup();
    throw new Error(`${(error as Error).message}\n--- npm start output ---\n${output}`, { cause: error });
  }
  return {
    pid,
    endpoints: endpoints as NpmStartEndpoints,
    output: () => output,
    killGroup,
    async stop(timeoutMs = 30_000) {
      child.kill('SIGINT');
      const timer = setTimeout(() => killGroupNow(pid), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      await killGroup(); // whatever outlived the launcher
      return code;
    },
  };
}
