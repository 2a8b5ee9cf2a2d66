/**
 * Runs a TypeScript service script as a child process (its own core and event loop),
 * waits for it to print `{"ready": "<url>"}` on stdout, and reads its peak memory from
 * /proc when it is stopped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

export interface ChildService {
  url: string;
  process: ChildProcess;
  /** Peak resident memory so far (VmHWM), in MiB; undefined when /proc is not available. */
  peakRssMiB(): number | undefined;
  stop(): Promise<void>;
}

function procStatusMiB(pid: number | undefined, field: 'VmHWM' | 'VmRSS'): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Peak resident set size of a process in MiB (VmHWM), from /proc/<pid>/status. */
export const peakRssOf = (pid: number | undefined): number | undefined => procStatusMiB(pid, 'VmHWM');

/** Current resident set size of a process in MiB (VmRSS). */
export const currentRssOf = (pid: number | undefined): number | undefined => procStatusMiB(pid, 'VmRSS');

/** Resident memory of a process split as the kernel counts it (MiB): anonymous (heaps, buffers) vs file-backed (code, memory maps). */
export interface RssSplitMiB {
  rss: number;
  anon: number;
  file: number;
  shmem: number;
}

/** RssAnon / RssFile / RssShmem of a process from /proc/<pid>/status; undefined without /proc. */
export function rssSplitOf(pid: number | undefined): RssSplitMiB | undefined {
  if (pid === undefined) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) / 1024;
    const split = { rss: field('VmRSS'), anon: field('RssAnon'), file: field('RssFile'), shmem: field('RssShmem') };
    return Number.isFinite(split.rss) ? split : undefined;
  } catch {
    return undefined;
  }
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ: 100 on Linux, whatever the kernel's HZ). */
const USER_HZ = 100;

/** CPU seconds (user + system) of a /proc `stat` file (a process's or one thread's). */
function cpuSecondsOfStat(stat: string): number {
  // Fields after the command name (which may hold spaces) start at field 3; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat; undefined without /proc. */
export function cpuSecondsOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    return cpuSecondsOfStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds (user + system) of a process's main thread, the JavaScript thread (its thread id is the pid),
 * from /proc/<pid>/task/<pid>/stat; undefined without /proc. The process's figure (`cpuSecondsOf`) less this one
 * is what its other threads took: V8's garbage-collector and compiler threads, LMDB's flush thread, libuv's pool.
 */
export function mainThreadCpuSecondsOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    return cpuSecondsOfStat(readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Starts `script` with tsx and waits for its ready line. `onMessage` receives every later
 * stdout line that is a JSON object (stats lines); other lines are ignored.
 */
export async function startChildService(
  script: string,
  args: string[],
  env: Record<string, string>,
  options: {
    timeoutMs?: number;
    onMessage?: (message: Record<string, unknown>) => void;
    /** Node flags for this child (e.g. `--max-old-space-size=256`), before the script. */
    execArgv?: readonly string[];
  } = {},
): Promise<ChildService> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  // BENCH_CPU_PROFILE_DIR=<dir>: every child writes a V8 CPU profile there when it exits (bench/README.md).
  const profileDir = process.env.BENCH_CPU_PROFILE_DIR;
  const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const child = spawn(process.execPath, [...profile, ...(options.execArgv ?? []), '--import', 'tsx', script, ...args], {
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${script} did not become ready within ${timeoutMs} ms`)),
      timeoutMs,
    );
    child.once('exit', (code) => reject(new Error(`${script} exited with code ${code} before it was ready`)));
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      if (!line.startsWith('{')) return;
      let message: Record<string, unknown>;
      try {
        message = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (typeof message.ready === 'string') {
        clearTimeout(timer);
        resolve(message.ready);
      } else {
        options.onMessage?.(message);
      }
    });
  });
  let peak: number | undefined;
  return {
    url,
    process: child,
    peakRssMiB: () => (peak = peakRssOf(child.pid) ?? peak),
    async stop() {
      peak = peakRssOf(child.pid) ?? peak;
      // A child that died by a signal has exitCode null but signalCode set; its 'exit' already fired.
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    },
  };
}
