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

/** Peak resident set size of a process in MiB, from /proc/<pid>/status. */
export function peakRssOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

export async function startChildService(
  script: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs = 30_000,
): Promise<ChildService> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
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
      if (!line.startsWith('{"ready"')) return;
      clearTimeout(timer);
      resolve((JSON.parse(line) as { ready: string }).ready);
    });
  });
  let peak: number | undefined;
  return {
    url,
    process: child,
    peakRssMiB: () => (peak = peakRssOf(child.pid) ?? peak),
    async stop() {
      peak = peakRssOf(child.pid) ?? peak;
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    },
  };
}
